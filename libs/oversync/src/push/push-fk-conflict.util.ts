import { sql, type Kysely, type RawBuilder } from 'kysely';
import { sqlState } from '../database/pg-values.util.js';
import type { CatalogTable, TableCatalog } from '../schema/table-catalog.js';
import { dollarQuote, quoteIdent } from './sql-literal.util.js';

const SAVEPOINT = 'oversync_fk_check';
const FOREIGN_KEY_VIOLATION = '23503';
const SCOPE_COLUMN = '_sync_scope_id';

/**
 * Statements that follow a push's apply: the foreign keys the bundle context deferred are checked
 * now, under a savepoint, instead of at COMMIT. A violation then leaves the applied rows in place
 * (behind the savepoint) for {@link locateForeignKeyConflict} to name the pushed row at fault.
 */
export const CHECK_DEFERRED_CONSTRAINTS = [
  `SAVEPOINT ${SAVEPOINT}`,
  'SET CONSTRAINTS ALL IMMEDIATE',
  `RELEASE SAVEPOINT ${SAVEPOINT}`,
] as const;

/**
 * A pushed row that breaks a foreign key on the server: a child written under a parent the server
 * no longer has (a peer deleted it while this device was offline), or a DELETE of a parent that
 * rows on the server still reference. Thrown out of the commit transaction, which rolls back; the
 * commit then answers the row as a structured push conflict.
 */
export class ForeignKeyConflict extends Error {
  constructor(
    readonly rowOrdinal: number,
    message: string,
  ) {
    super(message);
    this.name = 'ForeignKeyConflict';
  }
}

/** A foreign key as the catalog describes it, by the (root) tables it links. */
interface ForeignKeyShape {
  child_schema: string;
  child_table: string;
  child_columns: string[];
  parent_schema: string;
  parent_table: string;
  parent_columns: string[];
}

interface LocatedRow {
  row_ordinal: string;
  key_text: string;
}

/**
 * After a foreign key violation raised by {@link CHECK_DEFERRED_CONSTRAINTS}: rolls back to the
 * savepoint (the applied rows stay) and finds the first pushed row, in upload order, that breaks
 * the violated key. Any other error, or a violation no pushed row explains (a key over columns
 * other than the scope and sync key of a deleted parent, say), is returned unchanged for the caller
 * to rethrow.
 *
 * @returns a {@link ForeignKeyConflict} to throw, or `error` itself.
 */
export async function locateForeignKeyConflict(
  trx: Kysely<unknown>,
  catalog: TableCatalog,
  pushId: string,
  ownerId: string,
  error: unknown,
): Promise<unknown> {
  if (sqlState(error) !== FOREIGN_KEY_VIOLATION) return error;
  const { constraint, schema, table } = error as { constraint?: string; schema?: string; table?: string };
  if (!constraint || !schema || !table) return error;
  try {
    await sql.raw(`ROLLBACK TO SAVEPOINT ${SAVEPOINT}`).execute(trx);
  } catch {
    // The violation came from the apply itself (a NOT DEFERRABLE key of a host table), before the
    // savepoint existed: nothing to locate.
    return error;
  }
  const fk = await readForeignKey(trx, schema, table, constraint);
  if (!fk) return error;
  const child = catalog.byName(fk.child_schema, fk.child_table);
  const parent = catalog.byName(fk.parent_schema, fk.parent_table);
  const found: (LocatedRow & { message: string })[] = [];
  const fkName = `foreign key ${constraint}`;
  if (child) {
    const row = await firstRow(trx, orphanedChildSql(child, fk, pushId, ownerId));
    if (row) {
      found.push({
        ...row,
        message: `conflict on ${child.qualifiedName} ${row.key_text}: it references a row of ${fk.parent_schema}.${fk.parent_table} that does not exist on the server (${fkName}); the parent was probably deleted by another device`,
      });
    }
  }
  const stillReferenced = parent ? stillReferencedParentSql(parent, fk, pushId, ownerId) : null;
  if (parent && stillReferenced) {
    const row = await firstRow(trx, stillReferenced);
    if (row) {
      found.push({
        ...row,
        message: `delete conflict on ${parent.qualifiedName} ${row.key_text}: rows of ${fk.child_schema}.${fk.child_table} on the server still reference it (${fkName})`,
      });
    }
  }
  if (found.length === 0) return error;
  found.sort((a, b) => Number(a.row_ordinal) - Number(b.row_ordinal));
  return new ForeignKeyConflict(Number(found[0].row_ordinal), found[0].message);
}

async function firstRow(trx: Kysely<unknown>, query: RawBuilder<LocatedRow>): Promise<LocatedRow | null> {
  return (await query.execute(trx)).rows[0] ?? null;
}

/** The violated key, with a partition mapped to its registered root on either side. */
async function readForeignKey(
  trx: Kysely<unknown>,
  schema: string,
  table: string,
  constraint: string,
): Promise<ForeignKeyShape | null> {
  const columnsOf = (rel: string, keys: string) =>
    sql.raw(`ARRAY(
      SELECT a.attname::text FROM unnest(${keys}) WITH ORDINALITY AS k (attnum, i)
        JOIN pg_attribute a ON a.attrelid = ${rel} AND a.attnum = k.attnum ORDER BY k.i)`);
  const { rows } = await sql<ForeignKeyShape>`
    SELECT cn.nspname::text AS child_schema, cr.relname::text AS child_table,
           ${columnsOf('con.conrelid', 'con.conkey')} AS child_columns,
           pn.nspname::text AS parent_schema, pr.relname::text AS parent_table,
           ${columnsOf('con.confrelid', 'con.confkey')} AS parent_columns
      FROM pg_constraint con
      JOIN pg_class c ON c.oid = con.conrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace
      JOIN pg_class cr ON cr.oid = COALESCE(pg_partition_root(con.conrelid), con.conrelid)
      JOIN pg_namespace cn ON cn.oid = cr.relnamespace
      JOIN pg_class pr ON pr.oid = COALESCE(pg_partition_root(con.confrelid), con.confrelid)
      JOIN pg_namespace pn ON pn.oid = pr.relnamespace
     WHERE con.contype = 'f' AND con.conname = ${constraint} AND n.nspname = ${schema} AND c.relname = ${table}
     LIMIT 1`.execute(trx);
  return rows[0] ?? null;
}

function relation(schema: string, table: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(table)}`;
}

/** The staged row's sync key as a value of the key column's type. */
function stagedKey(table: CatalogTable): string {
  return table.keyKind === 'uuid' ? `encode(s.key_bytes, 'hex')::uuid` : `convert_from(s.key_bytes, 'UTF8')`;
}

function stagedRows(table: CatalogTable, pushId: string, ops: string): string {
  return `FROM sync.push_session_rows s WHERE s.push_id = ${dollarQuote(pushId)}::uuid AND s.table_id = ${table.tableId} AND s.op_code IN (${ops})`;
}

/** First pushed INSERT/UPDATE of `child` whose row now references a parent row that is missing. */
function orphanedChildSql(
  child: CatalogTable,
  fk: ForeignKeyShape,
  pushId: string,
  ownerId: string,
): RawBuilder<LocatedRow> {
  // MATCH SIMPLE (registered tables cannot use MATCH FULL): a key with a NULL column holds.
  const present = fk.child_columns.map((c) => `c.${quoteIdent(c)} IS NOT NULL`).join(' AND ');
  const matches = fk.child_columns
    .map((c, i) => `p.${quoteIdent(fk.parent_columns[i])} = c.${quoteIdent(c)}`)
    .join(' AND ');
  return sql<LocatedRow>`${sql.raw(`
    SELECT s.row_ordinal::text AS row_ordinal, ${stagedKey(child)}::text AS key_text
      ${stagedRows(child, pushId, '1, 2')}
       AND EXISTS (
         SELECT 1 FROM ${relation(child.schema, child.table)} c
          WHERE c.${quoteIdent(child.keyColumn)} = ${stagedKey(child)} AND c.${SCOPE_COLUMN} = ${dollarQuote(ownerId)}
            AND ${present}
            AND NOT EXISTS (SELECT 1 FROM ${relation(fk.parent_schema, fk.parent_table)} p WHERE ${matches}))
     ORDER BY s.row_ordinal LIMIT 1`)}`;
}

/**
 * First pushed DELETE of `parent` that rows of the child table still reference, or null when the
 * key references columns other than the scope and sync key (a deleted row's other values are gone).
 */
function stillReferencedParentSql(
  parent: CatalogTable,
  fk: ForeignKeyShape,
  pushId: string,
  ownerId: string,
): RawBuilder<LocatedRow> | null {
  const values: string[] = [];
  for (const column of fk.parent_columns) {
    if (column === SCOPE_COLUMN) values.push(dollarQuote(ownerId));
    else if (column === parent.keyColumn) values.push(stagedKey(parent));
    else return null;
  }
  const matches = fk.child_columns.map((c, i) => `c.${quoteIdent(c)} = ${values[i]}`).join(' AND ');
  return sql<LocatedRow>`${sql.raw(`
    SELECT s.row_ordinal::text AS row_ordinal, ${stagedKey(parent)}::text AS key_text
      ${stagedRows(parent, pushId, '3')}
       AND EXISTS (SELECT 1 FROM ${relation(fk.child_schema, fk.child_table)} c WHERE ${matches})
     ORDER BY s.row_ordinal LIMIT 1`)}`;
}
