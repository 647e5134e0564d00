import pg from 'pg';
import { businessSchemaSql, businessTables, execSql } from '../../../../test/support/business-schema.js';
import { createTestDatabase, type TestDatabase } from '../../../../test/support/test-database.js';
import { createTestKysely } from '../../../../test/support/test-kysely.js';
import type { Kysely } from 'kysely';
import { resolveOversyncOptions } from '../oversync-options.resolver.js';
import { SchemaBootstrapper } from './schema-bootstrapper.js';

/**
 * Another instance starting (rolling deploy, autoscaling) while the database is in use: when the
 * layout and triggers are already current, its bootstrap must not queue an exclusive lock on the
 * business tables behind a long reader (a report, pg_dump), since every other statement on those
 * tables would then queue behind it.
 */
describe('SchemaBootstrapper on a database in use (real PostgreSQL)', () => {
  let db: TestDatabase;
  let kysely: Kysely<unknown>;
  const boot = () =>
    new SchemaBootstrapper(
      kysely,
      resolveOversyncOptions({ database: { kysely }, registeredTables: businessTables('business') }),
    ).run();

  beforeAll(async () => {
    db = await createTestDatabase();
    await execSql(db.url, businessSchemaSql('business'));
    kysely = createTestKysely(db.url, 6);
    await boot();
  });
  afterAll(async () => {
    await kysely.destroy();
    await db.drop();
  });

  it('starts again while a long transaction reads the registered tables, without blocking other readers', async () => {
    const reader = new pg.Client({ connectionString: db.url });
    await reader.connect();
    try {
      await reader.query('BEGIN; SELECT count(*) FROM business.users; SELECT count(*) FROM business.posts');
      let timer: NodeJS.Timeout | undefined;
      const outcome = await Promise.race([
        boot().then(() => 'started'),
        new Promise<string>((resolve) => (timer = setTimeout(() => resolve('blocked'), 3000))),
      ]);
      clearTimeout(timer);
      expect(outcome).toBe('started');
    } finally {
      await reader.query('ROLLBACK');
      await reader.end();
    }
    // The triggers it left alone still guard the tables.
    await expect(
      execSql(db.url, `INSERT INTO business.docs (_sync_scope_id, doc_id) VALUES ('u', 'outside')`),
    ).rejects.toMatchObject({ code: 'OV001' });
  });

  it('still repairs a disabled trigger, a dropped one and one installed from other DDL', async () => {
    await execSql(
      db.url,
      `ALTER TABLE business.users DISABLE TRIGGER oversync_capture_insert;
       DROP TRIGGER oversync_block_truncate ON business.posts;
       COMMENT ON TRIGGER oversync_capture_delete ON business.docs IS NULL;`,
    );
    await boot();
    const { rows } = await execSql(
      db.url,
      `SELECT c.relname AS table_name, count(*)::int AS n, bool_and(tg.tgenabled = 'O') AS enabled,
              bool_and(obj_description(tg.oid, 'pg_trigger') LIKE 'oversync trigger %') AS marked
         FROM pg_trigger tg JOIN pg_class c ON c.oid = tg.tgrelid
        WHERE c.relnamespace = 'business'::regnamespace AND tg.tgname LIKE 'oversync_%'
        GROUP BY 1 ORDER BY 1`,
    );
    expect(rows).toEqual(
      ['categories', 'docs', 'files', 'posts', 'typed_rows', 'users'].map((table_name) => ({
        table_name,
        n: 6,
        enabled: true,
        marked: true,
      })),
    );
  });
});
