import { sql, type Kysely } from 'kysely';
import type { CatalogTable } from '../schema/table-catalog.js';
import { dollarQuote, keyLiteral, quoteIdent } from './sql-literal.util.js';
import type { StagedRow } from './staged-row.types.js';

/** Statements sent per round trip; bounds the size of one simple-protocol query. */
const STATEMENTS_PER_SCRIPT = 500;
const SCOPE_COLUMN = quoteIdent('_sync_scope_id');

/**
 * Applies staged rows to the business tables in upload order, so the captured bundle follows the
 * upload order (go-oversync's batched UPDATE relies on the planner's join order for that; we do
 * not). Runs of consecutive INSERTs into one table with the same column set become one
 * `INSERT … SELECT FROM jsonb_populate_recordset` (a function scan feeds rows in array order);
 * UPDATE and DELETE are one statement per row. Statements travel as multi-statement scripts over
 * the simple query protocol (one round trip per {@link STATEMENTS_PER_SCRIPT}), with every value
 * a dollar-quoted literal or hex-encoded key. Type coercion is PostgreSQL's
 * (`jsonb_populate_record`); constraints were deferred by `beginBundle`, so FK order inside the
 * push does not matter and violations surface at COMMIT.
 */
export async function applyStagedRows(
  trx: Kysely<unknown>,
  ownerId: string,
  rows: readonly StagedRow[],
): Promise<void> {
  const owner = dollarQuote(ownerId);
  const statements: string[] = [];
  for (let i = 0; i < rows.length;) {
    const row = rows[i];
    if (row.opCode !== 1) {
      statements.push(row.opCode === 2 ? updateStatement(row, owner) : deleteStatement(row, owner));
      i++;
      continue;
    }
    const columns = payloadColumns(row.payloadApply!);
    const signature = columns.join(',');
    const run: string[] = [row.payloadApply!];
    let j = i + 1;
    for (; j < rows.length; j++) {
      const next = rows[j];
      if (
        next.opCode !== 1 ||
        next.table !== row.table ||
        payloadColumns(next.payloadApply!).join(',') !== signature
      )
        break;
      run.push(next.payloadApply!);
    }
    statements.push(insertStatement(row.table, columns, run, owner));
    i = j;
  }
  for (let i = 0; i < statements.length; i += STATEMENTS_PER_SCRIPT) {
    await sql.raw(statements.slice(i, i + STATEMENTS_PER_SCRIPT).join(';\n')).execute(trx);
  }
}

function tableName(table: CatalogTable): string {
  return `${quoteIdent(table.schema)}.${quoteIdent(table.table)}`;
}

/** Sorted column names of a canonical payload (canonical text already has sorted keys). */
function payloadColumns(payloadText: string): string[] {
  return Object.keys(JSON.parse(payloadText) as Record<string, unknown>);
}

function insertStatement(table: CatalogTable, columns: string[], payloads: string[], owner: string): string {
  const name = tableName(table);
  const targets = [SCOPE_COLUMN, ...columns.map(quoteIdent)].join(', ');
  const values = columns.map((c) => `r.${quoteIdent(c)}`).join(', ');
  return (
    `INSERT INTO ${name} (${targets}) SELECT ${owner}, ${values} ` +
    `FROM jsonb_populate_recordset(NULL::${name}, ${dollarQuote(`[${payloads.join(',')}]`)}::jsonb) AS r`
  );
}

function updateStatement(row: StagedRow, owner: string): string {
  const name = tableName(row.table);
  const sets = payloadColumns(row.payloadApply!)
    .map((c) => `${quoteIdent(c)} = r.${quoteIdent(c)}`)
    .join(', ');
  return (
    `UPDATE ${name} AS t SET ${sets} FROM jsonb_populate_record(NULL::${name}, ${dollarQuote(row.payloadApply!)}::jsonb) AS r ` +
    `WHERE t.${quoteIdent(row.table.keyColumn)} = ${keyLiteral(row.table, row.keyString, row.keyBytes)} AND t.${SCOPE_COLUMN} = ${owner}`
  );
}

function deleteStatement(row: StagedRow, owner: string): string {
  return (
    `DELETE FROM ${tableName(row.table)} ` +
    `WHERE ${quoteIdent(row.table.keyColumn)} = ${keyLiteral(row.table, row.keyString, row.keyBytes)} AND ${SCOPE_COLUMN} = ${owner}`
  );
}
