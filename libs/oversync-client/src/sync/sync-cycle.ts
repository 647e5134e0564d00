import { ConflictPullRequiredError, ConflictRetryExhaustedError } from '../errors/sync.errors.js';
import { isPullRequired } from './deferred-merges.js';
import { requireNoLocalIntent, requireNoRecovery } from './preconditions.js';
import { pullToStable, type RemoteOutcome, type RemoteSyncReport } from './pull.js';
import { pushPending, tryPushPending, type PushOutcome } from './push.js';
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

/** Push rounds per sync: the first, then while edits made during a push remain. */
const MAX_PUSH_ROUNDS = 3;
/**
 * Pulls a sync may run before pushing again, for conflict resolutions that need a parent the
 * device has not pulled yet. One suffices unless the server keeps moving the row meanwhile.
 */
const MAX_CONFLICT_PULLS = 2;

/**
 * Push (repeated while edits made during the push remain, at most 3 rounds) then pull. When a
 * conflict resolution needs rows only a pull can bring (a `keep_merged` row whose parent is not
 * local yet), or conflicts persist after the automatic retries, the sync pulls first and pushes
 * again (at most twice in all). Paused directions report `skipped_paused`. Preconditions are
 * checked by the caller.
 *
 * @throws ConflictPullRequiredError when such a resolution still waits after those pulls, or
 *   downloads are paused (every change is pending, nothing is frozen).
 * @throws ConflictRetryExhaustedError when conflicts persist after those pulls too.
 */
export async function syncCycle(ctx: SyncContext): Promise<SyncCycleReport> {
  let pushOutcome: PushOutcome = 'skipped_paused';
  let early: RemoteSyncReport | undefined;
  if (!ctx.session.uploadsPaused) {
    pushOutcome = 'no_change';
    let pulls = 0;
    for (let round = 0; round < MAX_PUSH_ROUNDS;) {
      let step: Awaited<ReturnType<typeof tryPushPending>>;
      try {
        step = await tryPushPending(ctx);
      } catch (error) {
        if (!(error instanceof ConflictRetryExhaustedError) || ctx.session.downloadsPaused) throw error;
        if (pulls >= MAX_CONFLICT_PULLS) throw error;
        // A conflict that comes back after every resolution means this device's view is stale:
        // a `keep_local` child under a parent another device deleted conflicts on every push until
        // the pull brings the deletion (the local cascade then drops the child). Every intent is
        // dirty again, so the pull may run; then push again.
        pulls += 1;
        early = strongerReport(early, await pullUnlessPaused(ctx, true));
        continue;
      }
      if (isPullRequired(step)) {
        if (ctx.session.downloadsPaused || pulls >= MAX_CONFLICT_PULLS)
          throw new ConflictPullRequiredError(step.conflict, step.reference);
        // Every intent is dirty again and the outbox empty, so the pull may run; it leaves the
        // conflicting key as it is and only advances its row version, so the next push meets the
        // same conflict and applies the kept resolution (see DeferredMerges).
        pulls += 1;
        early = strongerReport(early, await pullUnlessPaused(ctx, true));
        continue;
      }
      round += 1;
      if (step === 'committed') pushOutcome = 'committed';
      if (!hasLocalIntent(ctx)) break;
    }
  }
  // Rows written while this sync was pushing may remain dirty; the pull keeps their local values
  // and intents (see applyBundle), so only a frozen outbox would block it.
  const remote = strongerReport(early, await pullUnlessPaused(ctx, true));
  return { pushOutcome, remoteOutcome: remote.outcome, ...(remote.restore && { restore: remote.restore }) };
}

const OUTCOME_RANK: Readonly<Record<RemoteOutcome, number>> = {
  skipped_paused: 0,
  already_at_target: 1,
  applied_incremental: 2,
  applied_snapshot: 3,
};

/** One report for two pulls of a sync: the larger outcome, and a snapshot's restore info. */
function strongerReport(first: RemoteSyncReport | undefined, last: RemoteSyncReport): RemoteSyncReport {
  if (!first) return last;
  const outcome = OUTCOME_RANK[first.outcome] > OUTCOME_RANK[last.outcome] ? first.outcome : last.outcome;
  const restore = last.restore ?? first.restore;
  return { outcome, ...(restore && { restore }) };
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
