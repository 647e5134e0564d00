import { sql, type Kysely } from 'kysely';
import pg from 'pg';
import { businessSchemaSql, businessTables, execSql } from '../../../../test/support/business-schema.js';
import { createTestDatabase, type TestDatabase } from '../../../../test/support/test-database.js';
import { createTestKysely } from '../../../../test/support/test-kysely.js';
import { UnsupportedSchemaError } from '../errors/index.js';
import { resolveOversyncOptions } from '../oversync-options.resolver.js';
import { SchemaBootstrapper } from './schema-bootstrapper.js';
import { SYNC_LAYOUT } from './sync-layout.constants.js';

describe('SchemaBootstrapper (real PostgreSQL)', () => {
  let db: TestDatabase;
  let kysely: Kysely<unknown>;
  const q = (text: string) => execSql(db.url, text);
  const boot = (tables = businessTables('business'), k = kysely) =>
    new SchemaBootstrapper(
      k,
      resolveOversyncOptions({ database: { kysely: k }, registeredTables: tables }),
    ).run();

  beforeAll(async () => {
    db = await createTestDatabase();
    await q(businessSchemaSql('business'));
    kysely = createTestKysely(db.url, 12);
  });
  afterAll(async () => {
    await kysely.destroy();
    await db.drop();
  });

  it('creates the layout marker and an exact catalog sorted by schema.table, with all the indexes', async () => {
    const result = await boot();
    expect(result.createdLayout).toBe(true);
    expect((await q(`SELECT * FROM sync.meta`)).rows).toEqual([
      { singleton_key: true, protocol_label: SYNC_LAYOUT.protocolLabel, layout_name: SYNC_LAYOUT.layoutName },
    ]);
    const catalog = await q(
      `SELECT table_id, table_name, sync_key_column, sync_key_kind FROM sync.table_catalog ORDER BY table_id`,
    );
    expect(catalog.rows.map((r) => [r.table_id, r.table_name, r.sync_key_column, r.sync_key_kind])).toEqual([
      [1, 'categories', 'id', 1],
      [2, 'docs', 'doc_id', 2],
      [3, 'files', 'id', 1],
      [4, 'posts', 'id', 1],
      [5, 'typed_rows', 'id', 1],
      [6, 'users', 'id', 1],
    ]);
    const indexes = (await q(`SELECT indexname FROM pg_indexes WHERE schemaname = 'sync'`)).rows.map(
      (r) => r.indexname,
    );
    expect(indexes).toEqual(
      expect.arrayContaining([
        'row_state_pkey',
        'bundle_rows_pkey',
        'bundle_log_source_tuple_key',
        'ps_expires_at_idx',
      ]),
    );
    expect((await q(`SELECT to_regclass('sync.applied_pushes') AS t`)).rows[0].t).toBeNull();
    const triggers = await q(`SELECT count(*)::int AS n FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'business' AND t.tgname LIKE 'oversync_%'`);
    expect(triggers.rows[0].n).toBe(6 * 6);
    expect(result.foreignKeys.tableOrder.indexOf('business.users')).toBeLessThan(
      result.foreignKeys.tableOrder.indexOf('business.posts'),
    );
  });

  it('refuses a database whose encoding is not UTF8, before creating anything', async () => {
    const ascii = await createTestDatabase(
      'oversync_ascii',
      "ENCODING 'SQL_ASCII' TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C'",
    );
    const k = createTestKysely(ascii.url);
    try {
      await execSql(ascii.url, businessSchemaSql('business'));
      const err = await boot(businessTables('business'), k).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UnsupportedSchemaError);
      expect((err as Error).message).toMatch(/encoding is SQL_ASCII; Oversync needs UTF8/);
      expect((await execSql(ascii.url, `SELECT to_regnamespace('sync') AS s`)).rows[0].s).toBeNull();
    } finally {
      await k.destroy();
      await ascii.drop();
    }
  });

  it('is idempotent: a second run verifies, creates nothing and re-installs dropped triggers', async () => {
    await q(`DROP TRIGGER oversync_owner_guard ON business.users`);
    // A reader holds bundle_rows open: a bootstrap that needed an exclusive lock on it (an upgrade
    // that already happened, run again) would wait behind it instead of finishing.
    const reader = new pg.Client({ connectionString: db.url });
    await reader.connect();
    try {
      await reader.query('BEGIN; SELECT count(*) FROM sync.bundle_rows');
      const again = await Promise.race([
        boot(),
        new Promise<never>((_, reject) =>
          setTimeout(() => reject(new Error('bootstrap blocked on bundle_rows')), 5000),
        ),
      ]);
      expect(again.createdLayout).toBe(false);
    } finally {
      await reader.query('ROLLBACK');
      await reader.end();
    }
    const guard = await q(
      `SELECT count(*)::int AS n FROM pg_trigger WHERE tgname = 'oversync_owner_guard' AND tgrelid = 'business.users'::regclass`,
    );
    expect(guard.rows[0].n).toBe(1);
  });

  it('upgrades a layout written by an earlier build in place, keeping capture working', async () => {
    // An earlier build staged captures in a shared unlogged table and stored payloads as json.
    await q(`CREATE UNLOGGED TABLE sync.bundle_capture_stage (capture_ordinal bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
               txid bigint NOT NULL, user_pk bigint NOT NULL, table_id integer NOT NULL, op_code smallint NOT NULL,
               key_bytes bytea NOT NULL, payload_db json)`);
    await q(`ALTER TABLE sync.bundle_rows ALTER COLUMN payload_wire TYPE json USING payload_wire::json`);
    // …and snapshots row by row in logged tables.
    await q(`DROP TABLE sync.snapshot_session_blocks, sync.snapshot_sessions`);
    await q(`CREATE TABLE sync.snapshot_sessions (snapshot_id uuid PRIMARY KEY, user_pk bigint NOT NULL,
               snapshot_bundle_seq bigint NOT NULL, row_count bigint NOT NULL DEFAULT 0, byte_count bigint NOT NULL DEFAULT 0,
               expires_at timestamptz NOT NULL)`);
    await q(
      `ALTER TABLE sync.row_state ADD CONSTRAINT row_state_user_pk_fkey FOREIGN KEY (user_pk) REFERENCES sync.user_state (user_pk)`,
    );
    await q(
      `ALTER TABLE sync.push_session_rows ADD CONSTRAINT push_session_rows_push_id_fkey FOREIGN KEY (push_id) REFERENCES sync.push_sessions (push_id) ON DELETE CASCADE`,
    );
    await q(
      `CREATE INDEX rs_user_live_snapshot_idx ON sync.row_state (user_pk, table_id, key_bytes) WHERE deleted = false`,
    );
    // …and staged push rows without their column lists.
    await q(`ALTER TABLE sync.push_session_rows DROP COLUMN column_list`);
    await boot();
    const columnList = await q(
      `SELECT data_type FROM information_schema.columns WHERE table_schema = 'sync' AND table_name = 'push_session_rows' AND column_name = 'column_list'`,
    );
    expect(columnList.rows).toEqual([{ data_type: 'text' }]);
    expect((await q(`SELECT to_regclass('sync.bundle_capture_stage') AS t`)).rows[0].t).toBeNull();
    expect((await q(`SELECT to_regclass('sync.snapshot_session_blocks')::text AS t`)).rows[0].t).toBe(
      'sync.snapshot_session_blocks',
    );
    const payloadType = await q(
      `SELECT data_type FROM information_schema.columns WHERE table_schema = 'sync' AND table_name = 'bundle_rows' AND column_name = 'payload_wire'`,
    );
    expect(payloadType.rows).toEqual([{ data_type: 'text' }]);
    expect((await q(`SELECT to_regclass('sync.rs_user_live_snapshot_idx') AS i`)).rows[0].i).toBeNull();
    expect(
      (
        await q(
          `SELECT count(*)::int AS n FROM pg_constraint WHERE conname IN ('row_state_user_pk_fkey', 'push_session_rows_push_id_fkey')`,
        )
      ).rows[0].n,
    ).toBe(0);
    // The capture trigger stages into the per-session temporary stage.
    await q(`BEGIN; SELECT sync.begin_bundle_context('upgrade-user', 1, 'src', 1, NULL);
             INSERT INTO business.docs (doc_id, body) VALUES ('d-upgrade', 'x'); ROLLBACK;`);
  });

  it('survives several instances bootstrapping at once', async () => {
    const results = await Promise.all(Array.from({ length: 6 }, () => boot()));
    expect(results.every((r) => r.createdLayout === false)).toBe(true);
    expect((await q(`SELECT count(*)::int AS n FROM sync.table_catalog`)).rows[0].n).toBe(6);
  });

  it('fails closed when the registered tables differ from the stored catalog', async () => {
    const err = await boot(businessTables('business').slice(0, 5)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnsupportedSchemaError);
    expect((err as UnsupportedSchemaError).details.rule).toBe('catalog_mismatch');
    expect((err as Error).message).toMatch(/Fix: /);
  });

  it('refuses a layout marker it does not know and a foreign sync schema', async () => {
    await q(`UPDATE sync.meta SET layout_name = 'server_postgres_sync_v1'`);
    await expect(boot()).rejects.toThrow(/unsupported layout/);
    await q(`UPDATE sync.meta SET layout_name = '${SYNC_LAYOUT.layoutName}'`);

    const other = await createTestDatabase();
    const k2 = createTestKysely(other.url, 12);
    try {
      await execSql(
        other.url,
        businessSchemaSql('business') + `CREATE SCHEMA sync; CREATE TABLE sync.foreign_thing (id int);`,
      );
      await expect(boot(businessTables('business'), k2)).rejects.toThrow(
        /existing sync schema uses unsupported layout/,
      );
      await execSql(other.url, `DROP TABLE sync.foreign_thing; CREATE TABLE sync.meta (x int);`);
      await expect(boot(businessTables('business'), k2)).rejects.toThrow(/missing required marker tables/);
    } finally {
      await k2.destroy();
      await other.drop();
    }
  });

  it('creates the layout exactly once when several instances start at once on a fresh database', async () => {
    const fresh = await createTestDatabase();
    const k2 = createTestKysely(fresh.url, 12);
    try {
      await execSql(fresh.url, businessSchemaSql('business'));
      const results = await Promise.all(
        Array.from({ length: 5 }, () => boot(businessTables('business'), k2)),
      );
      expect(results.filter((r) => r.createdLayout)).toHaveLength(1);
      expect((await execSql(fresh.url, `SELECT count(*)::int AS n FROM sync.meta`)).rows[0].n).toBe(1);
    } finally {
      await k2.destroy();
      await fresh.drop();
    }
  });

  it('leaves no layout behind when foreign keys are rejected', async () => {
    const other = await createTestDatabase();
    const k2 = createTestKysely(other.url, 12);
    try {
      await execSql(other.url, businessSchemaSql('business'));
      const onlyPosts = businessTables('business').filter((t) => t.table === 'posts');
      await expect(boot(onlyPosts, k2)).rejects.toThrow(/FK-closed/);
      const { rows } = await sql<{ s: string | null }>`SELECT to_regnamespace('sync')::text AS s`.execute(k2);
      expect(rows[0].s).toBeNull();
    } finally {
      await k2.destroy();
      await other.drop();
    }
  });
});
