/** A Kysely over its own `pg.Pool` for a test database. */
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';

/**
 * pg-pool's `end()` resolves before its sockets close, so the `DROP DATABASE … WITH (FORCE)` of a
 * test's cleanup can terminate them (57P01); the pool re-emits that as an 'error' event, which
 * would crash the test file without a listener. Any other idle-client error still fails loudly.
 */
export function createTestKysely(url: string, max = 4): Kysely<unknown> {
  const pool = new pg.Pool({ connectionString: url, max });
  pool.on('error', (error: Error & { code?: string }) => {
    if (error.code !== '57P01') throw error;
  });
  return new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) });
}
