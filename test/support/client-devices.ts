/**
 * Real `@oversync/client` devices for the client end-to-end suites: a real sql.js database with
 * the client schema, a persister, and a client talking real HTTP to the real Nest app.
 */
import {
  MemoryPersister,
  OversyncClient,
  type FetchLike,
  type OversyncClientOptions,
  type OversyncPersister,
} from '@oversync/client';
import initSqlJs, { type Database, type SqlJsStatic, type SqlValue } from 'sql.js';
import { CLIENT_SCHEMA_SQL, CLIENT_TABLES } from './client-schema.js';

let sqlJs: Promise<SqlJsStatic> | undefined;

/** sql.js, initialised once per test file (the Node build finds its wasm in node_modules). */
export function loadSqlJs(): Promise<SqlJsStatic> {
  sqlJs ??= initSqlJs();
  return sqlJs;
}

/** One app install: its database, persister and client. */
export interface Device {
  readonly db: Database;
  readonly client: OversyncClient;
  readonly persister: OversyncPersister;
  readonly userId: string;
  readonly baseUrl: string;
}

/** Options of {@link openDevice}. */
export interface DeviceOptions extends Partial<Omit<OversyncClientOptions, 'db' | 'persistence'>> {
  baseUrl: string;
  userId: string;
  /** Where the image lives; a fresh {@link MemoryPersister} by default. */
  persister?: OversyncPersister;
  /** Call `attach(userId)` after `open()` (default true). */
  attach?: boolean;
  /** Runs on a fresh database after the schema is created and before `open()`. */
  seed?: (db: Database) => void;
}

/**
 * Opens a device: loads the persisted image (a restart) or creates the client schema, constructs
 * the client with fast retries and manual background sync, opens it and (by default) attaches.
 * The bearer token is the user id (the test app's resolver).
 */
export async function openDevice(options: DeviceOptions): Promise<Device> {
  const { baseUrl, userId, attach = true, seed, ...clientOptions } = options;
  const SQL = await loadSqlJs();
  const persister = options.persister ?? new MemoryPersister();
  const image = await persister.load();
  const db = new SQL.Database(image ?? undefined);
  if (!image) {
    db.exec(CLIENT_SCHEMA_SQL);
    seed?.(db);
  }
  const client = new OversyncClient({
    getToken: () => userId,
    schema: 'business',
    tables: CLIENT_TABLES,
    retry: { maxAttempts: 3, initialBackoffMs: 5, maxBackoffMs: 20, jitterFraction: 0 },
    exportDebounceMs: 5,
    sqlJs: SQL,
    ...clientOptions,
    baseUrl,
    db,
    persistence: persister,
  });
  await client.open();
  if (attach) {
    const result = await client.attach(userId);
    if (result.status !== 'connected') throw new Error(`attach(${userId}) answered ${result.status}`);
  }
  return { db, client, persister, userId, baseUrl };
}

/** Closes the device's client (flushing) and its sql.js database. */
export async function closeDevice(device: Device): Promise<void> {
  await device.client.close();
  device.db.close();
}

/**
 * Restarts a device from what its persister holds: the old client is closed, then a new database
 * is loaded from the persisted image and a new client opened on it (attach resumes offline).
 */
export async function restartDevice(
  device: Device,
  options: Partial<DeviceOptions> & { fetch?: FetchLike } = {},
): Promise<Device> {
  await closeDevice(device);
  return openDevice({
    baseUrl: device.baseUrl,
    userId: device.userId,
    persister: device.persister,
    ...options,
  });
}

/** Rows of a query as objects. */
export function sqliteRows(db: Database, sql: string, params: SqlValue[] = []): Record<string, SqlValue>[] {
  const stmt = db.prepare(sql);
  try {
    stmt.bind(params);
    const out: Record<string, SqlValue>[] = [];
    while (stmt.step()) out.push(stmt.getAsObject());
    return out;
  } finally {
    stmt.free();
  }
}

/** First column of the first row (null when there is none). */
export function sqliteScalar(db: Database, sql: string, params: SqlValue[] = []): SqlValue {
  const first = sqliteRows(db, sql, params)[0];
  return first ? (Object.values(first)[0] ?? null) : null;
}

/** `SELECT COUNT(*)` of a table (or a query) as a number. */
export function sqliteCount(db: Database, tableOrSql: string, params: SqlValue[] = []): number {
  const sql = /\s/.test(tableOrSql) ? tableOrSql : `SELECT COUNT(*) FROM ${tableOrSql}`;
  return Number(sqliteScalar(db, sql, params));
}

/** Metadata counts of a device (dirty, outbox, push stage) and its checkpoint. */
export function syncState(db: Database): {
  dirty: number;
  outbox: number;
  outboxState: string;
  lastBundleSeqSeen: number;
  nextSourceBundleId: number;
} {
  const attachment = sqliteRows(db, 'SELECT * FROM _sync_attachment_state')[0] ?? {};
  const source = String(attachment['current_source_id'] ?? '');
  return {
    dirty: sqliteCount(db, '_sync_dirty_rows'),
    outbox: sqliteCount(db, '_sync_outbox_rows'),
    outboxState: String(sqliteScalar(db, 'SELECT state FROM _sync_outbox_bundle')),
    lastBundleSeqSeen: Number(attachment['last_bundle_seq_seen'] ?? 0),
    nextSourceBundleId: Number(
      sqliteScalar(db, 'SELECT next_source_bundle_id FROM _sync_source_state WHERE source_id = ?', [source]),
    ),
  };
}

/** The rejection of `promise` (fails the test when it resolves). */
export async function failure(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected the operation to fail, but it succeeded');
}

/**
 * Opens a device from a crash image: a new persister (memory by default) is seeded with `image`,
 * then {@link openDevice} loads it, exactly like an app restarting after a crash.
 */
export async function openFromImage(
  image: Uint8Array,
  options: DeviceOptions & { persister?: OversyncPersister },
): Promise<Device> {
  const persister = options.persister ?? new MemoryPersister();
  await persister.save(image);
  return openDevice({ ...options, persister });
}

/** Loads an image into a throwaway sql.js database for inspection. */
export async function inspectImage<T>(image: Uint8Array, read: (db: Database) => T): Promise<T> {
  const SQL = await loadSqlJs();
  const db = new SQL.Database(image);
  try {
    return read(db);
  } finally {
    db.close();
  }
}
