import initSqlJs, { type Database, type SqlJsStatic, type SqlValue } from 'sql.js';

import { MemoryPersister } from '../db/memory.persister.js';
import { OversyncClient } from '../oversync-client.js';
import { type OversyncClientOptions } from '../oversync-client.options.js';
import { FakeOversyncServer, type FakeServerOptions } from './fake-oversync-server.js';

let sqlJs: Promise<SqlJsStatic> | undefined;

/** sql.js, initialised once per test file (the Node build finds its wasm in node_modules). */
export function loadSqlJs(): Promise<SqlJsStatic> {
  sqlJs ??= initSqlJs();
  return sqlJs;
}

/** App tables used by most client tests. */
export const APP_SCHEMA_SQL = `
CREATE TABLE users (id TEXT PRIMARY KEY, name TEXT, email TEXT);
CREATE TABLE posts (id TEXT PRIMARY KEY, author_id TEXT REFERENCES users(id) ON DELETE CASCADE, title TEXT, score REAL);
CREATE TABLE files (id BLOB PRIMARY KEY, owner BLOB REFERENCES files(id), data BLOB, size INTEGER);
`;

export const APP_TABLES = [
  { table: 'users', syncKeyColumn: 'id' },
  { table: 'posts', syncKeyColumn: 'id' },
  { table: 'files', syncKeyColumn: 'id' },
];

export const SERVER_OPTIONS: FakeServerOptions = {
  schema: 'business',
  tables: [
    { table: 'users', keyColumn: 'id' },
    { table: 'posts', keyColumn: 'id' },
    { table: 'files', keyColumn: 'id' },
  ],
  uuidKeyTables: ['files'],
};

/** A new fake server with the app tables. */
export function newServer(overrides: Partial<FakeServerOptions> = {}): FakeOversyncServer {
  return new FakeOversyncServer({ ...SERVER_OPTIONS, ...overrides });
}

/** One simulated app install: a sql.js database, its persister and a client. */
export interface Device {
  readonly db: Database;
  readonly client: OversyncClient;
  readonly persister: MemoryPersister;
  readonly userId: string;
}

export type DeviceOptions = Partial<Omit<OversyncClientOptions, 'db' | 'fetch'>> & {
  userId?: string;
  persister?: MemoryPersister;
  /** Skip `open()`. */
  noOpen?: boolean;
  fetch?: OversyncClientOptions['fetch'];
};

/**
 * Opens a device from the persister's image (a restart) or creates a fresh database with the app
 * tables. The token is the user id (the fake server's convention).
 */
export async function newDevice(server: FakeOversyncServer, options: DeviceOptions = {}): Promise<Device> {
  const SQL = await loadSqlJs();
  const persister = options.persister ?? new MemoryPersister();
  const image = await persister.load();
  const db = new SQL.Database(image ?? undefined);
  if (!image) db.exec(APP_SCHEMA_SQL);
  const userId = options.userId ?? 'user-1';
  const client = new OversyncClient({
    baseUrl: 'http://oversync.test',
    getToken: () => userId,
    schema: 'business',
    tables: APP_TABLES,
    retry: { initialBackoffMs: 1, maxBackoffMs: 2, jitterFraction: 0 },
    sqlJs: SQL,
    ...options,
    db,
    fetch: options.fetch ?? server.fetch,
    persistence: persister,
  });
  if (!options.noOpen) await client.open();
  return { db, client, persister, userId };
}

/** Simulates a crash and restart: a new database from the last persisted image. */
export function restart(
  device: Device,
  server: FakeOversyncServer,
  options: DeviceOptions = {},
): Promise<Device> {
  return newDevice(server, { userId: device.userId, ...options, persister: device.persister });
}

/** Rows of a query as objects. */
export function rows(db: Database, sql: string, params: SqlValue[] = []): Record<string, SqlValue>[] {
  const stmt = db.prepare(sql);
  stmt.bind(params);
  const out: Record<string, SqlValue>[] = [];
  while (stmt.step()) out.push(stmt.getAsObject());
  stmt.free();
  return out;
}

/** First column of the first row. */
export function scalar(db: Database, sql: string, params: SqlValue[] = []): SqlValue {
  return rows(db, sql, params).map((r) => Object.values(r)[0] ?? null)[0] ?? null;
}
