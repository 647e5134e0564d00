import { type SqlJsAdapter } from '../db/sql-js.adapter.js';
import { ROW_STATE_DDL } from './metadata-tables.js';
import { keyTextOfKeyJsonSql } from './row-sql.js';

/**
 * Upgrades `_sync_row_state` written by an earlier client in place. Layout 1 repeated
 * `schema_name` and `updated_at` in every row (and, before that, kept the table as a rowid table);
 * layout 2 dropped both; layout 3 keys rows by the local key text instead of `key_json` (the one
 * member of a `key_json` object is exactly that text). Versions and tombstones are copied
 * unchanged, so pull checkpoints, conflicts and pending pushes carry on exactly where they were.
 *
 * Runs inside the installer's transaction after the one-schema check: a failure leaves the old
 * layout untouched. The capture triggers still name the old columns until the installer replaces
 * them later in the same transaction (their SQL differs, so they always are).
 */
export function upgradeMetadata(adapter: SqlJsAdapter, schema: string): void {
  addOutboxReplayFlag(adapter);
  upgradeRowState(adapter, schema);
}

/**
 * `_sync_outbox_bundle.remote_already_committed` arrived after the first layouts; a database of an
 * earlier client gets it as false. Such a client only left `committed_remote` from its own commits
 * without recording replays, so false is what its outbox means.
 */
function addOutboxReplayFlag(adapter: SqlJsAdapter): void {
  const has = adapter
    .all<{ name: string }>("SELECT name FROM pragma_table_info('_sync_outbox_bundle')")
    .some((c) => c.name === 'remote_already_committed');
  if (!has) {
    adapter.exec(
      'ALTER TABLE _sync_outbox_bundle ADD COLUMN remote_already_committed INTEGER NOT NULL DEFAULT 0',
    );
  }
}

function upgradeRowState(adapter: SqlJsAdapter, schema: string): void {
  const columns = new Set(
    adapter.all<{ name: string }>("SELECT name FROM pragma_table_info('_sync_row_state')").map((c) => c.name),
  );
  if (!columns.has('key_json')) return;
  const layout1 = columns.has('schema_name');
  // A TEMP copy instead of ALTER TABLE … RENAME: SQLite re-checks every trigger on rename, and the
  // old capture triggers do not compile against the new layout until they are replaced.
  adapter.exec('DROP TABLE IF EXISTS temp._sync_row_state_upgrade');
  adapter.run(
    'CREATE TEMP TABLE _sync_row_state_upgrade AS ' +
      `SELECT table_name, ${keyTextOfKeyJsonSql('rs.key_json')} AS key_text, row_version, deleted ` +
      `FROM main._sync_row_state AS rs${layout1 ? ' WHERE schema_name = ?' : ''}`,
    layout1 ? [schema] : [],
  );
  adapter.exec('DROP TABLE main._sync_row_state');
  adapter.exec(ROW_STATE_DDL);
  // Two `key_json` rows can name one key text: an earlier app version keyed the table by a column
  // of another name, and layout 2 kept both spellings. The newer version of the key wins.
  adapter.exec(
    'INSERT INTO main._sync_row_state (table_name, key_text, row_version, deleted) ' +
      'SELECT table_name, key_text, row_version, deleted FROM temp._sync_row_state_upgrade WHERE true ' +
      'ON CONFLICT (table_name, key_text) DO UPDATE SET row_version = excluded.row_version, deleted = excluded.deleted ' +
      'WHERE excluded.row_version > _sync_row_state.row_version; ' +
      'DROP TABLE temp._sync_row_state_upgrade',
  );
}
