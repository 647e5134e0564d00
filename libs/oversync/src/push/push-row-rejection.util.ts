import { sql, type Kysely } from 'kysely';
import { keyStringFromBytes } from '../capture/wire-payload.util.js';
import { sqlState } from '../database/pg-values.util.js';
import { ScopeWriteInvalidError } from '../errors/index.js';
import type { TableCatalog } from '../schema/table-catalog.js';
import { applyStagedRows } from './push-apply.util.js';
import type { ApplyStep } from './staged-plan.util.js';

const SAVEPOINT = 'oversync_locate_row';

/**
 * Whether a failed push commit was refused for its data: the same staged rows would fail the same
 * way on every retry, so the answer is `400 push_commit_invalid` rather than go-oversync's 500.
 * Class 22 (a value the column's type cannot hold: `"1.5"` for a bigint, a date that is not one,
 * a number beyond float64), class 23 (NOT NULL, CHECK, UNIQUE, a foreign key no pushed row
 * explains), 42703 (a pushed column the table no longer has, dropped after the upload) and P0001
 * (a host trigger's `RAISE EXCEPTION` refusing the row). Our own trigger states (`OV…`), lost
 * races and resource or connection failures are not data errors.
 */
export function isRowDataError(error: unknown): boolean {
  // Finalisation types the values it cannot render (ScopeWriteInvalidError, cause: the database
  // error), among them json nested beyond the stack (54001).
  const state = error instanceof ScopeWriteInvalidError ? sqlState(error.cause) : sqlState(error);
  if (!state) return false;
  return (
    state.startsWith('22') ||
    state.startsWith('23') ||
    state === '42703' ||
    state === 'P0001' ||
    state === '54001'
  );
}

/** The pushed row a data error is pinned on, by upload ordinal. */
export interface RejectedRow {
  rowOrdinal: number;
  /** `schema.table`. */
  table: string;
  key: string;
}

/**
 * Finds the first pushed row, in upload order, whose apply fails: the shortest prefix of the
 * upload that cannot be applied ends with it. A binary search over prefixes, each applied under a
 * savepoint and rolled back, so about log2(rows) applies of at most the whole upload; it runs only
 * after a commit failed. Foreign keys stay deferred as in the commit, so a child pushed before its
 * parent does not fail a prefix. Null when the whole upload applies (the error came from
 * finalisation, such as a numeric beyond float64, or was not reproducible).
 *
 * Runs inside the caller's transaction and leaves nothing applied: every probe is rolled back to
 * the savepoint, bundle context included.
 *
 * @param steps - the staging's apply plan; its last step ends at the last ordinal searched.
 * @param opening - the statement opening the bundle context each probe writes under.
 */
export async function locateRejectedRow(
  trx: Kysely<unknown>,
  catalog: TableCatalog,
  pushId: string,
  ownerId: string,
  steps: readonly ApplyStep[],
  opening: string,
): Promise<RejectedRow | null> {
  const lastStep = steps.at(-1);
  const lastOrdinal = !lastStep ? -1 : lastStep.kind === 'insert' ? lastStep.last : lastStep.row.rowOrdinal;
  const fails = async (last: number): Promise<boolean> => {
    await sql.raw(`SAVEPOINT ${SAVEPOINT}`).execute(trx);
    try {
      await applyStagedRows(trx, pushId, ownerId, prefixOf(steps, last), {
        before: [opening],
        after: [],
      });
      return false;
    } catch (error) {
      if (!isRowDataError(error)) throw error;
      return true;
    } finally {
      await sql.raw(`ROLLBACK TO SAVEPOINT ${SAVEPOINT}`).execute(trx);
    }
  };
  // No steps (a conflict appeared meanwhile, so nothing was planned): nothing to search.
  if (lastOrdinal < 0 || !(await fails(lastOrdinal))) return null;
  let lo = 0;
  let hi = lastOrdinal;
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if (await fails(mid)) hi = mid;
    else lo = mid + 1;
  }
  const { rows } = await sql<{ table_id: number; key_bytes: Buffer }>`
    SELECT table_id, key_bytes FROM sync.push_session_rows
     WHERE push_id = ${pushId}::uuid AND row_ordinal = ${lo}`.execute(trx);
  if (!rows[0]) return null;
  const table = catalog.byId(rows[0].table_id);
  return { rowOrdinal: lo, table: table.qualifiedName, key: keyStringFromBytes(table, rows[0].key_bytes) };
}

/** The apply steps of ordinals `0..last`, the last INSERT run cut at `last`. */
function prefixOf(steps: readonly ApplyStep[], last: number): ApplyStep[] {
  const out: ApplyStep[] = [];
  for (const step of steps) {
    if (step.row.rowOrdinal > last) break;
    out.push(step.kind === 'insert' && step.last > last ? { ...step, last } : step);
  }
  return out;
}

/**
 * The message of a commit refused for its data: PostgreSQL's own message (never its DETAIL, which
 * can quote another scope's values behind a UNIQUE constraint), with the pushed row when found.
 */
export function rowRejectionMessage(error: unknown, row: RejectedRow | null): string {
  const reason = (error as Error).message.replace(/\.$/, '');
  const fix = 'the server refuses these rows on every retry; change or delete the row on the device';
  if (!row) return `pushed rows cannot be stored on the server: ${reason}; ${fix}`;
  return `pushed row ${row.rowOrdinal} (${row.table} "${row.key}") cannot be stored on the server: ${reason}; ${fix}`;
}
