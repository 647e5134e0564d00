import { businessSchemaSql, businessTables, execSql } from '../../../../test/support/business-schema.js';
import { createTestDatabase } from '../../../../test/support/test-database.js';
import { createTestKysely } from '../../../../test/support/test-kysely.js';
import { resolveOversyncOptions } from '../oversync-options.resolver.js';
import { SchemaBootstrapper } from './schema-bootstrapper.js';

/**
 * A host may run its database with a stricter default isolation (`ALTER DATABASE … SET
 * default_transaction_isolation`). Bootstrap takes its advisory lock inside the first statement of
 * its transactions, so under REPEATABLE READ or SERIALIZABLE the snapshot would predate the wait
 * for the lock, and an instance that waited would not see the layout the winner just created.
 */
describe.each(['repeatable read', 'serializable'])(
  'SchemaBootstrapper on a database whose default isolation is %s (real PostgreSQL)',
  (isolation) => {
    it('creates the layout exactly once when several instances start at once on a fresh database', async () => {
      const fresh = await createTestDatabase();
      const kysely = createTestKysely(fresh.url, 12);
      try {
        await execSql(fresh.url, businessSchemaSql('business'));
        await execSql(
          fresh.url,
          `ALTER DATABASE "${fresh.name}" SET default_transaction_isolation = '${isolation}'`,
        );
        const tables = businessTables('business');
        const boot = () =>
          new SchemaBootstrapper(
            kysely,
            resolveOversyncOptions({ database: { kysely }, registeredTables: tables }),
          ).run();
        const results = await Promise.allSettled(Array.from({ length: 5 }, () => boot()));
        expect(results.map((r) => (r.status === 'rejected' ? String(r.reason) : 'ok'))).toEqual(
          Array(5).fill('ok'),
        );
        const created = results.filter((r) => r.status === 'fulfilled' && r.value.createdLayout);
        expect(created).toHaveLength(1);
        expect((await execSql(fresh.url, `SELECT count(*)::int AS n FROM sync.meta`)).rows[0].n).toBe(1);
      } finally {
        await kysely.destroy();
        await fresh.drop();
      }
    });
  },
);
