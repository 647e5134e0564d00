import { canonicalJson, type PushConflict } from '@oversync/protocol';

import { InvalidConflictResolutionError, PushConflictError } from '../errors/sync.errors.js';
import { isOversyncClientError } from '../errors/oversync-client.error.js';
import { type TableSpec } from '../schema/table-spec.js';
import { type ConflictResolution, type SyncConflict } from './conflict.types.js';
import { type PullRequired } from './deferred-merges.js';
import { upsertWireIfParentsExist } from './foreign-keys.js';
import { restoreOutboxToDirty } from './freeze.js';
import { authoritativeApply, deleteLocal, keyTextOf, livePayload, upsertLocal } from './local-rows.js';
import { parseObject, wirePayloadToSql } from './row-codec.js';
import { type SyncContext } from './sync-context.js';
import { type OutboxRow } from './sync-state.store.js';

type ServerState = 'live' | 'tombstone' | 'missing';

function invalidReason(
  table: TableSpec,
  row: OutboxRow,
  state: ServerState,
  resolution: ConflictResolution | null | undefined,
): string | null {
  if (!resolution || typeof resolution !== 'object') return 'the resolver returned no resolution';
  const action = (resolution as { action?: unknown }).action;
  if (action === 'accept_server') return null;
  if (action !== 'keep_local' && action !== 'keep_merged') return `unknown action ${String(action)}`;
  // keep_local and keep_merged of an UPDATE against a tombstone re-create the row: it is pushed as
  // an INSERT based on the tombstone's version, which the server accepts (go-oversync rejects
  // these resolutions, which wedges `clientWins` against a peer's delete for good).
  if (row.op === 'UPDATE' && state === 'missing')
    return 'cannot keep a local UPDATE: the server row is missing';
  if (action === 'keep_local') return null;
  if (row.op === 'DELETE') return 'keep_merged cannot resolve a DELETE';
  const merged = (resolution as { row?: unknown }).row;
  if (typeof merged !== 'object' || merged === null || Array.isArray(merged))
    return 'keep_merged needs a row object';
  // The merged row must stay the conflicting row: under another key it would be written locally
  // in apply mode (never captured, never pushed) while the old key is pushed again.
  const keyName = table.keyColumn.wireName;
  const wanted = row.wireKey[keyName];
  for (const [name, value] of Object.entries(merged)) {
    if (name.toLowerCase() === keyName && value !== wanted)
      return `keep_merged must keep the key ${keyName} = ${JSON.stringify(wanted)}, got ${JSON.stringify(value)}`;
  }
  try {
    wirePayloadToSql(table, resolution.action === 'keep_merged' ? resolution.row : {});
  } catch (error) {
    return isOversyncClientError(error) ? error.message : String(error);
  }
  return null;
}

/** Thrown inside the resolution's transaction to undo it: a merged row's parent is not local. */
class MergedParentMissing extends Error {
  constructor(readonly reference: string) {
    super(`missing parent: ${reference}`);
  }
}

/**
 * Resolves one structured push conflict with the configured resolver and applies the plan in one
 * transaction; every other outbox row goes back to the dirty set, and the outbox is cleared so the
 * next freeze re-sends everything under the same `source_bundle_id`.
 *
 * A local intent written after the freeze for the conflicting key always survives: the local row
 * is restored to it afterwards (rebased onto the server version only for `keep_local`).
 *
 * @returns `null` once applied, or {@link PullRequired} when a `keep_merged` row references a
 *   parent this device has not pulled yet (nothing applied, every intent back in the dirty set,
 *   the resolution kept for the push after the pull).
 * @throws PushConflictError when the conflict names no outbox row (the outbox stays).
 * @throws InvalidConflictResolutionError for an invalid resolution (all intents restored to dirty).
 */
export async function resolvePushConflict(
  ctx: SyncContext,
  conflict: PushConflict,
  message: string,
): Promise<PullRequired | null> {
  const outbox = ctx.store.outboxRows();
  const row = outbox.find(
    (r) => r.table === conflict.table && canonicalJson(r.wireKey) === canonicalJson(conflict.key),
  );
  if (!row || !ctx.tables.has(row.table)) throw new PushConflictError(conflict, message);
  const table = ctx.tables.get(row.table);
  const state: ServerState = conflict.server_row
    ? 'live'
    : conflict.server_row_deleted
      ? 'tombstone'
      : 'missing';
  const input: SyncConflict = {
    schema: conflict.schema,
    table: conflict.table,
    key: conflict.key,
    op: row.op,
    baseRowVersion: conflict.base_row_version,
    serverRowVersion: conflict.server_row_version,
    serverRowDeleted: conflict.server_row_deleted,
    serverRow: conflict.server_row ?? null,
    localRow: row.wirePayload,
    serverConflict: conflict,
  };
  const resolution = ctx.deferredMerges.take(row, conflict) ?? (await ctx.resolver(input));
  const reason = invalidReason(table, row, state, resolution);
  if (reason !== null) return refuse(ctx, conflict, resolution, reason);
  try {
    authoritativeApply(ctx, () =>
      applyPlan(ctx, table, row, state, conflict.server_row_version, conflict, resolution),
    );
  } catch (error) {
    if (!(error instanceof MergedParentMissing)) throw error;
    // The checkpoint has reached the server row's version, so a pull cannot bring the parent: it
    // was never there (or the app deleted it locally, a pending change).
    if (ctx.store.attachment().lastBundleSeqSeen >= conflict.server_row_version) {
      const version = conflict.server_row_version;
      return refuse(
        ctx,
        conflict,
        resolution,
        `the merged row references ${error.reference}, which does not exist locally although this device has pulled up to the server row's version ${version}`,
      );
    }
    ctx.db.transaction(() => restoreOutboxToDirty(ctx));
    ctx.deferredMerges.keep(row, conflict, resolution);
    await ctx.persist();
    return { kind: 'pull_required', conflict, reference: error.reference };
  }
  await ctx.persist();
  return null;
}

/** Restores every intent to the dirty set and throws {@link InvalidConflictResolutionError}. */
async function refuse(
  ctx: SyncContext,
  conflict: PushConflict,
  resolution: ConflictResolution | null | undefined,
  reason: string,
): Promise<never> {
  ctx.db.transaction(() => restoreOutboxToDirty(ctx));
  await ctx.persist();
  throw new InvalidConflictResolutionError(
    conflict,
    String((resolution as { action?: unknown } | null | undefined)?.action),
    reason,
  );
}

function applyPlan(
  ctx: SyncContext,
  table: TableSpec,
  row: OutboxRow,
  state: ServerState,
  version: number,
  conflict: PushConflict,
  resolution: ConflictResolution,
): void {
  const keyText = keyTextOf(table, row.keyJson);
  const postFreeze = ctx.store.dirty(table.name, row.keyJson);
  const setState = () => {
    if (state === 'missing') ctx.store.deleteRowState(table.name, keyText);
    else ctx.store.setRowState(table.name, keyText, version, state === 'tombstone');
  };
  const requeueLive = () => {
    const live = livePayload(ctx, table, keyText);
    if (live === null) ctx.store.putDirty(table.name, row.keyJson, 'DELETE', version, null);
    else ctx.store.putDirty(table.name, row.keyJson, state === 'live' ? 'UPDATE' : 'INSERT', version, live);
  };
  ctx.store.deleteDirty(table.name, row.keyJson);
  if (resolution.action === 'accept_server') {
    if (state !== 'live') {
      deleteLocal(ctx, table, keyText);
      setState();
    } else if (upsertWireIfParentsExist(ctx, table, conflict.server_row ?? {}, keyText) === null) {
      setState();
    }
    // Otherwise the server row references a parent this device has not pulled yet (written after
    // our base), and writing it would fail the whole resolution at COMMIT, again on every push.
    // The local intent is dropped without a write and the row version is left as it was: the
    // server row's version is above it, so the next pull delivers the parent and the row
    // together. (If a pull already advanced the version while the intent was pending, the parent
    // is missing only because a local delete of it is pending; pushing that delete brings the
    // server's answer for this row back through the replay.)
  } else if (row.op === 'DELETE') {
    deleteLocal(ctx, table, keyText);
    setState();
    if (state === 'live') ctx.store.putDirty(table.name, row.keyJson, 'DELETE', version, null);
  } else {
    if (resolution.action === 'keep_merged') {
      // A merged row built from the server row may reference a parent written after our base
      // (another writer moved the row to it). Writing it would fail the whole resolution at
      // COMMIT on every push; undo the resolution instead and let the caller pull first.
      const missing = upsertWireIfParentsExist(ctx, table, resolution.row, keyText);
      if (missing !== null) throw new MergedParentMissing(missing);
    } else if (row.localPayload) upsertLocal(ctx, table, row.localPayload);
    setState();
    requeueLive();
  }
  restoreOutboxToDirty(ctx, row);
  if (postFreeze) {
    if (postFreeze.payload === null) deleteLocal(ctx, table, keyText);
    else upsertLocal(ctx, table, parseObject(postFreeze.payload));
    const base = resolution.action === 'keep_local' ? version : postFreeze.baseRowVersion;
    ctx.store.putDirty(table.name, row.keyJson, postFreeze.op, base, postFreeze.payload);
  }
}
