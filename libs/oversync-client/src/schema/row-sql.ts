import { type ColumnSpec, type TableSpec } from './table-spec.js';

/** Quotes an SQL identifier. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Quotes an SQL string literal. */
export function quoteLiteral(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

function columnRef(alias: string, column: ColumnSpec): string {
  return `${alias}.${quoteIdent(column.name)}`;
}

/**
 * The local key text of a row: raw text for TEXT keys, 32 lowercase hex characters for UUID BLOB
 * keys. Triggers, bootstrap capture and live-row reads all use this one expression.
 */
export function keyTextSql(table: TableSpec, alias: string): string {
  const ref = columnRef(alias, table.keyColumn);
  return table.keyKind === 'uuid' ? `lower(hex(${ref}))` : `CAST(${ref} AS TEXT)`;
}

/**
 * The key text inside a stored `key_json` (its one member, whatever the member is called): how
 * dirty rows, which keep `key_json`, meet `_sync_row_state`, which is keyed by key text.
 */
export function keyTextOfKeyJsonSql(keyJson: string): string {
  return `(SELECT j.value FROM json_each(${keyJson}) AS j)`;
}

/** The local `key_json` of a row, built by SQLite's `json_object`. */
export function keyJsonSql(table: TableSpec, alias: string): string {
  return `json_object(${quoteLiteral(table.keyColumn.wireName)}, ${keyTextSql(table, alias)})`;
}

function valueSql(alias: string, column: ColumnSpec): string {
  const ref = columnRef(alias, column);
  return column.isBlob ? `CASE WHEN ${ref} IS NULL THEN NULL ELSE lower(hex(${ref})) END` : ref;
}

/**
 * The local payload of a row: a JSON object of every column under its lowercased name, with BLOBs
 * as lowercase hex. Shared by triggers, bootstrap capture and live-row serialisation so payloads
 * compare byte for byte.
 */
export function payloadSql(table: TableSpec, alias: string): string {
  const pairs = table.columns.map((c) => `${quoteLiteral(c.wireName)}, ${valueSql(alias, c)}`);
  return `json_object(${pairs.join(', ')})`;
}

/** `WHERE` condition matching one row by its bound key (`?`). */
export function keyWhereSql(table: TableSpec): string {
  return `${quoteIdent(table.keyColumn.name)} = ?`;
}

/** An upsert of every column (not `REPLACE`, so `ON DELETE CASCADE` children survive updates). */
export function upsertSql(table: TableSpec): string {
  return upsertValuesSql(table, 1);
}

/** {@link upsertSql} for `rows` rows in one statement (`VALUES (…), (…)`). */
export function upsertValuesSql(table: TableSpec, rows: number): string {
  const updates = table.columns
    .filter((c) => c !== table.keyColumn)
    .map((c) => `${quoteIdent(c.name)} = excluded.${quoteIdent(c.name)}`);
  const conflict = updates.length === 0 ? 'DO NOTHING' : `DO UPDATE SET ${updates.join(', ')}`;
  return `${insertValuesSql(table, rows)} ON CONFLICT(${quoteIdent(table.keyColumn.name)}) ${conflict}`;
}

/** A plain multi-row `INSERT … VALUES` of every column for `rows` rows (no conflict clause). */
export function insertValuesSql(table: TableSpec, rows: number): string {
  const cols = table.columns.map((c) => quoteIdent(c.name));
  const tuple = `(${cols.map(() => '?').join(', ')})`;
  return `INSERT INTO ${quoteIdent(table.sqlName)} (${cols.join(', ')}) VALUES ${Array.from({ length: rows }, () => tuple).join(', ')}`;
}
