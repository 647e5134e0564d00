import { sql, type Kysely } from 'kysely';
import type { CatalogTable } from '../schema/table-catalog.js';
import { dollarQuote, keyLiteral, quoteIdent } from './sql-literal.util.js';
import type { ApplyStep } from './staged-plan.util.js';
import type { StagedRow } from './staged-row.types.js';

/** Statements sent per round trip; bounds the size of one simple-protocol query. */
const STATEMENTS_PER_SCRIPT = 500;
const SCOPE_COLUMN = quoteIdent('_sync_scope_id');

/** Literal SQL statements that travel with the apply, in its first and last round trip. */
export interface ApplyFraming {
  /** Run before the first step (e.g. opening the bundle context). */
  before: readonly string[];
  /** Run after the last step (e.g. ending the push session). */
  after: readonly string[];
}

/**
 * Applies a planned staging ({@link ApplyStep}s) to the business tables in upload order, so the
 * captured bundle follows the upload order (go-oversync's batched UPDATE relies on the planner's
 * join order for that; we do not). Payloads never leave PostgreSQL: every statement reads its rows
 * from `sync.push_session_rows` by ordinal. A run of consecutive INSERTs into one table with the
 * same column set is one `INSERT … SELECT … ORDER BY row_ordinal` (rows are inserted, and so
 * captured, in that order); UPDATE and DELETE are one statement per row. Statements travel as
 * multi-statement scripts over the simple query protocol (one round trip per
 * {@link STATEMENTS_PER_SCRIPT}, `framing` included). Type coercion is PostgreSQL's
 * (`jsonb_populate_record`); constraints are deferred by the bundle context, so FK order inside
 * the push does not matter and violations surface at COMMIT.
 */
export async function applyStagedRows(
  trx: Kysely<unknown>,
  pushId: string,
  ownerId: string,
  steps: readonly ApplyStep[],
  framing: ApplyFraming,
): Promise<void> {
  const owner = dollarQuote(ownerId);
  const session = sessionLiteral(pushId);
  const statements = [
    ...framing.before,
    ...steps.map((step) => {
      const { row } = step;
      if (step.kind === 'insert') {
        return insertStatement(row.table, row.columns!, session, owner, row.rowOrdinal, step.last);
      }
      return step.kind === 'update' ? updateStatement(row, session, owner) : deleteStatement(row, owner);
    }),
    ...framing.after,
  ];
  for (let i = 0; i < statements.length; i += STATEMENTS_PER_SCRIPT) {
    await sql.raw(statements.slice(i, i + STATEMENTS_PER_SCRIPT).join(';\n')).execute(trx);
  }
}

/** A push session id as a SQL `uuid` literal. */
export function sessionLiteral(pushId: string): string {
  return `'${pushId.replace(/'/g, "''")}'::uuid`;
}

/**
 * `sync.begin_bundle_context` for `identity` as a literal statement: the same call as
 * `ScopeTransactionRunner.beginBundle`, so it can open an apply script.
 */
export function bundleContextStatement(
  userId: string,
  userPk: number,
  identity: { sourceId: string; sourceBundleId: number; initializationId: string | null },
): string {
  const init = identity.initializationId === null ? 'NULL' : dollarQuote(identity.initializationId);
  return (
    `SELECT sync.begin_bundle_context(${dollarQuote(userId)}, ${String(Number(userPk))}, ` +
    `${dollarQuote(identity.sourceId)}, ${String(Number(identity.sourceBundleId))}, ${init})`
  );
}

function tableName(table: CatalogTable): string {
  return `${quoteIdent(table.schema)}.${quoteIdent(table.table)}`;
}

/** The staged payloads of ordinals `first..last` typed as rows of `table`, in upload order. */
function stagedRecords(table: CatalogTable, session: string, first: number, last: number): string {
  return (
    `FROM sync.push_session_rows s CROSS JOIN LATERAL jsonb_populate_record(NULL::${tableName(table)}, s.payload_apply::jsonb) AS r ` +
    `WHERE s.push_id = ${session} AND s.row_ordinal BETWEEN ${first} AND ${last}`
  );
}

function insertStatement(
  table: CatalogTable,
  columns: string[],
  session: string,
  owner: string,
  first: number,
  last: number,
): string {
  const targets = [SCOPE_COLUMN, ...columns.map(quoteIdent)].join(', ');
  const values = columns.map((c) => `r.${quoteIdent(c)}`).join(', ');
  return (
    `INSERT INTO ${tableName(table)} (${targets}) SELECT ${owner}, ${values} ` +
    `${stagedRecords(table, session, first, last)} ORDER BY s.row_ordinal`
  );
}

function updateStatement(row: StagedRow, session: string, owner: string): string {
  const sets = row.columns!.map((c) => `${quoteIdent(c)} = r.${quoteIdent(c)}`).join(', ');
  return (
    `UPDATE ${tableName(row.table)} AS t SET ${sets} ` +
    `${stagedRecords(row.table, session, row.rowOrdinal, row.rowOrdinal)} ` +
    `AND t.${quoteIdent(row.table.keyColumn)} = ${keyLiteral(row.table, row.keyString, row.keyBytes)} AND t.${SCOPE_COLUMN} = ${owner}`
  );
}

function deleteStatement(row: StagedRow, owner: string): string {
  return (
    `DELETE FROM ${tableName(row.table)} ` +
    `WHERE ${quoteIdent(row.table.keyColumn)} = ${keyLiteral(row.table, row.keyString, row.keyBytes)} AND ${SCOPE_COLUMN} = ${owner}`
  );
}
