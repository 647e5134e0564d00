import pg from 'pg';
import { createTestDatabase } from './test-database.js';

describe('test database harness', () => {
  it('gives each file a fresh, empty, writable database', async () => {
    const db = await createTestDatabase();
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ n: string }>(
        "SELECT count(*)::text AS n FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog','information_schema')",
      );
      expect(rows[0]?.n).toBe('0');
      await client.query('CREATE TABLE t (id int)');
    } finally {
      await client.end();
      await db.drop();
    }
  });
});
