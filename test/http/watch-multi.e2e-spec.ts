import { Kysely, PostgresDialect } from 'kysely';
import { createOversyncTestApp, type OversyncTestApp } from '../support/oversync-app.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { createTestPool } from '../support/test-kysely.js';
import {
  commitUsers,
  initEmptyScope,
  openWatch,
  q,
  waitFor,
  type WatchStream,
} from '../support/read-builders.js';

describe('watch across server instances (LISTEN/NOTIFY)', () => {
  let db: TestDatabase;
  let a: OversyncTestApp;
  let b: OversyncTestApp;
  const streams: WatchStream[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    a = await createOversyncTestApp({ listen: true, database: db });
    b = await createOversyncTestApp({ listen: true, database: db, skipSchema: true });
  });
  afterEach(() => streams.splice(0).forEach((s) => s.close()));
  afterAll(async () => {
    await b?.close();
    await a?.close();
    await db?.drop();
  });

  const watch = async (app: OversyncTestApp, user: string, after = 0) => {
    const stream = await openWatch(app.baseUrl, {
      user,
      source: 'watcher',
      query: `?after_bundle_seq=${after}`,
    });
    streams.push(stream);
    expect(stream.status).toBe(200);
    return stream;
  };
  const listenerPids = async () =>
    (
      await q(
        a,
        `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'oversync_watch'`,
      )
    ).rows;

  it('holds exactly one LISTEN connection per instance', async () => {
    expect(await listenerPids()).toHaveLength(2);
  });

  it('a commit through instance A wakes watchers on both instances (P7)', async () => {
    const user = 'multi-fanout';
    await initEmptyScope(a, user);
    const onA = await watch(a, user);
    const onB = await watch(b, user);
    const { bundle } = await commitUsers(a, user, 1, { writerId: 'device-a' });
    const expected = { bundle_seq: bundle.bundle_seq, source_id: 'device-a', source_bundle_id: 1 };
    expect(await onB.waitForEvent()).toEqual(expected);
    expect(await onA.waitForEvent()).toEqual(expected);
  });

  it('catches up after the listener connection is lost, then keeps listening', async () => {
    const user = 'multi-reconnect';
    await initEmptyScope(a, user);
    const stream = await watch(b, user);
    // Kill both listeners, and commit while they are down (their NOTIFY is lost).
    const killed = await q(
      a,
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                                WHERE datname = current_database() AND application_name = 'oversync_watch'`,
    );
    expect(killed.rowCount).toBe(2);
    const first = await commitUsers(a, user, 1, { writerId: 'while-down' });
    await stream.waitForEvent((e) => e.bundle_seq === first.bundle.bundle_seq, 5000);
    await waitFor(async () => (await listenerPids()).length === 2, 5000, 'both listeners back');
    const second = await commitUsers(a, user, 1, { writerId: 'after-reconnect' });
    expect(await stream.waitForEvent((e) => e.bundle_seq === second.bundle.bundle_seq, 5000)).toEqual({
      bundle_seq: second.bundle.bundle_seq,
      source_id: 'after-reconnect',
      source_bundle_id: 1,
    });
  });
});

describe('watch with a host-provided Kysely (no pool to LISTEN on)', () => {
  let db: TestDatabase;
  let t: OversyncTestApp;
  let kysely: Kysely<unknown>;

  beforeAll(async () => {
    db = await createTestDatabase();
    kysely = new Kysely<unknown>({
      dialect: new PostgresDialect({ pool: createTestPool(db.url, 3) }),
    });
    t = await createOversyncTestApp({ listen: true, database: db, options: { database: { kysely } } });
  });
  afterAll(async () => {
    await t?.close();
    await kysely?.destroy();
    await db?.drop();
  });

  it('falls back to polling the watched scopes', async () => {
    const user = 'kysely-watch';
    await initEmptyScope(t, user);
    const stream = await openWatch(t.baseUrl, { user, source: 'w', query: '?after_bundle_seq=0' });
    try {
      expect(stream.status).toBe(200);
      const { bundle } = await commitUsers(t, user, 1);
      expect(await stream.waitForEvent((e) => e.bundle_seq === bundle.bundle_seq, 3000)).toEqual({
        bundle_seq: 1,
      });
      const listeners = await q(
        t,
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'oversync_watch'`,
      );
      expect(listeners.rows[0].n).toBe(0);
    } finally {
      stream.close();
    }
  });
});
