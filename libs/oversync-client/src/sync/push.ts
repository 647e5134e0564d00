import { isPushConflictErrorBody, isSourceRecoveryReason, type SyncKey } from '@oversync/protocol';

import { isOversyncClientError } from '../errors/oversync-client.error.js';
import {
  ConflictPullRequiredError,
  ConflictRetryExhaustedError,
  PushConflictError,
  PushRejectedError,
} from '../errors/sync.errors.js';
import { type HttpStatusError } from '../errors/transport.errors.js';
import { resolvePushConflict } from './conflict-resolution.js';
import { isPullRequired, type PullRequired } from './deferred-merges.js';
import { releaseEmptySeed } from './empty-seed.js';
import { freezeOutbox, restoreOutboxToDirty } from './freeze.js';
import { fetchCommittedRows, uploadBundle, type CommittedBundleInfo } from './push-transfer.js';
import { keepSourceRebuild } from './rebuild.js';
import { committedOutboxRebuildOptions } from './rebuild-resume.js';
import { replayCommittedBundle } from './replay.js';
import { enterSourceRecovery, resetInitialization } from './source-recovery.js';
import { type SyncContext } from './sync-context.js';
import { type OutboxBundle, type OutboxRow } from './sync-state.store.js';

/** Outcome of `pushPending()`, with go-oversync's strings. */
export type PushOutcome = 'no_change' | 'committed' | 'skipped_paused';

const MAX_CONFLICT_RETRIES = 2;

/**
 * Answers that refuse a bundle for good while it is provably uncommitted, so its rows can go back
 * to the dirty set. A chunk is only uploaded after create answered `staging` in the same attempt
 * (a committed tuple answers `already_committed` there), so a chunk rejection means nothing of
 * the bundle is on the server, and re-sending the same rows can only fail the same way.
 *
 * A commit's `400 push_commit_invalid` is one too: a 400 commit rolled back, so nothing landed.
 * Our server answers it for rows the database refuses (a value the column's type cannot hold, NOT
 * NULL, CHECK, a host trigger's exception), naming the row; its other causes (staging arithmetic,
 * a bundle that captured nothing) recur on a re-upload of the same rows just as well.
 *
 * Deliberately not here: create's `push_session_invalid` (lease or counters: reconnecting fixes
 * it, not editing rows), 413 (smaller chunks fix it), retryable statuses, and any 5xx (a commit
 * may have landed).
 */
const ROW_REJECTIONS: ReadonlyMap<string, string> = new Map([
  ['push_chunk_invalid', '/chunks'],
  ['push_commit_invalid', '/commit'],
]);

/**
 * Pushes at most one bundle: freezes the dirty set (or resumes the existing outbox), uploads,
 * commits, fetches and verifies the committed rows and replays them locally. Every durable step is
 * persisted before the next network call, so a crash anywhere resumes under the same
 * `(source_id, source_bundle_id)`. Structured conflicts are resolved and retried at most twice.
 *
 * Preconditions (connected, no recovery, no rebuild gate) are checked by the caller.
 *
 * @throws ConflictPullRequiredError when a `keep_merged` row needs a parent only a pull can bring
 *   (`syncCycle` pulls instead, see {@link tryPushPending}).
 */
export async function pushPending(ctx: SyncContext): Promise<PushOutcome> {
  const step = await tryPushPending(ctx);
  if (isPullRequired(step)) throw new ConflictPullRequiredError(step.conflict, step.reference);
  return step;
}

/**
 * {@link pushPending}, but a conflict resolution that can only be written after a pull ends the
 * push with {@link PullRequired} (every intent dirty again, the outbox empty) instead of an error,
 * so that the caller can pull and push again.
 */
export async function tryPushPending(ctx: SyncContext): Promise<PushOutcome | PullRequired> {
  for (let retry = 0; ; retry++) {
    const bundle = freezeOutbox(ctx);
    await ctx.persist();
    if (!bundle) {
      await releaseEmptySeed(ctx);
      return settled(ctx, 'no_change');
    }
    try {
      await transfer(ctx, bundle);
      return settled(ctx, 'committed');
    } catch (error) {
      const conflict = structuredConflict(error);
      if (!conflict) return handleFailure(ctx, error);
      const pending = await resolvePushConflict(ctx, conflict.body, conflict.message);
      if (pending) return pending;
      if (ctx.store.dirtyCount() === 0 && ctx.store.outbox().state === 'none')
        return settled(ctx, 'no_change');
      if (retry >= MAX_CONFLICT_RETRIES)
        throw new ConflictRetryExhaustedError(MAX_CONFLICT_RETRIES, ctx.store.dirtyCount());
    }
  }
}

/** `outcome`; a merge kept for a pull is stale once nothing is pending any more. */
function settled(ctx: SyncContext, outcome: PushOutcome): PushOutcome {
  if (ctx.deferredMerges.size > 0 && ctx.store.dirtyCount() === 0 && ctx.store.outboxRowCount() === 0)
    ctx.deferredMerges.clear();
  return outcome;
}

/** Upload (unless already committed remotely), fetch + verify, replay. The whole chain is retried. */
async function transfer(ctx: SyncContext, frozen: OutboxBundle): Promise<void> {
  const { info, rows } = await ctx.transport.retry('push_pending', async () => {
    const bundle = ctx.store.outbox();
    let committed: CommittedBundleInfo;
    if (bundle.state === 'committed_remote') {
      committed = {
        bundleSeq: bundle.remoteBundleSeq,
        sourceId: bundle.sourceId,
        sourceBundleId: bundle.sourceBundleId,
        rowCount: bundle.rowCount,
        bundleHash: bundle.remoteBundleHash,
        alreadyCommitted: bundle.remoteAlreadyCommitted,
      };
    } else {
      committed = await uploadBundle(ctx, bundle.state === 'none' ? frozen : bundle);
      ctx.db.transaction(() => {
        ctx.store.setAttachment({ pendingInitializationId: '' });
        ctx.store.setOutbox({
          state: 'committed_remote',
          remoteBundleSeq: committed.bundleSeq,
          remoteBundleHash: committed.bundleHash,
          rowCount: committed.rowCount,
          initializationId: '',
          remoteAlreadyCommitted: committed.alreadyCommitted,
        });
      });
      await ctx.persist();
    }
    return { info: committed, rows: await fetchCommittedRows(ctx, committed) };
  });
  replayCommittedBundle(ctx, ctx.store.outbox(), info, rows);
  await ctx.persist();
}

function structuredConflict(error: unknown) {
  if (!isOversyncClientError(error, 'http_status')) return null;
  const body = (error as HttpStatusError).details.body;
  if (!isPushConflictErrorBody(body)) return null;
  return { body: body.conflict, message: body.message };
}

/** Maps a failed transfer to the durable state transition the protocol asks for. */
async function handleFailure(ctx: SyncContext, error: unknown): Promise<PushOutcome> {
  const http = isOversyncClientError(error, 'http_status') ? (error as HttpStatusError) : undefined;
  if (!http) throw error;
  const { error: code, serverMessage, status } = http.details;
  if (code === 'push_conflict') throw new PushConflictError(null, `${status} ${serverMessage}`, error);
  if (code === 'initialization_expired' || code === 'initialization_stale') {
    return resetInitialization(ctx, code, error);
  }
  const outbox = ctx.store.outbox();
  if (code === 'history_pruned' && outbox.state === 'committed_remote') {
    // The bundle is committed but its rows are no longer fetchable: the snapshot contains it.
    await keepSourceRebuild(ctx, committedOutboxRebuildOptions(ctx));
    return 'committed';
  }
  if (isRowRejection(http) && outbox.state === 'prepared') return releaseRejectedBundle(ctx, outbox, http);
  if (isSourceRecoveryReason(code) && outbox.state === 'prepared') {
    return enterSourceRecovery(ctx, code, serverMessage, error);
  }
  throw error;
}

function isRowRejection(http: HttpStatusError): boolean {
  const { status, error, method, path } = http.details;
  const route = ROW_REJECTIONS.get(error);
  return status === 400 && route !== undefined && method === 'POST' && path.endsWith(route);
}

/**
 * Moves the refused bundle back into the dirty set (the conflict path's merge: intents written
 * after the freeze win) and reports it. Keeping it frozen would wedge the client: every push would
 * re-send the bad row, pulls and detach would stay blocked, and deleting the row locally would
 * never reach the frozen copy. `next_source_bundle_id` has not moved, so the next freeze reuses
 * the same `source_bundle_id`, exactly as after a conflict.
 */
async function releaseRejectedBundle(
  ctx: SyncContext,
  outbox: OutboxBundle,
  http: HttpStatusError,
): Promise<never> {
  const { status, error: serverCode, serverMessage } = http.details;
  const named = rejectedRow(ctx, ctx.store.outboxRows(), serverMessage);
  ctx.db.transaction(() => restoreOutboxToDirty(ctx));
  await ctx.persist();
  throw new PushRejectedError(
    {
      status,
      serverCode,
      serverMessage,
      sourceBundleId: outbox.sourceBundleId,
      rowCount: outbox.rowCount,
      ...named,
    },
    http,
  );
}

/**
 * The outbox row a rejection message names. Messages carry no structured row, but servers name
 * the table as `schema.table` and usually quote the key; a row is named only when exactly one
 * matches, a table only when exactly one of the bundle's tables is mentioned.
 */
function rejectedRow(
  ctx: SyncContext,
  rows: readonly OutboxRow[],
  message: string,
): { table?: string; key?: SyncKey } {
  const text = message.toLowerCase();
  const mentionsTable = (table: string) => {
    const qualified = `${ctx.schema}.${table}`.toLowerCase();
    for (let at = text.indexOf(qualified); at >= 0; at = text.indexOf(qualified, at + 1)) {
      // `users` must not match inside `users_archive`.
      if (!/[a-z0-9_]/.test(text.charAt(at + qualified.length))) return true;
    }
    return false;
  };
  const mentionsKey = (key: SyncKey) =>
    Object.values(key).some((v) => v !== '' && (message.includes(`"${v}"`) || message.endsWith(` ${v}`)));
  const tables = [...new Set(rows.map((r) => r.table))].filter(mentionsTable);
  const matches = rows.filter((r) => tables.includes(r.table) && mentionsKey(r.wireKey));
  if (matches.length === 1) return { table: matches[0].table, key: matches[0].wireKey };
  return tables.length === 1 ? { table: tables[0] } : {};
}
