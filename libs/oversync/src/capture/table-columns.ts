import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { ColumnDescriptor } from './payload-sql.js';

/**
 * `name` and `base_type` (domains resolved one level) of the live, visible columns of the
 * relation whose oid is `relation`, as FROM/WHERE clauses over aliases a (attribute) and t (type).
 */
function columnsOf(relation: RawBuilder<unknown>): RawBuilder<unknown> {
  return sql`pg_attribute a
      JOIN pg_type t ON t.oid = a.atttypid
      LEFT JOIN pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype
     WHERE a.attrelid = ${relation} AND a.attnum > 0 AND NOT a.attisdropped`;
}

const NAME_AND_TYPE = sql`a.attname AS name, COALESCE(bt.typname, t.typname)::text AS base_type`;

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
 * The live columns of every registered table (one catalog query), by `table_id`. The relations are
 * joined by exact name, not cast with `::regclass` per catalog row: the cast made the planner scan
 * all of pg_attribute (4 ms of every push chunk).
 */
export async function readRegisteredColumns(db: Kysely<unknown>): Promise<Map<number, ColumnDescriptor[]>> {
  const { rows } = await sql<{ table_id: number; name: string; base_type: string }>`
    SELECT c.table_id, ${NAME_AND_TYPE}
      FROM sync.table_catalog c
      JOIN pg_namespace n ON n.nspname = c.schema_name
      JOIN pg_class r ON r.relnamespace = n.oid AND r.relname = c.table_name,
           ${columnsOf(sql`r.oid`)}
     ORDER BY c.table_id, a.attnum`.execute(db);
  const byTable = new Map<number, ColumnDescriptor[]>();
  for (const r of rows) {
    const columns = byTable.get(r.table_id) ?? [];
    columns.push({ name: r.name, baseType: r.base_type });
    byTable.set(r.table_id, columns);
  }
  return byTable;
}
