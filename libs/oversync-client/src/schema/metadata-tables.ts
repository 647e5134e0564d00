/** SQL timestamp expression used for `created_at` / `updated_at` columns. */
export const NOW_SQL = "strftime('%Y-%m-%dT%H:%M:%fZ','now')";

/**
 * Last authoritative version of every synced key. A database holds exactly one schema, so the
 * schema is not repeated per row; the key is the row's local key text (raw text for TEXT keys, 32
 * lowercase hex characters for UUID BLOB keys, as `keyTextSql` renders it), not its `key_json`.
 * Together with `WITHOUT ROWID` this keeps the row that the pull and snapshot apply paths write for
 * every business row as small and as cheap to build as possible.
 */
export const ROW_STATE_DDL = `CREATE TABLE IF NOT EXISTS _sync_row_state (
  table_name TEXT NOT NULL,
  key_text TEXT NOT NULL,
  row_version INTEGER NOT NULL,
  deleted INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (table_name, key_text)
) WITHOUT ROWID;`;

/**
 * Local metadata tables (layout 3: `_sync_row_state` keyed by key text, without `schema_name` and
 * `updated_at`; `upgradeMetadata` converts layouts 1 and 2). All are created with `IF NOT EXISTS`; other `_sync_*` tables the app may
 * own are left alone.
 */
export const METADATA_DDL = `
CREATE TABLE IF NOT EXISTS _sync_source_state (
  source_id TEXT PRIMARY KEY NOT NULL,
  next_source_bundle_id INTEGER NOT NULL DEFAULT 1,
  replaced_by_source_id TEXT NOT NULL DEFAULT '',
  created_at TEXT NOT NULL DEFAULT (${NOW_SQL})
);
CREATE TABLE IF NOT EXISTS _sync_attachment_state (
  singleton_key INTEGER PRIMARY KEY CHECK (singleton_key = 1),
  current_source_id TEXT NOT NULL DEFAULT '',
  binding_state TEXT NOT NULL DEFAULT 'anonymous' CHECK (binding_state IN ('anonymous', 'attached')),
  attached_user_id TEXT NOT NULL DEFAULT '',
  schema_name TEXT NOT NULL DEFAULT '',
  last_bundle_seq_seen INTEGER NOT NULL DEFAULT 0,
  rebuild_required INTEGER NOT NULL DEFAULT 0,
  pending_initialization_id TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS _sync_operation_state (
  singleton_key INTEGER PRIMARY KEY CHECK (singleton_key = 1),
  kind TEXT NOT NULL DEFAULT 'none' CHECK (kind IN ('none', 'remote_replace', 'source_recovery')),
  target_user_id TEXT NOT NULL DEFAULT '',
  reason TEXT NOT NULL DEFAULT '',
  replacement_source_id TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS _sync_apply_state (
  singleton_key INTEGER PRIMARY KEY CHECK (singleton_key = 1),
  apply_mode INTEGER NOT NULL DEFAULT 0
);
${ROW_STATE_DDL}
CREATE TABLE IF NOT EXISTS _sync_dirty_rows (
  schema_name TEXT NOT NULL,
  table_name TEXT NOT NULL,
  key_json TEXT NOT NULL,
  op TEXT NOT NULL CHECK (op IN ('INSERT', 'UPDATE', 'DELETE')),
  base_row_version INTEGER NOT NULL DEFAULT 0,
  payload TEXT,
  dirty_ordinal INTEGER NOT NULL,
  updated_at TEXT NOT NULL DEFAULT (${NOW_SQL}),
  PRIMARY KEY (schema_name, table_name, key_json)
);
-- Every captured write asks for MAX(dirty_ordinal): without this index each one scans the dirty
-- set, so a transaction writing n rows costs O(n^2) (10k rows took seconds, 50k minutes).
CREATE INDEX IF NOT EXISTS _sync_dirty_rows_by_ordinal ON _sync_dirty_rows (dirty_ordinal);
CREATE TABLE IF NOT EXISTS _sync_outbox_bundle (
  singleton_key INTEGER PRIMARY KEY CHECK (singleton_key = 1),
  state TEXT NOT NULL DEFAULT 'none' CHECK (state IN ('none', 'prepared', 'committed_remote')),
  source_id TEXT NOT NULL DEFAULT '',
  source_bundle_id INTEGER NOT NULL DEFAULT 0,
  row_count INTEGER NOT NULL DEFAULT 0,
  initialization_id TEXT NOT NULL DEFAULT '',
  remote_bundle_hash TEXT NOT NULL DEFAULT '',
  remote_bundle_seq INTEGER NOT NULL DEFAULT 0,
  remote_already_committed INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS _sync_outbox_rows (
  source_bundle_id INTEGER NOT NULL,
  row_ordinal INTEGER NOT NULL,
  schema_name TEXT NOT NULL,
  table_name TEXT NOT NULL,
  key_json TEXT NOT NULL,
  wire_key_json TEXT NOT NULL,
  op TEXT NOT NULL CHECK (op IN ('INSERT', 'UPDATE', 'DELETE')),
  base_row_version INTEGER NOT NULL,
  local_payload TEXT,
  wire_payload TEXT,
  PRIMARY KEY (source_bundle_id, row_ordinal)
);
CREATE TABLE IF NOT EXISTS _sync_managed_tables (
  schema_name TEXT NOT NULL,
  table_name TEXT NOT NULL,
  PRIMARY KEY (schema_name, table_name)
);
INSERT OR IGNORE INTO _sync_attachment_state (singleton_key) VALUES (1);
INSERT OR IGNORE INTO _sync_operation_state (singleton_key) VALUES (1);
INSERT OR IGNORE INTO _sync_apply_state (singleton_key) VALUES (1);
INSERT OR IGNORE INTO _sync_outbox_bundle (singleton_key) VALUES (1);
`;

/** Names of the metadata tables this client owns. */
export const METADATA_TABLES = [
  '_sync_source_state',
  '_sync_attachment_state',
  '_sync_operation_state',
  '_sync_apply_state',
  '_sync_row_state',
  '_sync_dirty_rows',
  '_sync_outbox_bundle',
  '_sync_outbox_rows',
  '_sync_managed_tables',
] as const;
