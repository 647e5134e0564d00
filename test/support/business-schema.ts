/**
 * The business schema of go-oversync's example server (scenarios.md §1.2), created under any
 * schema name, plus the ad-hoc tables some scenarios need. Every table is scope-prefixed and every
 * FK scope-inclusive and deferrable, as the bootstrap rules require.
 */
import pg from 'pg';

export function businessSchemaSql(schema: string): string {
  const s = `"${schema}"`;
  return `
CREATE SCHEMA ${s};
CREATE TABLE ${s}.users (
  _sync_scope_id text NOT NULL, id uuid NOT NULL, name text NOT NULL, email text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (_sync_scope_id, id));
CREATE TABLE ${s}.posts (
  _sync_scope_id text NOT NULL, id uuid NOT NULL, title text NOT NULL, content text NOT NULL, author_id uuid,
  created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (_sync_scope_id, id),
  FOREIGN KEY (_sync_scope_id, author_id) REFERENCES ${s}.users (_sync_scope_id, id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED);
CREATE TABLE ${s}.categories (
  _sync_scope_id text NOT NULL, id uuid NOT NULL, name text NOT NULL, parent_id uuid,
  PRIMARY KEY (_sync_scope_id, id),
  FOREIGN KEY (_sync_scope_id, parent_id) REFERENCES ${s}.categories (_sync_scope_id, id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED);
CREATE TABLE ${s}.files (
  _sync_scope_id text NOT NULL, id uuid NOT NULL, name text NOT NULL, data bytea NOT NULL,
  PRIMARY KEY (_sync_scope_id, id));
CREATE TABLE ${s}.typed_rows (
  _sync_scope_id text NOT NULL, id uuid NOT NULL, name text NOT NULL, note text, count_value bigint,
  enabled_flag bigint NOT NULL, rating double precision, data bytea, created_at timestamptz, amount numeric,
  tags jsonb, active boolean,
  PRIMARY KEY (_sync_scope_id, id));
CREATE TABLE ${s}.docs (
  _sync_scope_id text NOT NULL, doc_id text NOT NULL, body text,
  PRIMARY KEY (_sync_scope_id, doc_id));
CREATE TABLE ${s}.unregistered_notes (id uuid PRIMARY KEY, body text);
`;
}

/** Registered tables for {@link businessSchemaSql} (everything except `unregistered_notes`). */
export function businessTables(
  schema: string,
): Array<{ schema: string; table: string; syncKeyColumns: string[] }> {
  return [
    { schema, table: 'users', syncKeyColumns: ['id'] },
    { schema, table: 'posts', syncKeyColumns: ['id'] },
    { schema, table: 'categories', syncKeyColumns: ['id'] },
    { schema, table: 'files', syncKeyColumns: ['id'] },
    { schema, table: 'typed_rows', syncKeyColumns: ['id'] },
    { schema, table: 'docs', syncKeyColumns: ['doc_id'] },
  ];
}

/** Runs SQL on a database URL with a short-lived client. */
export async function execSql(url: string, text: string, values: unknown[] = []): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(text, values);
  } finally {
    await client.end();
  }
}
