import { type SqlJsAdapter } from '../db/sql-js.adapter.js';
import { ROW_STATE_DDL } from './metadata-tables.js';

/**
 * Upgrades metadata written by an earlier client (layout 1) in place. Layout 1 repeated
 * `schema_name` and `updated_at` in every `_sync_row_state` row (and, before that, kept the table
 * as a rowid table); layout 2 drops both columns. Versions and tombstones are copied unchanged, so
 * pull checkpoints, conflicts and pending pushes carry on exactly where they were.
 *
 * Runs inside the installer's transaction after the one-schema check: a failure leaves the old
 * layout untouched. The capture triggers still name the old columns until the installer replaces
 * them later in the same transaction (their SQL differs, so they always are).
 */
export function upgradeMetadata(adapter: SqlJsAdapter, schema: string): void {
  const layout1 =
    adapter.count("SELECT COUNT(*) FROM pragma_table_info('_sync_row_state') WHERE name = 'schema_name'") > 0;
  if (!layout1) return;
  // A TEMP copy instead of ALTER TABLE … RENAME: SQLite re-checks every trigger on rename, and the
  // old capture triggers do not compile against the new layout until they are replaced.
  adapter.exec('DROP TABLE IF EXISTS temp._sync_row_state_upgrade');
  adapter.run(
    'CREATE TEMP TABLE _sync_row_state_upgrade AS SELECT table_name, key_json, row_version, deleted FROM main._sync_row_state WHERE schema_name = ?',
    [schema],
  );
  adapter.exec('DROP TABLE main._sync_row_state');
  adapter.exec(ROW_STATE_DDL);
  adapter.exec(
    'INSERT INTO main._sync_row_state (table_name, key_json, row_version, deleted) ' +
      'SELECT table_name, key_json, row_version, deleted FROM temp._sync_row_state_upgrade; ' +
      'DROP TABLE temp._sync_row_state_upgrade',
  );
}
