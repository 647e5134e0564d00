import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { ColumnDescriptor } from './payload-sql.js';

/** Prefix of the name of a type outside `pg_catalog` (see {@link typeChainSql}). */
export const USER_TYPE_PREFIX = 'user-type:';

/**
 * Subquery over the type `typeOid` and, when it is a domain, every type below it down to the base
 * type: rows (`typname`, `typtype`, `typnotnull`). Domains nest (a domain over a domain over
 * bytea), so one `typbasetype` hop is not enough; the base type is the one row whose `typtype` is
 * not `'d'`. Correlated per column, it walks pg_type by its oid index, which measured faster than
 * joining pg_type twice for the registered tables' columns.
 *
 * `typname` is the built-in name only for types of `pg_catalog` (and the `citext` extension's base
 * type, wherever it is installed); any other type reads `user-type:<name>`. Rendering and the table
 * rules switch on these names, and a user's composite or enum called `name`, `date`, `int4` or
 * `uuid` must not be taken for the built-in.
 *
 * @param typeOid - SQL for a type oid, usually `a.atttypid` of an outer pg_attribute alias `a`.
 * @returns A parenthesised subquery, to be given an alias in a FROM clause.
 */
export function typeChainSql(typeOid: RawBuilder<unknown>): RawBuilder<unknown> {
  return sql`(
      WITH RECURSIVE chain (typname, typnamespace, typtype, typnotnull, typbasetype) AS (
        SELECT t.typname, t.typnamespace, t.typtype, t.typnotnull, t.typbasetype
          FROM pg_catalog.pg_type t WHERE t.oid = ${typeOid}
        UNION ALL
        SELECT b.typname, b.typnamespace, b.typtype, b.typnotnull, b.typbasetype
          FROM chain JOIN pg_catalog.pg_type b ON b.oid = chain.typbasetype
         WHERE chain.typtype = 'd'
      )
      SELECT CASE WHEN typnamespace = 'pg_catalog'::regnamespace OR (typname = 'citext' AND typtype = 'b')
                  THEN typname::text ELSE ${USER_TYPE_PREFIX} || typname END AS typname,
             typtype, typnotnull
        FROM chain)`;
}

/**
 * `name` and `base_type` (domains resolved at any depth) of the live, visible columns of the
 * relation whose oid is `relation`, as FROM/WHERE clauses over alias a (attribute).
 */
function columnsOf(relation: RawBuilder<unknown>): RawBuilder<unknown> {
  return sql`pg_attribute a
     WHERE a.attrelid = ${relation} AND a.attnum > 0 AND NOT a.attisdropped`;
}

const NAME_AND_TYPE = sql`a.attname AS name,
  (SELECT c.typname::text FROM ${typeChainSql(sql`a.atttypid`)} c WHERE c.typtype <> 'd') AS base_type`;

/** The live column list of `schema.table` in column order, for generating its payload SQL. */
export async function readTableColumns(
  trx: Kysely<unknown>,
  schema: string,
  table: string,
): Promise<ColumnDescriptor[]> {
  const { rows } = await sql<{ name: string; base_type: string }>`
    SELECT ${NAME_AND_TYPE}
      FROM ${columnsOf(sql`format('%I.%I', ${schema}::text, ${table}::text)::regclass`)}
     ORDER BY a.attnum`.execute(trx);
  return rows.map((r) => ({ name: r.name, baseType: r.base_type }));
}

/**
 * The live, visible columns of every registered table, as FROM/WHERE clauses over aliases c
 * (table_catalog), r (pg_class) and a (pg_attribute). The relations are joined by exact name, not
 * cast with `::regclass` per catalog row: the cast made the planner scan all of pg_attribute
 * (4 ms of every push chunk).
 */
const REGISTERED_COLUMNS = sql`sync.table_catalog c
      JOIN pg_namespace n ON n.nspname = c.schema_name
      JOIN pg_class r ON r.relnamespace = n.oid AND r.relname = c.table_name,
           ${columnsOf(sql`r.oid`)}`;

/**
 * One column's part of {@link registeredColumnsSignatureSql}: relation oid, name, type oid and
 * generated/identity kind. A domain cannot change its base type, so the type oid covers every
 * derived property (bytea-ness included).
 */
const SIGNATURE_ITEM = sql`r.oid::text || ':' || a.attname || ':' || a.atttypid::text || ':' || a.attgenerated::text || a.attidentity::text`;

/**
 * A fingerprint of the registered tables' live columns, equal to the `signature` that
 * {@link readRegisteredColumns} returns while nothing changed. An expression, to be embedded in a
 * statement.
 */
export function registeredColumnsSignatureSql(): RawBuilder<string> {
  return sql<string>`(SELECT COALESCE(string_agg(${SIGNATURE_ITEM}, ',' ORDER BY c.table_id, a.attnum), '')
      FROM ${REGISTERED_COLUMNS})`;
}

/** The live columns of every registered table by `table_id`, and their signature. */
export interface RegisteredColumns {
  byTable: Map<number, ColumnDescriptor[]>;
  /** What {@link registeredColumnsSignatureSql} evaluates to for these columns. */
  signature: string;
}

/** The live columns of every registered table and their signature, from one catalog query. */
export async function readRegisteredColumns(db: Kysely<unknown>): Promise<RegisteredColumns> {
  const { rows } = await sql<{
    table_id: number;
    name: string;
    base_type: string;
    computed: boolean;
    signature_item: string;
  }>`
    SELECT c.table_id, ${NAME_AND_TYPE}, (a.attgenerated <> '' OR a.attidentity = 'a') AS computed,
           ${SIGNATURE_ITEM} AS signature_item
      FROM ${REGISTERED_COLUMNS}
     ORDER BY c.table_id, a.attnum`.execute(db);
  const byTable = new Map<number, ColumnDescriptor[]>();
  for (const r of rows) {
    const columns = byTable.get(r.table_id) ?? [];
    columns.push({ name: r.name, baseType: r.base_type, serverComputed: r.computed });
    byTable.set(r.table_id, columns);
  }
  // Joined in the order string_agg uses in registeredColumnsSignatureSql.
  return { byTable, signature: rows.map((r) => r.signature_item).join(',') };
}
