import { fetchCapabilities } from './attach.js';
import { type BackgroundSyncDeps } from './background-sync.js';
import { isConnected } from './preconditions.js';
import { type SyncContext } from './sync-context.js';

/**
 * Wires the background loops to a client: `sync` goes through the client's public (locked) entry
 * point; watch uses cached capabilities and reads the checkpoint and source id at each connect,
 * so the stream follows source rotation.
 */
export function backgroundDeps(
  ctx: SyncContext,
  sync: () => Promise<unknown>,
  onError: (error: unknown) => void,
): BackgroundSyncDeps {
  return {
    sync,
    isConnected: () => isConnected(ctx),
    watchSupported: async () => {
      const caps = ctx.session.capabilities ?? (await fetchCapabilities(ctx, 'watch_capabilities'));
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
