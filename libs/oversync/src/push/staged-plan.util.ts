import { sql, type RawBuilder } from 'kysely';
import { keyStringFromBytes } from '../capture/wire-payload.util.js';
import type { TableCatalog } from '../schema/table-catalog.js';
import type { StagedRow } from './staged-row.types.js';

/** One statement of a push commit's apply, planned from the staged rows without loading payloads. */
export type ApplyStep =
  /** Consecutive INSERTs of one table with one column set: staged ordinals `first..last`. */
  { kind: 'insert'; row: StagedRow; last: number } | { kind: 'update' | 'delete'; row: StagedRow };

/** One step of {@link stagedPlanJson}, as JSON. */
export interface PlanStepJson {
  table_id: number;
  op_code: 1 | 2 | 3;
  cols: string | null;
  first: number;
  /** Null for the last step, which ends at the staging's last ordinal. */
  last: number | null;
  /** Hex. */
  key: string;
  base: number;
}

/**
 * Plans the apply of a complete staging in upload order, as a JSON array of {@link PlanStepJson}:
 * runs of consecutive INSERTs into one table with the same column set (an island starts wherever
 * the row before differs) and single UPDATE/DELETE rows. Only keys and column lists leave
 * PostgreSQL, never payloads. One pass in primary-key order, no sort: the column lists were
 * recorded at upload (`column_list`); rows staged by an earlier build, which lack it, read it
 * from the payload's keys. An expression (a scalar subquery), to be embedded in a larger statement.
 * The last step's `last` is null (it ends at the staging's last ordinal).
 */
export function stagedPlanJson(pushId: string): RawBuilder<PlanStepJson[] | null> {
  return sql`(
    WITH s AS (
      SELECT row_ordinal, table_id, op_code, key_bytes, base_bundle_seq, cols,
             op_code <> 1 OR (lag(op_code) OVER w, lag(table_id) OVER w, lag(cols) OVER w)
                             IS DISTINCT FROM (1::smallint, table_id, cols) AS starts
        FROM (SELECT r.*, CASE WHEN r.op_code <> 3
                               -- Earlier builds staged canonical payloads (keys sorted), so this is the sorted list.
                               THEN COALESCE(r.column_list, (SELECT string_agg(k, ',') FROM json_object_keys(r.payload_apply) AS k))
                          END AS cols
                FROM sync.push_session_rows r WHERE r.push_id = ${pushId}::uuid) AS staged
      WINDOW w AS (ORDER BY row_ordinal)
    ), p AS (
      SELECT table_id, op_code, cols, row_ordinal AS first, lead(row_ordinal) OVER (ORDER BY row_ordinal) - 1 AS last,
             key_bytes, base_bundle_seq AS base
        FROM s WHERE starts
    )
    SELECT json_agg(json_build_object('table_id', table_id, 'op_code', op_code, 'cols', cols, 'first', first,
                                      'last', last, 'key', encode(key_bytes, 'hex'), 'base', base) ORDER BY first)
      FROM p)`;
}

/**
 * The {@link ApplyStep}s of a {@link stagedPlanJson} result (null: nothing staged).
 * @param lastOrdinal - the staging's last ordinal (planned row count − 1), where the last step ends.
 */
export function toApplySteps(
  catalog: TableCatalog,
  plan: readonly PlanStepJson[] | null,
  lastOrdinal: number,
): ApplyStep[] {
  return (plan ?? []).map((r) => {
    const table = catalog.byId(r.table_id);
    const keyBytes = Buffer.from(r.key, 'hex');
    const row: StagedRow = {
      rowOrdinal: r.first,
      table,
      keyBytes,
      keyString: keyStringFromBytes(table, keyBytes),
      opCode: r.op_code,
      baseRowVersion: r.base,
      columns: r.cols === null ? null : r.cols.split(','),
    };
    if (r.op_code === 1) return { kind: 'insert', row, last: r.last ?? lastOrdinal };
    return { kind: r.op_code === 2 ? 'update' : 'delete', row };
  });
}
