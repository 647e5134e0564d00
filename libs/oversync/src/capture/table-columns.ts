import { sql, type Kysely } from 'kysely';
import type { ColumnDescriptor } from './payload-sql.js';

/**
 * Reads the live column list of `schema.table` in column order (domains resolved one level to
 * their base type), for generating its payload SQL.
 */
export async function readTableColumns(
  trx: Kysely<unknown>,
  schema: string,
  table: string,
): Promise<ColumnDescriptor[]> {
  const { rows } = await sql<{ name: string; base_type: string }>`
    SELECT a.attname AS name, COALESCE(bt.typname, t.typname)::text AS base_type
      FROM pg_attribute a
      JOIN pg_type t ON t.oid = a.atttypid
      LEFT JOIN pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype
     WHERE a.attrelid = format('%I.%I', ${schema}::text, ${table}::text)::regclass
       AND a.attnum > 0 AND NOT a.attisdropped
     ORDER BY a.attnum`.execute(trx);
  return rows.map((r) => ({ name: r.name, baseType: r.base_type }));
}
