import { sql, type Kysely, type RawBuilder } from 'kysely';
import { keyStringFromBytes } from '../capture/wire-payload.util.js';
import { toInt } from '../database/pg-values.util.js';
import { PushCommitInvalidError } from '../errors/index.js';
import type { TableCatalog } from '../schema/table-catalog.js';
import type { PushSessionRecord } from './push-session-lookup.util.js';

/**
 * Completeness of a session's staging, as {@link stagingSummaryQuery} computes it: the row count,
 * the lowest and highest ordinal and whether any target row is staged twice.
 */
export interface StagingSummaryRow {
  n: string;
  lo: string | null;
  hi: string | null;
  has_dup: boolean;
}

/** Where a staging first goes wrong, in upload order (see {@link locateStagingProblem}). */
export interface StagingProblemRow {
  gap: string | null;
  dup_index: string | null;
  dup_table_id: number | null;
  dup_key: Buffer | null;
}

/** What {@link assertCompleteStaging} checks: the summary and, when it found a problem, where. */
export interface StagingCheck {
  summary: StagingSummaryRow;
  problem: StagingProblemRow | null;
}

/**
 * Summarises a session's staging in one pass (one row). Ordinals are unique (the primary key), so
 * `lo = 0` and `hi = n - 1` prove them contiguous without sorting; duplicates are found by hashing.
 * Only a staging that fails either test pays for {@link locateStagingProblem}'s sorts.
 */
export function stagingSummaryQuery(pushId: string): RawBuilder<StagingSummaryRow> {
  return sql<StagingSummaryRow>`
    SELECT count(*)::text AS n, min(row_ordinal)::text AS lo, max(row_ordinal)::text AS hi,
           EXISTS (SELECT 1 FROM sync.push_session_rows WHERE push_id = ${pushId}::uuid
                    GROUP BY table_id, key_bytes HAVING count(*) > 1) AS has_dup
      FROM sync.push_session_rows WHERE push_id = ${pushId}::uuid`;
}

/** True when the summary leaves a gap or a duplicate to locate. */
export function stagingNeedsLocating(summary: StagingSummaryRow): boolean {
  const n = toInt(summary.n);
  const contiguous =
    n === 0 || (summary.lo !== null && toInt(summary.lo) === 0 && toInt(summary.hi ?? '-1') === n - 1);
  return !contiguous || summary.has_dup;
}

/**
 * The first index whose ordinal is out of place and the first duplicate target row, both in upload
 * order (only run when {@link stagingSummaryQuery} found a problem).
 */
export async function locateStagingProblem(trx: Kysely<unknown>, pushId: string): Promise<StagingProblemRow> {
  const { rows } = await sql<StagingProblemRow>`
    WITH s AS (
      SELECT row_ordinal, table_id, key_bytes, row_number() OVER (ORDER BY row_ordinal) - 1 AS i,
             row_number() OVER (PARTITION BY table_id, key_bytes ORDER BY row_ordinal) AS occurrence
        FROM sync.push_session_rows WHERE push_id = ${pushId}::uuid
    ), dup AS (
      SELECT i, table_id, key_bytes FROM s WHERE occurrence > 1 ORDER BY i LIMIT 1
    )
    SELECT (SELECT min(i) FROM s WHERE row_ordinal <> i)::text AS gap,
           (SELECT i FROM dup)::text AS dup_index, (SELECT table_id FROM dup) AS dup_table_id,
           (SELECT key_bytes FROM dup) AS dup_key`.execute(trx);
  return rows[0];
}

/**
 * Checks that the session's staging is complete, contiguous from 0 and free of duplicate target
 * rows (the first problem in upload order wins, contiguity before duplication).
 * @throws PushCommitInvalidError
 */
export function assertCompleteStaging(
  catalog: TableCatalog,
  session: PushSessionRecord,
  { summary, problem }: StagingCheck,
): void {
  const planned = session.plannedRowCount;
  if (toInt(summary.n) !== planned || session.nextExpectedRowOrdinal !== planned) {
    throw new PushCommitInvalidError(
      `staged row count ${summary.n} does not match planned_row_count ${planned}`,
    );
  }
  if (!problem) return;
  const gap = problem.gap === null ? null : toInt(problem.gap);
  const dup = problem.dup_index === null ? null : toInt(problem.dup_index);
  if (gap !== null && (dup === null || gap <= dup)) {
    throw new PushCommitInvalidError(`staged rows are not contiguous at row_ordinal ${gap}`);
  }
  if (dup !== null && problem.dup_table_id !== null && problem.dup_key !== null) {
    const table = catalog.byId(problem.dup_table_id);
    throw new PushCommitInvalidError(
      `duplicate target row in staged push session: ${table.qualifiedName} ${keyStringFromBytes(table, problem.dup_key)}`,
    );
  }
}
