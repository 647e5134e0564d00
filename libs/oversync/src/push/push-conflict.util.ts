import type { JsonObject, PushConflict, RowOp } from '@oversync/protocol';
import { sql, type Kysely } from 'kysely';
import { toWirePayloadObject, wireKey } from '../capture/wire-payload.util.js';
import { toInt } from '../database/pg-values.util.js';
import { PushConflictError } from '../errors/index.js';
import type { StagedRow } from './staged-row.types.js';
import { quoteIdent } from './sql-literal.util.js';

const OP_NAMES: Record<number, RowOp> = { 1: 'INSERT', 2: 'UPDATE', 3: 'DELETE' };

/** Authoritative version state of one row (`sync.row_state`), or none. */
interface RowVersionState {
  version: number;
  deleted: boolean;
}

/**
 * Optimistic-concurrency check of every staged row against `sync.row_state` (one query), in
 * upload order; the first failing row aborts the whole push with its structured conflict.
 * Rules (wire-protocol §7): INSERT needs no state and base 0, or a tombstone at exactly the base;
 * UPDATE/DELETE need a live row at exactly the base.
 * @throws PushConflictError
 */
export async function assertNoConflicts(
  trx: Kysely<unknown>,
  userPk: number,
  ownerId: string,
  rows: readonly StagedRow[],
): Promise<void> {
  const { rows: states } = await sql<{ ord: string; bundle_seq: string | null; deleted: boolean | null }>`
    SELECT t.ord, rs.bundle_seq, rs.deleted
      FROM unnest(${rows.map((r) => r.table.tableId)}::int[], ${rows.map((r) => r.keyBytes)}::bytea[])
           WITH ORDINALITY AS t(table_id, key_bytes, ord)
      LEFT JOIN sync.row_state rs ON rs.user_pk = ${userPk} AND rs.table_id = t.table_id AND rs.key_bytes = t.key_bytes
     ORDER BY t.ord`.execute(trx);
  for (const [i, row] of rows.entries()) {
    const s = states[i];
    const state =
      s.bundle_seq === null ? null : { version: toInt(s.bundle_seq), deleted: s.deleted === true };
    const message = conflictMessage(row, state);
    if (message === null) continue;
    const live = state !== null && !state.deleted;
    const conflict: PushConflict = {
      schema: row.table.schema,
      table: row.table.table,
      key: wireKey(row.table, row.keyString),
      op: OP_NAMES[row.opCode],
      base_row_version: row.baseRowVersion,
      server_row_version: state?.version ?? 0,
      server_row_deleted: state?.deleted ?? false,
      server_row: live ? await readServerRow(trx, row, ownerId) : null,
    };
    throw new PushConflictError(message, conflict);
  }
}

/** The conflict message for a row, or null when the row may be applied. */
function conflictMessage(row: StagedRow, state: RowVersionState | null): string | null {
  const op = OP_NAMES[row.opCode].toLowerCase();
  const where = `${op} conflict on ${row.table.qualifiedName} ${row.keyString}`;
  const base = row.baseRowVersion;
  if (row.opCode === 1) {
    if (state === null) return base === 0 ? null : `${where}: expected missing row at version 0, got ${base}`;
    if (base !== state.version) return `${where}: expected base_row_version ${state.version}, got ${base}`;
    return state.deleted ? null : `${where}: row already exists at version ${state.version}`;
  }
  if (state === null || state.deleted) return `${where}: row does not exist`;
  return base === state.version ? null : `${where}: expected version ${state.version}, got ${base}`;
}

/** The live business row by key and owner, in wire encoding without `_sync_scope_id`; null if gone. */
async function readServerRow(
  trx: Kysely<unknown>,
  row: StagedRow,
  ownerId: string,
): Promise<JsonObject | null> {
  const t = row.table;
  const target = sql.raw(`${quoteIdent(t.schema)}.${quoteIdent(t.table)}`);
  const keyColumn = sql.raw(quoteIdent(t.keyColumn));
  const keyValue = t.keyKind === 'uuid' ? sql`${row.keyString}::uuid` : sql`${row.keyString}`;
  const { rows } = await sql<{ payload: string }>`
    SELECT (to_jsonb(r) - '_sync_scope_id')::text AS payload FROM ${target} AS r
     WHERE r.${keyColumn} = ${keyValue} AND r._sync_scope_id = ${ownerId}`.execute(trx);
  return rows[0] ? toWirePayloadObject(t, rows[0].payload) : null;
}
