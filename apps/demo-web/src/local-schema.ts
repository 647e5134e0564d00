import { type SyncTableConfig } from '@oversync/client';

/** Server schema of every synced table. */
export const SERVER_SCHEMA = 'business';

/**
 * Local SQLite tables. Columns mirror the server tables in `apps/demo-server` (minus the scope
 * column `_sync_scope_id`), because every payload carries every column: users(id, name, email,
 * created_at, updated_at), posts(id, title, content, author_id, created_at, updated_at) and
 * typed_items (uuid, bytea, timestamptz, boolean, numeric and jsonb values).
 */
export const LOCAL_SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS users (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  email TEXT NOT NULL DEFAULT '',
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS posts (
  id TEXT PRIMARY KEY,
  title TEXT NOT NULL,
  content TEXT NOT NULL DEFAULT '',
  author_id TEXT REFERENCES users(id) DEFERRABLE INITIALLY DEFERRED,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS typed_items (
  id TEXT PRIMARY KEY,
  label TEXT NOT NULL,
  data BLOB,
  seen_at TEXT,
  done INTEGER NOT NULL DEFAULT 0,
  amount TEXT,
  meta TEXT
);
CREATE INDEX IF NOT EXISTS posts_created_at ON posts (created_at);
`;

/** The synced tables and their sync keys (parents are ordered by the client). */
export const SYNC_TABLES: readonly SyncTableConfig[] = [
  { table: 'users', syncKeyColumn: 'id' },
  { table: 'posts', syncKeyColumn: 'id' },
  { table: 'typed_items', syncKeyColumn: 'id' },
];
