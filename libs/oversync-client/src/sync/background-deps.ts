import { fetchCapabilities } from './attach.js';
import { type BackgroundSyncDeps } from './background-sync.js';
import { isConnected } from './preconditions.js';
import { withSignal, type SyncContext } from './sync-context.js';

/**
 * Wires the background loops to a client: `sync` goes through the client's locked sync entry
 * point, with every request aborted by the loop's signal (so `stop()` never waits on the network);
 * watch uses cached capabilities and reads the checkpoint and source id at each connect,
 * so the stream follows source rotation.
 */
export function backgroundDeps(
  ctx: SyncContext,
  sync: (signal: AbortSignal) => Promise<unknown>,
  onError: (error: unknown) => void,
): BackgroundSyncDeps {
  return {
    sync,
    isConnected: () => isConnected(ctx),
    // The seed lease keeps the scope INITIALIZING until its bundle commits: nothing to watch yet.
    canWatch: () => isConnected(ctx) && !ctx.store.attachment().pendingInitializationId,
    watchSupported: async (signal) => {
      const caps =
        ctx.session.capabilities ?? (await fetchCapabilities(withSignal(ctx, signal), 'watch_capabilities'));
      return caps.features.bundle_change_watch === true;
    },
    openWatch: (signal) =>
      ctx.transport.send('GET', '/sync/watch', {
        query: { after_bundle_seq: ctx.store.attachment().lastBundleSeqSeen },
        signal,
        accept: 'text/event-stream',
      }),
    lastBundleSeqSeen: () => ctx.store.attachment().lastBundleSeqSeen,
    onError,
  };
}
