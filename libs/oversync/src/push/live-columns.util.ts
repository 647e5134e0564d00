import { sql, type Kysely } from 'kysely';
import type { LiveColumns } from './push-chunk-validation.util.js';

/**
 * The registered tables' columns as they stand now (one catalog query), so push chunks accept a
 * column added after start-up — as capture and snapshots already render it — and refuse a dropped
 * one. bytea columns (domains resolved one level) travel as base64.
 */
export async function loadLiveColumns(db: Kysely<unknown>): Promise<LiveColumns> {
  const { rows } = await sql<{ table_id: number; name: string; base_type: string }>`
    SELECT c.table_id, a.attname AS name, COALESCE(bt.typname, t.typname)::text AS base_type
      FROM sync.table_catalog c
      JOIN pg_attribute a ON a.attrelid = format('%I.%I', c.schema_name, c.table_name)::regclass
                         AND a.attnum > 0 AND NOT a.attisdropped
      JOIN pg_type t ON t.oid = a.atttypid
      LEFT JOIN pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype
     ORDER BY c.table_id, a.attnum`.execute(db);
  const live = new Map<number, { names: Set<string>; bytea: string[] }>();
  for (const r of rows) {
    let sets = live.get(r.table_id);
    if (!sets) live.set(r.table_id, (sets = { names: new Set(), bytea: [] }));
    sets.names.add(r.name);
    if (r.base_type === 'bytea') sets.bytea.push(r.name);
  }
  return live;
}
