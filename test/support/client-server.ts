/**
 * The server side of the client end-to-end suites: the real Nest app on a random port, direct
 * PostgreSQL reads of the business tables, server-originated writes, and a normalised row view
 * that lets a test compare PostgreSQL rows with a device's SQLite rows.
 */
import { ScopeManager, type OversyncModuleOptions } from '@oversync/nestjs';
import { sql, type Transaction } from 'kysely';
import pg from 'pg';
import type { Database, SqlValue } from 'sql.js';
import { sqliteRows } from './client-devices.js';
import { createOversyncTestApp, type OversyncTestApp } from './oversync-app.js';
import { createTestPool } from './test-kysely.js';

/** The running server plus a PostgreSQL pool on its database. */
export interface ClientServer {
  readonly t: OversyncTestApp;
  readonly baseUrl: string;
  readonly pool: pg.Pool;
  /** Runs `fn` as a server-originated bundle for `scope` (auto-initialises an empty scope). */
  write(
    scope: string,
    fn: (trx: Transaction<unknown>) => Promise<unknown>,
    writerId?: string,
  ): Promise<number>;
  close(): Promise<void>;
}

/** Boots the app (listening) with extra module options. One per test file. */
export async function startClientServer(options: Partial<OversyncModuleOptions> = {}): Promise<ClientServer> {
  const t = await createOversyncTestApp({ listen: true, options });
  const pool = createTestPool(t.db.url, 2);
  return {
    t,
    baseUrl: t.baseUrl,
    pool,
    write: async (scope, fn, writerId = 'server-writer') => {
      const result = await t.get(ScopeManager).execWrite(scope, { writerId }, fn);
      return Number(result.bundle.bundle_seq);
    },
    close: async () => {
      await pool.end();
      await t.close();
    },
  };
}

/** Runs raw SQL inside a server write (the scope id is bound as `$1`-free text in `text`). */
export function rawSql(text: string): (trx: Transaction<unknown>) => Promise<unknown> {
  return (trx) => sql.raw(text).execute(trx);
}

/** Escapes a string literal for {@link rawSql}. */
export function lit(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/** A row normalised for comparison: every value a string or null. */
export type NormalRow = Record<string, string | null>;

type ColumnKind = 'text' | 'uuid' | 'blob-uuid' | 'ts' | 'bytes' | 'num' | 'bool';

/** Columns compared per table (the server columns minus `_sync_scope_id`). */
export const COMPARED_COLUMNS: Record<string, Record<string, ColumnKind>> = {
  users: { id: 'uuid', name: 'text', email: 'text', created_at: 'ts', updated_at: 'ts' },
  posts: {
    id: 'uuid',
    title: 'text',
    content: 'text',
    author_id: 'uuid',
    created_at: 'ts',
    updated_at: 'ts',
  },
  categories: { id: 'uuid', name: 'text', parent_id: 'uuid' },
  files: { id: 'blob-uuid', name: 'text', data: 'bytes' },
  docs: { doc_id: 'text', body: 'text' },
};

function text(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean')
    return String(value);
  return JSON.stringify(value);
}

function normalise(kind: ColumnKind, value: unknown): string | null {
  if (value === null || value === undefined) return null;
  switch (kind) {
    case 'ts':
      return new Date(value instanceof Date ? value : text(value)).toISOString();
    case 'bytes':
      return Buffer.from(value as Uint8Array).toString('hex');
    case 'blob-uuid':
      return typeof value === 'string'
        ? value.replaceAll('-', '')
        : Buffer.from(value as Uint8Array).toString('hex');
    case 'num':
      return String(Number(value));
    case 'bool':
      return value === true || value === 1 || value === '1' || value === 't' ? 'true' : 'false';
    default:
      return text(value);
  }
}

function byKey(rows: NormalRow[]): NormalRow[] {
  return rows.sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
}

/** The scope's rows of `table` in PostgreSQL, normalised and sorted. */
export async function serverTable(pool: pg.Pool, table: string, scope: string): Promise<NormalRow[]> {
  const columns = COMPARED_COLUMNS[table];
  const select = Object.entries(columns)
    .map(([name, kind]) => (kind === 'uuid' || kind === 'blob-uuid' ? `${name}::text AS ${name}` : name))
    .join(', ');
  const result = await pool.query<Record<string, unknown>>(
    `SELECT ${select} FROM business.${table} WHERE _sync_scope_id = $1`,
    [scope],
  );
  return byKey(
    result.rows.map((r) =>
      Object.fromEntries(Object.entries(columns).map(([name, kind]) => [name, normalise(kind, r[name])])),
    ),
  );
}

/** A device's rows of `table`, normalised like {@link serverTable}. */
export function deviceTable(db: Database, table: string): NormalRow[] {
  const columns = COMPARED_COLUMNS[table];
  const rows = sqliteRows(db, `SELECT ${Object.keys(columns).join(', ')} FROM ${table}`);
  return byKey(
    rows.map((r: Record<string, SqlValue>) =>
      Object.fromEntries(Object.entries(columns).map(([name, kind]) => [name, normalise(kind, r[name])])),
    ),
  );
}

/** PostgreSQL rows of a query. */
export async function pgRows<T extends Record<string, unknown> = Record<string, unknown>>(
  pool: pg.Pool,
  text: string,
  values: unknown[] = [],
): Promise<T[]> {
  return (await pool.query<T>(text, values)).rows;
}
