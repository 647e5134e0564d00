import { requireNoLocalIntent, requireNoRecovery } from './preconditions.js';
import { pullToStable, type RemoteOutcome, type RemoteSyncReport } from './pull.js';
import { pushPending, type PushOutcome } from './push.js';
import { type RestoreInfo } from './rebuild.js';
import { hasInterruptedRebuild, keepSourceRebuildOrResume } from './rebuild-resume.js';
import { type SyncContext } from './sync-context.js';

/** What one {@link syncCycle} did. */
export interface SyncCycleReport {
  pushOutcome: PushOutcome;
  remoteOutcome: RemoteOutcome;
  restore?: RestoreInfo;
}

/** `pushPending`, or `skipped_paused` while uploads are paused. */
export function pushUnlessPaused(ctx: SyncContext): Promise<PushOutcome> {
  return ctx.session.uploadsPaused ? Promise.resolve('skipped_paused') : pushPending(ctx);
}

/**
 * `pullToStable`, or `skipped_paused` while downloads are paused. Refuses while local intents
 * exist (dirty rows only with `allowDirty`, see {@link syncCycle}).
 */
export async function pullUnlessPaused(ctx: SyncContext, allowDirty = false): Promise<RemoteSyncReport> {
  if (ctx.session.downloadsPaused) return { outcome: 'skipped_paused' };
  requireNoLocalIntent(ctx, allowDirty);
  return pullToStable(ctx);
}

/**
 * Push (repeated while edits made during the push remain, at most 3 rounds) then pull. Paused
 * directions report `skipped_paused`. Preconditions are checked by the caller.
 */
export async function syncCycle(ctx: SyncContext): Promise<SyncCycleReport> {
  let pushOutcome: PushOutcome = 'skipped_paused';
  if (!ctx.session.uploadsPaused) {
    pushOutcome = await pushPending(ctx);
    for (let round = 1; round < 3 && hasLocalIntent(ctx); round++) {
      if ((await pushPending(ctx)) === 'committed') pushOutcome = 'committed';
    }
  }
  // Rows written while this sync was pushing may remain dirty; the pull keeps their local values
  // and intents (see applyBundle), so only a frozen outbox would block it.
  const remote = await pullUnlessPaused(ctx, true);
  return { pushOutcome, remoteOutcome: remote.outcome, ...(remote.restore && { restore: remote.restore }) };
}

/**
 * The background loop's sync: first resumes a keep-source rebuild that was cut short (a lost
 * connection, or `stop()` during the automatic rebuild after `history_pruned`), since behind its
 * `rebuild_required` gate nothing else can make progress and no one may be there to call
 * `rebuild()`; then the durable gates and {@link syncCycle}. `ctx` must be connected.
 */
export async function backgroundSyncCycle(ctx: SyncContext): Promise<SyncCycleReport> {
  let restore: RestoreInfo | undefined;
  if (!ctx.session.downloadsPaused && hasInterruptedRebuild(ctx))
    restore = await keepSourceRebuildOrResume(ctx);
  requireNoRecovery(ctx);
  const report = await syncCycle(ctx);
  return restore && !report.restore ? { ...report, restore } : report;
}

function hasLocalIntent(ctx: SyncContext): boolean {
  return ctx.store.dirtyCount() > 0 || ctx.store.outboxRowCount() > 0;
}
