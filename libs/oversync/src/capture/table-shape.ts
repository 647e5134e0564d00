import { sql, type Kysely } from 'kysely';
import type { ColumnDescriptor } from './payload-sql.js';

/** A registered table's columns as the catalog reports them now, and their signature. */
export interface TableShape {
  columns: ColumnDescriptor[];
  /**
   * `attname:atttypid,…` in column order: the same text the capture trigger and finalisation
   * compute in SQL, so a column added, dropped or retyped since the payload SQL was generated is
   * noticed.
   */
  signature: string;
}

/** Reads the live column list of `schema.table` (domains resolved one level to their base type). */
export async function readTableShape(
  trx: Kysely<unknown>,
  schema: string,
  table: string,
): Promise<TableShape> {
  const { rows } = await sql<{ name: string; type_oid: string; base_type: string }>`
    SELECT a.attname AS name, a.atttypid::text AS type_oid, COALESCE(bt.typname, t.typname)::text AS base_type
      FROM pg_attribute a
      JOIN pg_type t ON t.oid = a.atttypid
      LEFT JOIN pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype
     WHERE a.attrelid = format('%I.%I', ${schema}::text, ${table}::text)::regclass
       AND a.attnum > 0 AND NOT a.attisdropped
     ORDER BY a.attnum`.execute(trx);
  return {
    columns: rows.map((r) => ({ name: r.name, baseType: r.base_type })),
    signature: rows.map((r) => `${r.name}:${r.type_oid}`).join(','),
  };
}
