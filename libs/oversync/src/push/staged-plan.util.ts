import { sql, type RawBuilder } from 'kysely';
import { keyStringFromBytes } from '../capture/wire-payload.util.js';
import { toInt } from '../database/pg-values.util.js';
import { PushCommitInvalidError } from '../errors/index.js';
import type { TableCatalog } from '../schema/table-catalog.js';
import type { PushSessionRecord } from './push-session-lookup.util.js';
import type { StagedRow } from './staged-row.types.js';

/** One statement of a push commit's apply, planned from the staged rows without loading payloads. */
export type ApplyStep =
  /** Consecutive INSERTs of one table with one column set: staged ordinals `first..last`. */
  { kind: 'insert'; row: StagedRow; last: number } | { kind: 'update' | 'delete'; row: StagedRow };

/** Completeness of a session's staging, as {@link stagingSummaryQuery} computes it. */
export interface StagingSummaryRow {
  n: string;
  gap: string | null;
  dup_index: string | null;
  dup_table_id: number | null;
  dup_key: Buffer | null;
}

/**
 * Summarises, inside PostgreSQL, a session's staging (one row): the staged row count, the first
 * index whose ordinal is out of place and the first duplicate target row, in upload order.
 */
export function stagingSummaryQuery(pushId: string): RawBuilder<StagingSummaryRow> {
  return sql<StagingSummaryRow>`
    WITH s AS (
      SELECT row_ordinal, table_id, key_bytes, row_number() OVER (ORDER BY row_ordinal) - 1 AS i,
             row_number() OVER (PARTITION BY table_id, key_bytes ORDER BY row_ordinal) AS occurrence
        FROM sync.push_session_rows WHERE push_id = ${pushId}::uuid
    ), dup AS (
      SELECT i, table_id, key_bytes FROM s WHERE occurrence > 1 ORDER BY i LIMIT 1
    )
    SELECT (SELECT count(*) FROM s)::text AS n,
           (SELECT min(i) FROM s WHERE row_ordinal <> i)::text AS gap,
           (SELECT i FROM dup)::text AS dup_index, (SELECT table_id FROM dup) AS dup_table_id,
           (SELECT key_bytes FROM dup) AS dup_key`;
}

/**
 * Checks that the session's staging is complete, contiguous from 0 and free of duplicate target
 * rows (the first problem in upload order wins, contiguity before duplication).
 * @param summary - the session's {@link stagingSummaryQuery} row.
 * @throws PushCommitInvalidError
 */
export function assertCompleteStaging(
  catalog: TableCatalog,
  session: PushSessionRecord,
  summary: StagingSummaryRow,
): void {
  const r = summary;
  const planned = session.plannedRowCount;
  if (toInt(r.n) !== planned || session.nextExpectedRowOrdinal !== planned) {
    throw new PushCommitInvalidError(`staged row count ${r.n} does not match planned_row_count ${planned}`);
  }
  const gap = r.gap === null ? null : toInt(r.gap);
  const dup = r.dup_index === null ? null : toInt(r.dup_index);
  if (gap !== null && (dup === null || gap <= dup)) {
    throw new PushCommitInvalidError(`staged rows are not contiguous at row_ordinal ${gap}`);
  }
  if (dup !== null && r.dup_table_id !== null && r.dup_key !== null) {
    const table = catalog.byId(r.dup_table_id);
    throw new PushCommitInvalidError(
      `duplicate target row in staged push session: ${table.qualifiedName} ${keyStringFromBytes(table, r.dup_key)}`,
    );
  }
}

/** One step of {@link stagedPlanJson}, as JSON. */
export interface PlanStepJson {
  table_id: number;
  op_code: 1 | 2 | 3;
  cols: string | null;
  first: number;
  last: number;
  /** Hex. */
  key: string;
  base: number;
}

/**
 * Plans the apply of a complete staging in upload order, as a JSON array of {@link PlanStepJson}:
 * runs of consecutive INSERTs into one table with the same column set (gaps-and-islands over the
 * ordinals) and single UPDATE/DELETE rows. Only keys and column lists leave PostgreSQL, never
 * payloads. An expression (a scalar subquery), to be embedded in a larger statement.
 */
export function stagedPlanJson(pushId: string): RawBuilder<PlanStepJson[] | null> {
  return sql`(
    WITH s AS (
      SELECT row_ordinal, table_id, op_code, key_bytes, base_bundle_seq,
             -- Canonical payloads keep their keys sorted, so this is the sorted column list.
             CASE WHEN op_code <> 3 THEN (SELECT string_agg(k, ',') FROM json_object_keys(payload_apply) AS k) END AS cols
        FROM sync.push_session_rows WHERE push_id = ${pushId}::uuid
    ), g AS (
      SELECT s.*, CASE WHEN op_code = 1
                       THEN row_ordinal - row_number() OVER (PARTITION BY table_id, op_code, cols ORDER BY row_ordinal)
                       ELSE -1 - row_ordinal END AS grp
        FROM s
    ), p AS (
      SELECT table_id, op_code, cols, min(row_ordinal) AS first, max(row_ordinal) AS last,
             (array_agg(key_bytes ORDER BY row_ordinal))[1] AS key_bytes,
             (array_agg(base_bundle_seq ORDER BY row_ordinal))[1] AS base
        FROM g
       GROUP BY table_id, op_code, cols, grp
    )
    SELECT json_agg(json_build_object('table_id', table_id, 'op_code', op_code, 'cols', cols, 'first', first,
                                      'last', last, 'key', encode(key_bytes, 'hex'), 'base', base) ORDER BY first)
      FROM p)`;
}

/** The {@link ApplyStep}s of a {@link stagedPlanJson} result (null: nothing staged). */
export function toApplySteps(catalog: TableCatalog, plan: readonly PlanStepJson[] | null): ApplyStep[] {
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
    if (r.op_code === 1) return { kind: 'insert', row, last: r.last };
    return { kind: r.op_code === 2 ? 'update' : 'delete', row };
  });
}
