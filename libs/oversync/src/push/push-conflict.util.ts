import type { JsonObject, PushConflict, RowOp } from '@oversync/protocol';
import { sql, type Kysely, type RawBuilder } from 'kysely';
import { keyStringFromBytes, toWirePayloadObject, wireKey } from '../capture/wire-payload.util.js';
import { toInt } from '../database/pg-values.util.js';
import { PushConflictError } from '../errors/index.js';
import type { TableCatalog } from '../schema/table-catalog.js';
import type { StagedRow } from './staged-row.types.js';
import { quoteIdent } from './sql-literal.util.js';

const OP_NAMES: Record<number, RowOp> = { 1: 'INSERT', 2: 'UPDATE', 3: 'DELETE' };

/** Authoritative version state of one row (`sync.row_state`), or none. */
interface RowVersionState {
  version: number;
  deleted: boolean;
}

/** A staged row that fails the conflict rules, with the row's state, as {@link firstConflictQuery} returns it. */
export interface FirstConflictRow {
  row_ordinal: string;
  table_id: number;
  key_bytes: Buffer;
  op_code: 1 | 2 | 3;
  base_bundle_seq: string;
  bundle_seq: string | null;
  deleted: boolean | null;
}

/**
 * Optimistic-concurrency check of every staged row of a push session against `sync.row_state`,
 * evaluated inside PostgreSQL (one query, nothing per row in Node): the first failing row in upload
 * order, if any.
 * Rules (wire-protocol §7): INSERT needs no state and base 0, or a tombstone at exactly the base;
 * UPDATE/DELETE need a live row at exactly the base.
 */
export function firstConflictQuery(userPk: number, pushId: string): RawBuilder<FirstConflictRow> {
  return sql<FirstConflictRow>`
    SELECT s.row_ordinal::text, s.table_id, s.key_bytes, s.op_code, s.base_bundle_seq::text,
           rs.bundle_seq::text, rs.deleted
      FROM sync.push_session_rows s
      LEFT JOIN sync.row_state rs ON rs.user_pk = ${userPk} AND rs.table_id = s.table_id AND rs.key_bytes = s.key_bytes
     WHERE s.push_id = ${pushId}::uuid
       AND NOT COALESCE(CASE WHEN s.op_code = 1
                             THEN (rs.bundle_seq IS NULL AND s.base_bundle_seq = 0)
                                  OR (rs.deleted AND s.base_bundle_seq = rs.bundle_seq)
                             ELSE rs.bundle_seq IS NOT NULL AND NOT rs.deleted AND s.base_bundle_seq = rs.bundle_seq
                        END, false)
     ORDER BY s.row_ordinal
     LIMIT 1`;
}

/** One staged row with its row state, shaped like {@link firstConflictQuery}'s answer. */
export function stagedRowStateQuery(
  userPk: number,
  pushId: string,
  rowOrdinal: number,
): RawBuilder<FirstConflictRow> {
  return sql<FirstConflictRow>`
    SELECT s.row_ordinal::text, s.table_id, s.key_bytes, s.op_code, s.base_bundle_seq::text,
           rs.bundle_seq::text, rs.deleted
      FROM sync.push_session_rows s
      LEFT JOIN sync.row_state rs ON rs.user_pk = ${userPk} AND rs.table_id = s.table_id AND rs.key_bytes = s.key_bytes
     WHERE s.push_id = ${pushId}::uuid AND s.row_ordinal = ${rowOrdinal}`;
}

/**
 * Aborts the whole push with the structured conflict of its first failing row (reading the live
 * server row for it); does nothing when no row failed.
 * @param r - the session's {@link firstConflictQuery} row, or null.
 * @param reason - the conflict's message when the row fails a rule other than the version rules
 *   (a foreign key); by default the version rule it breaks.
 * @throws PushConflictError
 */
export async function assertNoConflict(
  trx: Kysely<unknown>,
  catalog: TableCatalog,
  ownerId: string,
  r: FirstConflictRow | null,
  reason?: string,
): Promise<void> {
  if (!r) return;
  const table = catalog.byId(r.table_id);
  const row: StagedRow = {
    rowOrdinal: toInt(r.row_ordinal),
    table,
    keyBytes: r.key_bytes,
    keyString: keyStringFromBytes(table, r.key_bytes),
    opCode: r.op_code,
    baseRowVersion: toInt(r.base_bundle_seq),
    columns: null,
  };
  const state = r.bundle_seq === null ? null : { version: toInt(r.bundle_seq), deleted: r.deleted === true };
  const message = reason ?? conflictMessage(row, state);
  if (message === null) {
    throw new Error(
      `conflict rules disagree for ${table.qualifiedName} ${row.keyString}; report this as a bug`,
    );
  }
  const live = state !== null && !state.deleted;
  const conflict: PushConflict = {
    schema: table.schema,
    table: table.table,
    key: wireKey(table, row.keyString),
    op: OP_NAMES[row.opCode],
    base_row_version: row.baseRowVersion,
    server_row_version: state?.version ?? 0,
    server_row_deleted: state?.deleted ?? false,
    server_row: live ? await readServerRow(trx, row, ownerId) : null,
  };
  throw new PushConflictError(message, conflict);
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
