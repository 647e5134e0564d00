/**
 * How the module behaves inside the host's own database set-up: a host-owned Kysely that carries
 * plugins, a host-owned `pg.Pool`, and a database whose default isolation is stricter than READ
 * COMMITTED.
 */
import {
  CamelCasePlugin,
  Kysely,
  ParseJSONResultsPlugin,
  PostgresDialect,
  sql,
  type KyselyPlugin,
} from 'kysely';
import { Injectable, Module, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  OversyncConfigError,
  OversyncModule,
  ScopeManager,
  ScopeWriteContext,
  SyncService,
} from '@oversync/nestjs';
import type { PullResponse, SnapshotChunkResponse, SnapshotSession } from '@oversync/protocol';
import pg from 'pg';
import { businessSchemaSql, businessTables, execSql } from '../support/business-schema.js';
import { bearerUserId, createOversyncTestApp, type OversyncTestApp } from '../support/oversync-app.js';
import { commitUsers, initEmptyScope, openWatch, q, waitFor } from '../support/read-builders.js';
import { syncCall, syncClient } from '../support/sync-http.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createTestPool } from '../support/test-kysely.js';

/** The host's view of one table: column names as the host writes them through its plugin. */
type HostUsers = Record<'business.users', Record<string, unknown>>;

describe.each<[string, () => KyselyPlugin, string]>([
  ['CamelCasePlugin', () => new CamelCasePlugin(), 'createdAt'],
  ['ParseJSONResultsPlugin', () => new ParseJSONResultsPlugin(), 'created_at'],
])('a host-owned Kysely with %s', (name, plugin, createdAtColumn) => {
  let db: TestDatabase;
  let t: OversyncTestApp;
  let kysely: Kysely<unknown>;

  beforeAll(async () => {
    db = await createTestDatabase();
    await execSql(db.url, businessSchemaSql('business'));
    kysely = new Kysely<unknown>({
      dialect: new PostgresDialect({ pool: createTestPool(db.url, 4) }),
      plugins: [plugin()],
    });
    t = await createOversyncTestApp({
      listen: true,
      database: db,
      skipSchema: true,
      options: { database: { kysely } },
    });
  });
  afterAll(async () => {
    await t?.close();
    await kysely?.destroy();
    await db?.drop();
  });

  it('boots, and serves pull, committed rows and single-row snapshot pages as valid JSON', async () => {
    const user = 'plugin-user';
    await commitUsers(t, user, 1, { names: ['Ada'] });
    const client = syncClient(t.baseUrl, user, 'device');

    const pull = await client<PullResponse>({ path: '/sync/pull' });
    expect(pull.status).toBe(200);
    expect(pull.json.stable_bundle_seq).toBe(1);
    expect(pull.json.bundles[0].rows[0]).toMatchObject({ table: 'users', payload: { name: 'Ada' } });

    const committed = await client({ path: '/sync/committed-bundles/1/rows' });
    expect(committed.status).toBe(200);
    expect(committed.json).toMatchObject({ bundle_seq: 1, rows: [{ table: 'users' }] });

    const snapshot = await client<SnapshotSession>({ method: 'POST', path: '/sync/snapshot-sessions' });
    expect(snapshot.status).toBe(200);
    const page = await client<SnapshotChunkResponse>({
      path: `/sync/snapshot-sessions/${snapshot.json.snapshot_id}?max_rows=1`,
    });
    expect(page.status).toBe(200);
    expect(page.json).toMatchObject({ next_row_ordinal: 1, has_more: false });
    expect(page.json.rows[0]).toMatchObject({ table: 'users', payload: { name: 'Ada' } });

    const status = await syncCall(t.baseUrl, { path: '/syncx/status' });
    expect(status.json).toMatchObject({ status: 'healthy', committed_bundle_count: 1 });
  });

  it("gives scope-write callbacks the host's own plugins, on the bundle's transaction", async () => {
    const id = '00000000-0000-4000-8000-0000000000c1';
    // What each plugin does to a result: rename a column, or parse a JSON-looking string.
    const probe = sql<Record<string, unknown>>`SELECT 1 AS probe_value, '{"a":1}'::text AS probe_json`;
    const expected =
      name === 'CamelCasePlugin'
        ? { probeValue: 1, probeJson: '{"a":1}' }
        : { probe_value: 1, probe_json: { a: 1 } };
    const seen: Record<string, unknown>[] = [];
    const { bundle: first } = await t
      .get(ScopeManager)
      .execWrite<void, HostUsers>('plugin-cb', { writerId: 'admin' }, async (trx) => {
        await sql`INSERT INTO business.users (id, name, email) VALUES (${id}, 'Grace', 'g@example.test')`.execute(
          trx,
        );
        seen.push((await probe.execute(trx)).rows[0]);
        // The context hands out the same host view.
        const context = t.get(ScopeWriteContext) as ScopeWriteContext<HostUsers>;
        seen.push((await probe.execute(context.trx)).rows[0]);
      });
    const { bundle: second } = await t
      .get(SyncService)
      .withinSyncBundle({ userId: 'plugin-cb' }, { sourceId: 'admin-2', sourceBundleId: 1 }, async (trx) => {
        await sql`UPDATE business.users SET name = 'Grace H.' WHERE id = ${id}`.execute(trx);
        seen.push((await probe.execute(trx)).rows[0]);
      });
    expect(seen).toEqual([expected, expected, expected]);
    expect([first.bundle_seq, second?.bundle_seq]).toEqual([1, 2]);
  });

  it("runs the host's query-builder writes, named as its plugin expects, inside a scope write", async () => {
    const id = '00000000-0000-4000-8000-0000000000c2';
    const createdAt = new Date('2024-01-02T03:04:05Z');
    await t.get(ScopeManager).execWrite<void, HostUsers>('plugin-qb', { writerId: 'admin' }, async (trx) => {
      await trx
        .insertInto('business.users')
        .values({ id, name: 'Linus', email: 'l@example.test', [createdAtColumn]: createdAt })
        .execute();
    });
    const { rows } = await q(t, `SELECT created_at FROM business.users WHERE id = $1`, [id]);
    expect(rows[0].created_at).toEqual(createdAt);
  });
});

describe('a database whose default isolation is REPEATABLE READ', () => {
  let db: TestDatabase;
  let t: OversyncTestApp;

  beforeAll(async () => {
    db = await createTestDatabase();
    await execSql(db.url, businessSchemaSql('business'));
    await execSql(
      db.url,
      `ALTER DATABASE "${db.name}" SET default_transaction_isolation = 'repeatable read'`,
    );
    t = await createOversyncTestApp({ listen: true, database: db, skipSchema: true });
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  it('serialises a rotated rebuild behind a commit of the same scope (no 40001)', async () => {
    const user = 'rr-rotation';
    await initEmptyScope(t, user);
    await commitUsers(t, user, 1, { writerId: 'dev' });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const commit = t.get(ScopeManager).execWrite(user, { writerId: 'dev' }, async (trx) => {
      await sql`INSERT INTO business.docs (doc_id, body) VALUES ('held', 'x')`.execute(trx);
      await gate;
    });
    // The commit holds the scope lock now.
    await waitFor(
      async () =>
        (await q(t, `SELECT count(*)::int AS n FROM business.docs`)).rows[0].n === 0 &&
        (
          await q(
            t,
            `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
          )
        ).rows[0].n > 0,
      3000,
      'the commit to hold the scope lock',
    );
    const rotation = syncClient(
      t.baseUrl,
      user,
      'dev',
    )<SnapshotSession & { error?: string; message?: string }>({
      method: 'POST',
      path: '/sync/snapshot-sessions',
      body: {
        source_replacement: { previous_source_id: 'dev', new_source_id: 'dev-2', reason: 'history_pruned' },
      },
    });
    await waitFor(
      async () =>
        (
          await q(
            t,
            `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
          )
        ).rows[0].n > 0,
      3000,
      'the rotation to wait for the scope lock',
    );
    release();
    await commit;
    const res = await rotation;
    expect({ status: res.status, error: res.json.error, message: res.json.message }).toEqual({
      status: 200,
      error: undefined,
      message: undefined,
    });
    // It saw the commit it waited for.
    expect(res.json).toMatchObject({ snapshot_bundle_seq: 2, row_count: 2 });
  });
});

describe('two apps in one process on one database, one of them with watch disabled', () => {
  let db: TestDatabase;
  let api: OversyncTestApp;
  let worker: OversyncTestApp;

  beforeAll(async () => {
    db = await createTestDatabase();
    api = await createOversyncTestApp({ listen: true, database: db });
    // A back-office worker: no HTTP routes, no watch of its own, scope writes only.
    worker = await createOversyncTestApp({
      database: db,
      skipSchema: true,
      routes: false,
      options: { watch: { enabled: false } },
    });
  });
  afterAll(async () => {
    await worker?.close();
    await api?.close();
    await db?.drop();
  });

  it("wakes the other instance's watchers for a commit made through the instance without watch", async () => {
    const user = 'worker-writes';
    await initEmptyScope(api, user);
    const stream = await openWatch(api.baseUrl, { user, source: 'device', query: '?after_bundle_seq=0' });
    try {
      expect(stream.status).toBe(200);
      const { bundle } = await commitUsers(worker, user, 1, { writerId: 'worker' });
      expect(await stream.waitForEvent((e) => e.bundle_seq === bundle.bundle_seq, 3000)).toEqual({
        bundle_seq: bundle.bundle_seq,
        source_id: 'worker',
        source_bundle_id: 1,
      });
    } finally {
      stream.close();
    }
  });
});

describe('a host-owned pg.Pool', () => {
  let db: TestDatabase;
  let pool: pg.Pool;

  beforeAll(async () => {
    db = await createTestDatabase();
    await execSql(db.url, businessSchemaSql('business'));
    pool = createTestPool(db.url, 3);
  });
  afterAll(async () => {
    await pool?.end();
    await db?.drop();
  });

  it('is used for sync and watch, and keeps working after the app closes', async () => {
    const t = await createOversyncTestApp({
      listen: true,
      database: db,
      skipSchema: true,
      options: { database: { pool } },
    });
    const user = 'pool-user';
    await initEmptyScope(t, user);
    const stream = await openWatch(t.baseUrl, { user, source: 'device', query: '?after_bundle_seq=0' });
    try {
      const { bundle } = await commitUsers(t, user, 1);
      // Watch listens on a dedicated connection built from the host pool's settings.
      expect(await stream.waitForEvent((e) => e.bundle_seq === bundle.bundle_seq)).toMatchObject({
        bundle_seq: 1,
      });
      const pull = await syncCall<PullResponse>(t.baseUrl, { path: '/sync/pull', user, source: 'device' });
      expect(pull.json.stable_bundle_seq).toBe(1);
    } finally {
      stream.close();
    }
    await t.app.close();
    expect(pool.ended).toBe(false);
    expect((await pool.query('SELECT count(*)::int AS n FROM business.users')).rows[0].n).toBe(1);
    const listeners = await pool.query(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'oversync_watch'`,
    );
    expect(listeners.rows[0].n).toBe(0);
  });

  it('serves two apps sharing it; closing one leaves the other working', async () => {
    const options = { database: { pool } };
    const first = await createOversyncTestApp({ listen: true, database: db, skipSchema: true, options });
    const second = await createOversyncTestApp({ listen: true, database: db, skipSchema: true, options });
    try {
      const user = 'shared-pool';
      await commitUsers(first, user, 1);
      await first.app.close();
      await commitUsers(second, user, 1);
      const pull = await syncCall<PullResponse>(second.baseUrl, { path: '/sync/pull', user, source: 'd' });
      expect(pull.json.stable_bundle_seq).toBe(2);
    } finally {
      await second.app.close();
    }
    expect(pool.ended).toBe(false);
  });

  it('stays open when the module fails to start', async () => {
    await expect(
      createOversyncTestApp({
        database: db,
        skipSchema: true,
        options: {
          database: { pool },
          registeredTables: [{ schema: 'business', table: 'missing_table', syncKeyColumns: ['id'] }],
        },
      }),
    ).rejects.toThrow(/missing_table/);
    expect(pool.ended).toBe(false);
    expect((await pool.query('SELECT 1 AS one')).rows[0].one).toBe(1);
  });
});

const DB_URL = Symbol('DB_URL');

@Module({ providers: [{ provide: DB_URL, useFactory: () => currentUrl }], exports: [DB_URL] })
class HostConfigModule {}
let currentUrl = '';

@Injectable()
class FeatureWriter {
  constructor(private readonly scopes: ScopeManager) {}

  async write(user: string): Promise<number> {
    const { bundle } = await this.scopes.execWrite(user, { writerId: 'feature' }, async (trx) => {
      await sql`INSERT INTO business.docs (doc_id, body) VALUES ('feature', 'x')`.execute(trx);
    });
    return bundle.bundle_seq;
  }
}

/** Does not import OversyncModule: it relies on `isGlobal`. */
@Module({ providers: [FeatureWriter], exports: [FeatureWriter] })
class FeatureModule {}

describe('forRootAsync with imports and inject, isGlobal and routes: false', () => {
  let db: TestDatabase;
  let app: INestApplication;
  let baseUrl: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    await execSql(db.url, businessSchemaSql('business'));
    currentUrl = db.url;
    const moduleRef = await Test.createTestingModule({
      imports: [
        OversyncModule.forRootAsync({
          imports: [HostConfigModule],
          inject: [DB_URL],
          useFactory: (url: string) => ({
            database: { connectionString: url, poolSize: 2 },
            registeredTables: businessTables('business'),
            resolveUserId: bearerUserId,
          }),
          isGlobal: true,
          routes: false,
        }),
        FeatureModule,
      ],
    }).compile();
    app = moduleRef.createNestApplication({
      logger: ['error', 'warn'],
      bodyParser: false,
      forceCloseConnections: true,
    });
    await app.listen(0, '127.0.0.1');
    baseUrl = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  });
  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  it('bootstraps from the injected options, serves no sync routes and is injectable everywhere', async () => {
    expect(await app.get(FeatureWriter).write('async-user')).toBe(1);
    const pull = await syncCall(baseUrl, { path: '/sync/pull', user: 'async-user', source: 'd' });
    expect(pull.status).toBe(404);
    const health = await syncCall(baseUrl, { path: '/syncx/health' });
    expect(health.status).toBe(404);
    expect((await app.get(SyncService).getStatus()).committed_bundle_count).toBe(1);
  });
});

describe('database.poolSize', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
    await execSql(db.url, businessSchemaSql('business'));
  });
  afterAll(async () => db?.drop());

  it.each([-1, 2.5, Number.NaN, '5' as unknown as number])(
    'refuses %p at start-up with OversyncConfigError (a negative size hung start-up for ever)',
    async (poolSize) => {
      const started = createOversyncTestApp({
        database: db,
        skipSchema: true,
        options: { database: { connectionString: db.url, poolSize } },
      });
      let timer: NodeJS.Timeout | undefined;
      const outcome = await Promise.race([
        started.then(
          async (t) => {
            await t.app.close();
            return 'started';
          },
          (error: unknown) => error,
        ),
        new Promise((resolve) => (timer = setTimeout(() => resolve('hung'), 3000))),
      ]);
      clearTimeout(timer);
      expect(outcome).toBeInstanceOf(OversyncConfigError);
      expect((outcome as OversyncConfigError).message).toMatch(/database\.poolSize/);
    },
  );
});
