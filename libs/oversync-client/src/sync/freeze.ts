import { type RowOp } from '@oversync/protocol';

import { localKeyToWireKey, localPayloadToWire, parseObject } from './row-codec.js';
import { keyTextOf } from './local-rows.js';
import { type SyncContext } from './sync-context.js';
import { type OutboxBundle, type OutboxRow } from './sync-state.store.js';

interface DirtyJoin extends Record<string, string | number | null> {
  table_name: string;
  key_json: string;
  base_row_version: number;
  payload: string | null;
  dirty_ordinal: number;
  rs_version: number | null;
  rs_deleted: number | null;
}

/**
 * Freezes the dirty set into the durable outbox in one transaction and returns the bundle to
 * push, or `null` when there is nothing to send. An existing outbox (`prepared` or
 * `committed_remote`) is returned unchanged: at most one bundle is ever in flight.
 *
 * No-op deletes (never synced, or already a tombstone) are dropped; the op is recomputed from the
 * payload and `_sync_row_state`; rows are ordered upserts parents-first, then deletes
 * children-first, ties by dirty ordinal.
 */
export function freezeOutbox(ctx: SyncContext): OutboxBundle | null {
  return ctx.db.transaction(() => {
    const existing = ctx.store.outbox();
    if (existing.state !== 'none') return existing;
    const dirty = ctx.db.all<DirtyJoin>(
      'SELECT d.table_name, d.key_json, d.base_row_version, d.payload, d.dirty_ordinal, rs.row_version AS rs_version, rs.deleted AS rs_deleted ' +
        'FROM _sync_dirty_rows d LEFT JOIN _sync_row_state rs ON rs.table_name = d.table_name AND rs.key_json = d.key_json ' +
        'WHERE d.schema_name = ?',
      [ctx.schema],
    );
    const live = (d: DirtyJoin) => d.rs_version !== null && d.rs_deleted === 0;
    const toSend = dirty.filter((d) => d.payload !== null || live(d));
    ctx.db.run('DELETE FROM _sync_dirty_rows WHERE schema_name = ?', [ctx.schema]);
    if (toSend.length === 0) return null;
    const order = (d: DirtyJoin) => ctx.tables.order(d.table_name);
    toSend.sort((a, b) => {
      const aDel = a.payload === null ? 1 : 0;
      const bDel = b.payload === null ? 1 : 0;
      if (aDel !== bDel) return aDel - bDel;
      const byTable = aDel ? order(b) - order(a) : order(a) - order(b);
      return byTable !== 0 ? byTable : a.dirty_ordinal - b.dirty_ordinal;
    });
    const sourceId = ctx.session.sourceId;
    const sourceBundleId = ctx.store.nextSourceBundleId(sourceId);
    toSend.forEach((d, rowOrdinal) => {
      const table = ctx.tables.get(d.table_name);
      const op: RowOp = d.payload === null ? 'DELETE' : live(d) ? 'UPDATE' : 'INSERT';
      const localPayload = d.payload === null ? null : parseObject(d.payload);
      const row: OutboxRow = {
        rowOrdinal,
        table: table.name,
        keyJson: d.key_json,
        wireKey: localKeyToWireKey(table, keyTextOf(table, d.key_json)),
        op,
        baseRowVersion: Number(d.base_row_version),
        localPayload,
        wirePayload: localPayload === null ? null : localPayloadToWire(table, localPayload),
      };
      ctx.store.insertOutboxRow(sourceBundleId, row);
    });
    const bundle: OutboxBundle = {
      state: 'prepared',
      sourceId,
      sourceBundleId,
      rowCount: toSend.length,
      initializationId: ctx.store.attachment().pendingInitializationId,
      remoteBundleHash: '',
      remoteBundleSeq: 0,
    };
    ctx.store.setOutbox(bundle);
    return bundle;
  });
}

/**
 * Moves every outbox row back into the dirty set (original op, base and local payload) and clears
 * the outbox. A key that already has a newer dirty intent keeps it.
 */
export function restoreOutboxToDirty(ctx: SyncContext, except?: OutboxRow): void {
  for (const row of ctx.store.outboxRows()) {
    if (except && row.rowOrdinal === except.rowOrdinal) continue;
    ctx.store.putDirtyIfAbsent(
      row.table,
      row.keyJson,
      row.op,
      row.baseRowVersion,
      row.localPayload === null ? null : JSON.stringify(row.localPayload),
    );
  }
  ctx.store.clearOutbox();
}
