import { PendingPushReplayError } from '../errors/sync.errors.js';
import { requireNoLocalIntent } from './preconditions.js';
import { keepSourceRebuild, type KeepSourceRebuildOptions, type RestoreInfo } from './rebuild.js';
import { type SyncContext } from './sync-context.js';

/**
 * The keep-source rebuild that finishes a committed bundle whose replay was pruned
 * (`history_pruned` while the outbox is `committed_remote`): the source bundle floor moves past
 * the bundle, and its keys' later edits are rebased onto its bundle seq (the keys it deleted on top
 * of its tombstones). Everything is derived from the durable outbox, so an interrupted rebuild is
 * resumed with exactly the same options (the outbox is only cleared by the snapshot apply).
 */
export function committedOutboxRebuildOptions(ctx: SyncContext): KeepSourceRebuildOptions {
  const outbox = ctx.store.outbox();
  const rows = ctx.store.outboxRows();
  const id = (r: { table: string; keyJson: string }) => `${r.table}\u0000${r.keyJson}`;
  return {
    sourceBundleFloor: outbox.sourceBundleId + 1,
    prunedBundle: {
      bundleSeq: outbox.remoteBundleSeq,
      keys: new Set(rows.map(id)),
      deletedKeys: new Set(rows.filter((r) => r.op === 'DELETE').map(id)),
    },
  };
}

/**
 * True when a keep-source rebuild was cut short (`rebuild_required` set outside source recovery)
 * and can be resumed: push, pull and sync refuse behind that gate, so only a rebuild moves on.
 */
export function hasInterruptedRebuild(ctx: SyncContext): boolean {
  return ctx.store.operation().kind === 'none' && ctx.store.attachment().rebuildRequired;
}

/**
 * Runs the keep-source rebuild `rebuild()` asks for. After an interrupted one (see
 * {@link hasInterruptedRebuild}) it resumes it: dirty rows are allowed (the rebuild keeps them,
 * and the gate keeps them from being pushed first), and a `committed_remote` outbox resumes the
 * pruned-replay rebuild with its options. Otherwise go-oversync's preconditions hold: no dirty
 * rows and no outbox.
 *
 * @throws DirtyStateRejectedError, PendingPushReplayError when a fresh rebuild meets local intent.
 */
export function keepSourceRebuildOrResume(ctx: SyncContext): Promise<RestoreInfo> {
  if (!hasInterruptedRebuild(ctx)) {
    requireNoLocalIntent(ctx);
    return keepSourceRebuild(ctx);
  }
  const outbox = ctx.store.outbox();
  if (outbox.state === 'committed_remote') return keepSourceRebuild(ctx, committedOutboxRebuildOptions(ctx));
  // A prepared outbox never meets this gate (no rebuild starts with one, and the gate stops
  // freezes); a snapshot apply would drop it, so refuse rather than lose it.
  if (outbox.state === 'prepared')
    return Promise.reject(new PendingPushReplayError(ctx.store.outboxRowCount()));
  return keepSourceRebuild(ctx);
}
