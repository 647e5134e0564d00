/** Test-owned `pg.Pool`s and Kyselys for a test database. */
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';

/**
 * A `pg.Pool` that survives its database being dropped under it.
 *
 * pg-pool's `end()` resolves before its sockets close, so the `DROP DATABASE … WITH (FORCE)` of a
 * test's cleanup can terminate them (57P01); the pool re-emits that as an 'error' event, which
 * would crash the test file without a listener (a fresh-clone CI run did exactly that). Any other
 * idle-client error still fails loudly.
 */
export function createTestPool(url: string, max = 4): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max });
  pool.on('error', (error: Error & { code?: string }) => {
    if (error.code !== '57P01') throw error;
  });
  return pool;
}

/** A Kysely over its own {@link createTestPool} pool. */
export function createTestKysely(url: string, max = 4): Kysely<unknown> {
  return new Kysely<unknown>({ dialect: new PostgresDialect({ pool: createTestPool(url, max) }) });
}
