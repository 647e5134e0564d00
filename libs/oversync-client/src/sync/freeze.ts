import { type JsonObject, type JsonValue, type RowOp, type SyncKey } from '@oversync/protocol';

import { InvalidRowError } from '../errors/sync.errors.js';
import { keyTextOfKeyJsonSql } from '../schema/row-sql.js';
import { withCurrentColumns } from './local-rows.js';
import { keyTextOf, localKeyToWireKey, localPayloadToWire, parseObject } from './row-codec.js';
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
  sendable: number;
}

/** Dirty rows (`d`) of one schema with their row state (`rs`, NULLs when the key has none). */
const DIRTY_WITH_ROW_STATE =
  'FROM _sync_dirty_rows d LEFT JOIN _sync_row_state rs ' +
  `ON rs.table_name = d.table_name AND rs.key_text = ${keyTextOfKeyJsonSql('d.key_json')} ` +
  'WHERE d.schema_name = ?';

/**
 * A dirty row the next push sends: an upsert, or a delete of a row the server has live. A delete
 * of a key never synced (or already a tombstone) is a no-op the freeze drops.
 */
const SENDABLE = '(d.payload IS NOT NULL OR (rs.row_version IS NOT NULL AND rs.deleted = 0))';

/** True when the next freeze would send at least one row. */
export function hasSendableDirtyRows(ctx: SyncContext): boolean {
  return (
    Number(
      ctx.db.scalar(`SELECT EXISTS (SELECT 1 ${DIRTY_WITH_ROW_STATE} AND ${SENDABLE})`, [ctx.schema]),
    ) === 1
  );
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
      'SELECT d.table_name, d.key_json, d.base_row_version, d.payload, d.dirty_ordinal, ' +
        `rs.row_version AS rs_version, rs.deleted AS rs_deleted, ${SENDABLE} AS sendable ${DIRTY_WITH_ROW_STATE}`,
      [ctx.schema],
    );
    const live = (d: DirtyJoin) => d.rs_version !== null && d.rs_deleted === 0;
    const toSend = dirty.filter((d) => d.sendable === 1);
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
      const keyText = keyTextOf(table, d.key_json);
      const localPayload =
        d.payload === null ? null : withCurrentColumns(ctx, table, keyText, parseObject(d.payload));
      const wireKey = localKeyToWireKey(table, keyText);
      const wirePayload = localPayload === null ? null : localPayloadToWire(table, localPayload);
      if (wirePayload !== null) assertSendable(table.name, wireKey, wirePayload);
      const row: OutboxRow = {
        rowOrdinal,
        table: table.name,
        keyJson: d.key_json,
        wireKey,
        op,
        baseRowVersion: Number(d.base_row_version),
        localPayload,
        wirePayload,
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
      remoteAlreadyCommitted: false,
    };
    ctx.store.setOutbox(bundle);
    return bundle;
  });
}

/** The first number JSON cannot carry (`NaN`, `±Infinity`) in `value`, if any. */
function firstNonFinite(value: JsonValue | undefined): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : value;
  if (typeof value !== 'object' || value === null) return undefined;
  for (const inner of Object.values(value)) {
    const found = firstNonFinite(inner);
    if (found !== undefined) return found;
  }
  return undefined;
}

/**
 * Refuses a payload JSON cannot carry. SQLite stores a REAL `±Infinity` (rendered `9.0e+999`,
 * which parses back to `Infinity`), and the request body's `JSON.stringify` would send it as
 * `null`: the server would commit NULL, and the replay could never match the local row. Throwing
 * here rolls the freeze back, so nothing is sent and every intent stays dirty.
 */
function assertSendable(table: string, key: SyncKey, payload: JsonObject): void {
  for (const [column, value] of Object.entries(payload)) {
    const found = firstNonFinite(value);
    if (found === undefined) continue;
    throw new InvalidRowError(
      table,
      `${JSON.stringify(key)} column "${column}" holds ${String(found)}, which JSON cannot carry; nothing was pushed and the change stays pending — store a finite number or NULL (or delete the row), then sync again`,
      undefined,
      { key, column },
    );
  }
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
