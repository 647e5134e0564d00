/**
 * The device-side SQLite schema of the client end-to-end suites: go-oversync's e2e client schema
 * (scenarios §1.4) with columns mirroring `business-schema.ts` exactly (minus `_sync_scope_id`),
 * so every payload a device pushes fits the server table.
 */
import { randomUUID } from 'node:crypto';
import type { SyncTableConfig } from '@oversync/client';

const NOW = "(strftime('%Y-%m-%dT%H:%M:%fZ','now'))";

/** SQLite DDL for every synced table (TEXT keys holding dashed UUIDs; BLOB UUID keys for files). */
export const CLIENT_SCHEMA_SQL = `
CREATE TABLE users (
  id TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL, email TEXT NOT NULL,
  created_at TEXT NOT NULL DEFAULT ${NOW}, updated_at TEXT NOT NULL DEFAULT ${NOW});
CREATE TABLE posts (
  id TEXT PRIMARY KEY NOT NULL, title TEXT NOT NULL, content TEXT NOT NULL,
  author_id TEXT REFERENCES users(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
  created_at TEXT NOT NULL DEFAULT ${NOW}, updated_at TEXT NOT NULL DEFAULT ${NOW});
CREATE TABLE categories (
  id TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL,
  parent_id TEXT REFERENCES categories(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED);
CREATE TABLE files (id BLOB PRIMARY KEY NOT NULL, name TEXT NOT NULL, data BLOB NOT NULL);
CREATE TABLE typed_rows (
  id TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL, note TEXT, count_value INTEGER,
  enabled_flag INTEGER NOT NULL, rating REAL, data BLOB, created_at TEXT, amount REAL, tags JSON,
  active INTEGER);
CREATE TABLE docs (doc_id TEXT PRIMARY KEY NOT NULL, body TEXT);
`;

/** Managed tables of {@link CLIENT_SCHEMA_SQL}, in the server's registration order. */
export const CLIENT_TABLES: readonly SyncTableConfig[] = [
  { table: 'users', syncKeyColumn: 'id' },
  { table: 'posts', syncKeyColumn: 'id' },
  { table: 'categories', syncKeyColumn: 'id' },
  { table: 'files', syncKeyColumn: 'id' },
  { table: 'typed_rows', syncKeyColumn: 'id' },
  { table: 'docs', syncKeyColumn: 'doc_id' },
];

/** A canonical (dashed, lowercase) UUID. */
export function uuid(): string {
  return randomUUID();
}

/** A unique user (scope) id for one test. */
export function userId(label: string): string {
  return `${label}-${randomUUID().slice(0, 8)}`;
}

/** 16 bytes of a dashed UUID (the local form of a BLOB UUID key). */
export function uuidBytes(id: string): Uint8Array {
  return Uint8Array.from(Buffer.from(id.replaceAll('-', ''), 'hex'));
}
