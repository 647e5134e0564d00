import { keyWhereSql, quoteIdent } from '../schema/row-sql.js';
import { keyTextOf, localKeyToSql } from './row-codec.js';
import { type SyncContext } from './sync-context.js';

/**
 * Turns every dirty upsert whose local row is gone into a delete intent (same base), and returns
 * how many changed.
 *
 * Run at the end of each authoritative apply. Outside applies the capture triggers keep an
 * upsert's payload equal to its live row, but an apply runs with capture off: a pulled or
 * conflict-accepted parent delete, a snapshot row removal or a write-back can remove a child
 * through the app's own `ON DELETE CASCADE` without any intent noticing. Left as it was, the
 * child's INSERT or UPDATE would be pushed from its stale payload and the server would refuse it
 * (its parent is gone there too) on every later push. As a delete it is dropped at freeze when the
 * key never reached the server (or is already a tombstone), and deletes the server row otherwise.
 */
export function retireCascadedIntents(ctx: SyncContext): number {
  const upserts = ctx.db.all<{ table_name: string; key_json: string }>(
    'SELECT table_name, key_json FROM _sync_dirty_rows WHERE schema_name = ? AND payload IS NOT NULL',
    [ctx.schema],
  );
  let retired = 0;
  for (const { table_name: tableName, key_json: keyJson } of upserts) {
    if (!ctx.tables.has(tableName)) continue;
    const table = ctx.tables.get(tableName);
    const present = ctx.db.get(
      `SELECT 1 AS present FROM ${quoteIdent(table.sqlName)} WHERE ${keyWhereSql(table)}`,
      [localKeyToSql(table, keyTextOf(table, keyJson))],
    );
    if (present) continue;
    ctx.db.run(
      "UPDATE _sync_dirty_rows SET op = 'DELETE', payload = NULL WHERE schema_name = ? AND table_name = ? AND key_json = ?",
      [ctx.schema, tableName, keyJson],
    );
    retired += 1;
  }
  return retired;
}
