import pg from 'pg';

/**
 * The demo's business schema (go-oversync's getting-started shape): every table carries the
 * scope column `_sync_scope_id`, keys are `(_sync_scope_id, id)` and FKs are scope-inclusive and
 * deferrable. Idempotent.
 */
export const DEMO_MIGRATION = `
CREATE SCHEMA IF NOT EXISTS business;
CREATE TABLE IF NOT EXISTS business.users (
  _sync_scope_id text NOT NULL, id text NOT NULL, name text NOT NULL, email text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (_sync_scope_id, id));
CREATE TABLE IF NOT EXISTS business.posts (
  _sync_scope_id text NOT NULL, id uuid NOT NULL, title text NOT NULL, content text NOT NULL DEFAULT '',
  author_id text, created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (_sync_scope_id, id),
  FOREIGN KEY (_sync_scope_id, author_id) REFERENCES business.users (_sync_scope_id, id)
    ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED);
CREATE TABLE IF NOT EXISTS business.typed_items (
  _sync_scope_id text NOT NULL, id uuid NOT NULL, label text NOT NULL, data bytea, seen_at timestamptz,
  done boolean NOT NULL DEFAULT false, amount numeric, meta jsonb,
  PRIMARY KEY (_sync_scope_id, id));
`;

export const DEMO_TABLES = [
  { schema: 'business', table: 'users', syncKeyColumns: ['id'] },
  { schema: 'business', table: 'posts', syncKeyColumns: ['id'] },
  { schema: 'business', table: 'typed_items', syncKeyColumns: ['id'] },
];

export async function migrateDemo(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(DEMO_MIGRATION);
  } finally {
    await client.end();
  }
}
