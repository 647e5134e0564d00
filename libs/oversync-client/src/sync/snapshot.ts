import { AttachRequiredError } from '../errors/lifecycle.errors.js';
import { InvalidRowError } from '../errors/sync.errors.js';
import { deleteOrphanedRows } from './foreign-keys.js';
import { restoreOutboxToDirty } from './freeze.js';
import { authoritativeApply, deleteLocal, keyTextOf, livePayload, upsertLocal } from './local-rows.js';
import { parseObject } from './row-codec.js';
import { type SnapshotDownload } from './snapshot-download.js';
import { writeSnapshotRows } from './snapshot-rows.js';
import { type SyncContext } from './sync-context.js';

export { downloadSnapshot, type SnapshotDownload } from './snapshot-download.js';

/**
 * A committed push whose replay was pruned (its committed rows can no longer be fetched): the
 * snapshot contains it, and the keys it wrote take the place of the replay's rebase.
 */
export interface PrunedBundle {
  /** The bundle seq it committed at: the version of every row it wrote. */
  bundleSeq: number;
  /** Keys (`table\0key_json`) it wrote. */
  keys: ReadonlySet<string>;
  /** Keys among `keys` it deleted. */
  deletedKeys: ReadonlySet<string>;
}

/** How {@link applySnapshot} treats local state. */
export interface SnapshotApplyOptions {
  /** Fail with `AttachRequiredError` unless the binding is attached (explicit rebuilds). */
  requireAttached: boolean;
  /** Keep dirty intents and write them back over the snapshot (false only for remote replace). */
  keepDirty: boolean;
  /** Keep the frozen outbox and write its rows back over the snapshot (rotated rebuild). */
  keepOutbox: boolean;
  /**
   * The pruned push this rebuild finishes: dirty intents of its keys (written after its freeze)
   * are rebased onto its bundle seq, exactly as its replay would have done.
   */
  prunedBundle?: PrunedBundle;
  /** Raise `next_source_bundle_id` of the current source to at least this value. */
  sourceBundleFloor?: number;
  /** Extra durable changes in the same transaction (binding, source rotation). */
  finalize?: () => void;
}

/**
 * Replaces all local synced data with the snapshot in one transaction (foreign keys deferred):
 * row state is cleared and rewritten from the snapshot, managed rows are brought to the snapshot in
 * place (see {@link writeSnapshotRows}: app rows that reference unchanged keys survive), then
 * pending local intents (outbox and/or dirty rows, as asked) are written back on top so no pending
 * edit is lost. Sets the checkpoint to the snapshot's bundle seq and clears `rebuild_required`.
 */
export function applySnapshot(
  ctx: SyncContext,
  download: SnapshotDownload,
  options: SnapshotApplyOptions,
): void {
  authoritativeApply(ctx, () => {
    if (options.requireAttached && ctx.store.attachment().bindingState !== 'attached') {
      throw new AttachRequiredError('rebuild');
    }
    const dirty = options.keepDirty ? ctx.store.dirtyRows() : [];
    const outbox = options.keepOutbox ? ctx.store.outboxRows() : [];
    ctx.db.run('DELETE FROM _sync_row_state');
    ctx.db.run('DELETE FROM _sync_dirty_rows');
    if (!options.keepOutbox) ctx.store.clearOutbox();
    // Rows written back below are not deleted first, so their app-local children survive too.
    writeSnapshotRows(ctx, download.batches, [...outbox, ...dirty]);
    if (download.rowCount !== download.session.row_count) {
      throw new InvalidRowError(
        'snapshot',
        `staged ${download.rowCount} rows, expected ${download.session.row_count}`,
      );
    }
    const writeBack = (tableName: string, keyJson: string, payload: string | null) => {
      const table = ctx.tables.get(tableName);
      if (payload === null) deleteLocal(ctx, table, keyTextOf(table, keyJson));
      else upsertLocal(ctx, table, parseObject(payload));
    };
    for (const row of outbox) {
      writeBack(row.table, row.keyJson, row.localPayload === null ? null : JSON.stringify(row.localPayload));
    }
    for (const d of dirty) {
      writeBack(d.table, d.keyJson, d.payload);
      const id = `${d.table}\u0000${d.keyJson}`;
      const keyText = keyTextOf(ctx.tables.get(d.table), d.keyJson);
      let state = ctx.store.rowState(d.table, keyText);
      const pruned = options.prunedBundle?.keys.has(id) ? options.prunedBundle : undefined;
      if (!state && pruned?.deletedKeys.has(id)) {
        // Our own pushed DELETE left a tombstone at the committed bundle's seq (a later server
        // write would have put the key in the snapshot). Based on 0, a row re-created meanwhile
        // would conflict with that tombstone, and `serverWins` would delete it again.
        ctx.store.setRowState(d.table, keyText, pruned.bundleSeq, true);
        state = { rowVersion: pruned.bundleSeq, deleted: true };
      }
      // The edit was made on top of our committed bundle, so that is its base, not the snapshot's
      // version: a peer's later write to the key must still conflict, not be overwritten unseen.
      const base = pruned ? pruned.bundleSeq : d.baseRowVersion;
      const op = d.payload === null ? 'DELETE' : state && !state.deleted ? 'UPDATE' : 'INSERT';
      ctx.store.putDirty(d.table, d.keyJson, op, base, d.payload);
    }
    // Intents whose parent the snapshot no longer has are removed (their dirty upserts become
    // deletes at the end of the apply). A frozen upsert removed that way must not be pushed, and
    // the outbox cannot change in place: it goes back to the dirty set, where the same retirement
    // applies, and the next push freezes it again (rotated rebuilds only, never sent yet).
    if (deleteOrphanedRows(ctx, [...outbox, ...dirty]) > 0 && outbox.some((row) => isGone(ctx, row)))
      restoreOutboxToDirty(ctx);
    ctx.store.setAttachment({
      lastBundleSeqSeen: download.session.snapshot_bundle_seq,
      rebuildRequired: false,
    });
    if (options.sourceBundleFloor !== undefined) {
      ctx.store.raiseNextSourceBundleId(ctx.session.sourceId, options.sourceBundleFloor);
    }
    options.finalize?.();
  });
}

/** True when a frozen upsert's row no longer exists locally. */
function isGone(ctx: SyncContext, row: { table: string; keyJson: string; localPayload: unknown }): boolean {
  if (row.localPayload === null) return false;
  const table = ctx.tables.get(row.table);
  return livePayload(ctx, table, keyTextOf(table, row.keyJson)) === null;
}
