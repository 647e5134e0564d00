/**
 * Per-file throwaway databases on the run's PostgreSQL server. Every `*.pg.spec.ts` and e2e file
 * calls `createTestDatabase()` in `beforeAll` and `drop()` in `afterAll`, so files never share state
 * and can run in parallel.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export interface TestDatabase {
  /** Connection string of the fresh database. */
  url: string;
  name: string;
  /** Drops the database, terminating any connection a test left open. */
  drop(): Promise<void>;
}

export function adminUrl(): string {
  const url = process.env.OVERSYNC_TEST_ADMIN_URL ?? process.env.DATABASE_URL;
  if (!url) {
    throw new Error(
      'No test PostgreSQL: run the tests with `npm test` (its global setup starts one) or set DATABASE_URL.',
    );
  }
  return url;
}

/** A fresh database; `options` is appended to CREATE DATABASE (e.g. an ENCODING clause). */
export async function createTestDatabase(prefix = 'oversync_test', options = ''): Promise<TestDatabase> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl() });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}" ${options}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl());
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    drop: async () => {
      const c = new pg.Client({ connectionString: adminUrl() });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}
