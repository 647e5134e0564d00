/**
 * Edge cases of the read side and lifecycle: `GET /sync/pull` and
 * `GET /sync/committed-bundles/{seq}/rows` query edge cases against go-oversync's parsing, pruning
 * racing pull, `GET /sync/watch` (heartbeat timers, client disconnects, shutdown races, LISTEN
 * connection loss and catch-up) and graceful shutdown's check order.
 */
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { BundleChangeHub, OversyncModule } from '@oversync/nestjs';
import type { PullResponse } from '@oversync/protocol';
import type { Server } from 'node:http';
import pg from 'pg';
import { businessSchemaSql, businessTables, execSql } from '../support/business-schema.js';
import { bearerUserId, createOversyncTestApp, type OversyncTestApp } from '../support/oversync-app.js';
import {
  commitBundles,
  commitUsers,
  initEmptyScope,
  openWatch,
  sleep,
  waitFor,
  type WatchStream,
} from '../support/read-builders.js';
import { syncCall, syncClient } from '../support/sync-http.js';
import { adminUrl, createTestDatabase, type TestDatabase } from '../support/test-database.js';

/** Largest value go-oversync's `strconv.ParseInt(s, 10, 64)` accepts. */
const INT64_MAX = '9223372036854775807';

type Reply = PullResponse & { error?: string; message?: string };

const listenerCount = async (admin: pg.Client, dbName: string): Promise<number> =>
  (
    await admin.query(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = 'oversync_watch'`,
      [dbName],
    )
  ).rows[0].n as number;

/**
 * A host app as the README sets one up: Nest's defaults, in particular no `forceCloseConnections`
 * (the test harness turns that on, which hides connections a shutdown leaves open).
 */
async function hostApp(db: TestDatabase): Promise<{ app: INestApplication; baseUrl: string }> {
  const moduleRef = await Test.createTestingModule({
    imports: [
      OversyncModule.forRoot({
        database: { connectionString: db.url, poolSize: 5 },
        registeredTables: businessTables('business'),
        resolveUserId: (req: unknown) => bearerUserId(req),
        watch: { heartbeatIntervalSeconds: 0.2 },
      }),
    ],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: ['error', 'warn'], bodyParser: false });
  await app.listen(0, '127.0.0.1');
  return { app, baseUrl: (await app.getUrl()).replace('[::1]', '127.0.0.1') };
}

/** Races `closing` against a deadline; on timeout forces the sockets shut so the test can clean up. */
async function closeWithin(app: INestApplication, closing: Promise<void>, ms: number): Promise<string> {
  const outcome = await Promise.race([closing.then(() => 'closed'), sleep(ms).then(() => 'still closing')]);
  if (outcome !== 'closed') {
    (app.getHttpServer() as Server).closeAllConnections();
    await closing;
  }
  return outcome;
}

describe('pull and committed-rows query parameters vs go-oversync', () => {
  let t: OversyncTestApp;
  beforeAll(async () => {
    t = await createOversyncTestApp({ listen: true });
  });
  afterAll(async () => t.close());

  const pull = (user: string, query = '') =>
    syncClient(t.baseUrl, user, 'reader')<Reply>({ path: `/sync/pull${query}` });
  const rows = (user: string, path: string) =>
    syncClient(t.baseUrl, user, 'reader')<Record<string, unknown>>({ path });

  it('pull echoes every valid int64 target_bundle_seq exactly (go-oversync echoes it, never 500)', async () => {
    await commitBundles(t, 'pull-int64-target', 2);
    // go-oversync parses with strconv.ParseInt and echoes the target unclamped (wire-protocol 3.8).
    const max = await pull('pull-int64-target', `?target_bundle_seq=${INT64_MAX}`);
    expect(max.status).toBe(200);
    expect(max.text).toContain(`"stable_bundle_seq":${INT64_MAX},`);
    const beyondSafe = await pull('pull-int64-target', '?target_bundle_seq=9007199254740993');
    expect(beyondSafe.status).toBe(200);

    expect(beyondSafe.text).toContain('"stable_bundle_seq":9007199254740993,');
  });

  it('committed-rows answers 404 (not 500) for a bundle_seq of max int64', async () => {
    await commitBundles(t, 'rows-int64', 1);
    const res = await rows('rows-int64', `/sync/committed-bundles/${INT64_MAX}/rows`);
    // go-oversync: ParseInt succeeds, no such bundle → 404 committed_bundle_not_found.
    expect(res.status).toBe(404);
    expect(res.json.error).toBe('committed_bundle_not_found');
  });

  it("committed-rows accepts a leading '+' like strconv.ParseInt (and like this server's pull)", async () => {
    await commitBundles(t, 'rows-plus', 1);
    // Path segments keep '+' literally; in the query it must be percent-encoded.
    const path = await rows('rows-plus', '/sync/committed-bundles/+1/rows');
    expect(path.status).toBe(200);
    expect(path.json.bundle_seq).toBe(1);
    const query = await rows('rows-plus', '/sync/committed-bundles/1/rows?after_row_ordinal=%2B0');
    expect(query.status).toBe(200);
    expect(query.json).toMatchObject({ rows: [], next_row_ordinal: 0, has_more: false });
    // Pull already parses the same input the Go way.
    expect((await pull('rows-plus', '?after_bundle_seq=%2B1')).json.stable_bundle_seq).toBe(1);
  });

  it('parses repeated and odd pull parameters like url.ParseQuery + strconv (first value wins)', async () => {
    await commitBundles(t, 'pull-repeat', 3);
    // First value wins, even when a later one would be invalid.
    const first = await pull(
      'pull-repeat',
      '?max_bundles=1&max_bundles=0&after_bundle_seq=1&after_bundle_seq=x',
    );
    expect(first.status).toBe(200);
    expect(first.json.bundles.map((b) => b.bundle_seq)).toEqual([2]);
    // An empty first value means "absent" (the default), as in Go.
    const empty = await pull('pull-repeat', '?after_bundle_seq=&after_bundle_seq=2');
    expect(empty.json.bundles.map((b) => b.bundle_seq)).toEqual([1, 2, 3]);
    // '+' in a query is a space, which ParseInt rejects; leading zeros and -0 are fine.
    expect((await pull('pull-repeat', '?after_bundle_seq=+1')).json).toEqual({
      error: 'invalid_request',
      message: 'after_bundle_seq must be an integer',
    });
    expect((await pull('pull-repeat', '?after_bundle_seq=-0&max_bundles=0002')).json.bundles).toHaveLength(2);
    // A checkpoint of max int64 is simply "caught up".
    expect((await pull('pull-repeat', `?after_bundle_seq=${INT64_MAX}`)).json).toEqual({
      stable_bundle_seq: 3,
      bundles: [],
      has_more: false,
    });
  });
});

describe('committed-rows under a host query parser', () => {
  let t: OversyncTestApp;
  beforeAll(async () => {
    t = await createOversyncTestApp({ listen: true });
    // A common host setting (Express 4's default; Nest apps often restore it on Express 5).
    (t.app.getHttpAdapter().getInstance() as { set(k: string, v: string): void }).set(
      'query parser',
      'extended',
    );
  });
  afterAll(async () => t.close());

  it("committed-rows reads its query like url.ParseQuery, whatever the host's query parser (as pull does)", async () => {
    await commitUsers(t, 'rows-qs', 3);
    const c = syncClient(t.baseUrl, 'rows-qs', 'reader')<Record<string, unknown>>;
    // Go: `max_rows[x]` and `after_row_ordinal[0]` are other names, so both parameters are absent.
    const bracketed = await c({ path: '/sync/committed-bundles/1/rows?max_rows[x]=1' });
    expect(bracketed.status).toBe(200);
    expect(bracketed.json.rows).toHaveLength(3);
    const indexed = await c({ path: '/sync/committed-bundles/1/rows?after_row_ordinal[0]=1' });
    expect(indexed.json.next_row_ordinal).toBe(2);
    expect(indexed.json.rows).toHaveLength(3);
    // Pull parses the raw URL and is not affected.
    const pull = await c({ path: '/sync/pull?max_bundles[x]=0' });
    expect(pull.status).toBe(200);
  });
});

describe('pruning racing pull (retention window 1)', () => {
  let t: OversyncTestApp;
  beforeAll(async () => {
    t = await createOversyncTestApp({
      listen: true,
      options: { retention: { retainedBundlesPerUser: 1, pruneBatchSize: 1 } },
    });
  });
  afterAll(async () => t.close());

  it('a pull from 0 always sees exactly the one retained, complete bundle while commits prune', async () => {
    const user = 'race-prune';
    await commitUsers(t, user, 3);
    await commitUsers(t, user, 3);
    let stop = false;
    const writer = (async () => {
      while (!stop) await commitUsers(t, user, 3);
    })();
    const bad: unknown[] = [];
    let pulls = 0;
    try {
      const deadline = Date.now() + 2000;
      while (Date.now() < deadline) {
        const res = await syncClient(t.baseUrl, user, 'r')<Reply>({ path: '/sync/pull?after_bundle_seq=0' });
        pulls++;
        const b = res.json.bundles;
        if (
          res.status !== 200 ||
          b.length !== 1 ||
          b[0].bundle_seq !== res.json.stable_bundle_seq ||
          b[0].rows.length !== 3 ||
          b[0].row_count !== 3
        )
          bad.push(res.json);
      }
    } finally {
      stop = true;
      await writer;
    }
    expect(pulls).toBeGreaterThan(10);
    expect(bad).toEqual([]);
  });
});

describe('watch configuration', () => {
  it('a heartbeat interval above 2^31-1 ms does not turn into a 1 ms heartbeat flood', async () => {
    // ~35 days: "practically never". Options validation only checks > 0, and Node's setInterval
    // silently clamps anything above 2147483647 ms to 1 ms (TimeoutOverflowWarning).
    let t: OversyncTestApp | undefined;
    try {
      t = await createOversyncTestApp({
        listen: true,
        options: { watch: { heartbeatIntervalSeconds: 3_000_000 } },
      });
    } catch (error) {
      // Rejecting the option at start-up (OversyncConfigError) is an acceptable fix as well.
      expect((error as Error).name).toBe('OversyncConfigError');
      return;
    }
    let stream: WatchStream | undefined;
    try {
      await initEmptyScope(t, 'hb-overflow');
      stream = await openWatch(t.baseUrl, { user: 'hb-overflow', source: 'w', query: '?after_bundle_seq=0' });
      expect(stream.status).toBe(200);
      await sleep(300);
      const beats = stream.text.split(': heartbeat\n\n').length - 1;
      expect(beats).toBe(0);
    } finally {
      stream?.close();
      await t.close();
    }
  });
});

describe('watch streams, timers and disconnects', () => {
  let t: OversyncTestApp;
  beforeAll(async () => {
    t = await createOversyncTestApp({ listen: true, options: { watch: { heartbeatIntervalSeconds: 0.05 } } });
  });
  afterAll(async () => t.close());
  const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  const inflight = async () =>
    (await syncCall(t.baseUrl, { path: '/syncx/status' })).json.inflight_operations as number;

  it('releases every heartbeat timer and subscriber after many clients disconnect', async () => {
    await initEmptyScope(t, 'timers');
    await sleep(100);
    const base = timers();
    const streams: WatchStream[] = [];
    for (let i = 0; i < 20; i++)
      streams.push(await openWatch(t.baseUrl, { user: 'timers', source: 'w', query: '?after_bundle_seq=0' }));
    await streams[19].waitForText(': heartbeat');
    expect(timers()).toBeGreaterThanOrEqual(base + 20);
    expect(t.get(BundleChangeHub).subscriberCount()).toBe(20);
    streams.forEach((s) => s.close());
    await waitFor(() => t.get(BundleChangeHub).subscriberCount() === 0, 3000, 'no subscribers');
    await waitFor(() => timers() <= base, 2000, 'heartbeat timers cleared');
  });

  it('leaves nothing behind when the client disconnects while the subscription is being set up', async () => {
    await initEmptyScope(t, 'early-leave');
    const locker = new pg.Client({ connectionString: t.db.url });
    await locker.connect();
    try {
      // Hold the scope read of the subscription (pull/watch read scope_state without locking).
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE sync.scope_state IN ACCESS EXCLUSIVE MODE');
      const base = timers();
      const abort = new AbortController();
      const request = fetch(`${t.baseUrl}/sync/watch?after_bundle_seq=0`, {
        headers: { authorization: 'Bearer early-leave', 'oversync-source-id': 'w' },
        signal: abort.signal,
      }).catch((error: unknown) => error);
      await waitFor(async () => (await inflight()) === 1, 3000, 'the watch in flight');
      abort.abort();
      await request;
      await sleep(100);
      await locker.query('COMMIT');
      await waitFor(async () => (await inflight()) === 0, 3000, 'no work in flight');
      await sleep(200);
      expect(t.get(BundleChangeHub).subscriberCount()).toBe(0);
      expect(timers()).toBeLessThanOrEqual(base);
    } finally {
      await locker.query('ROLLBACK').catch(() => undefined);
      await locker.end();
    }
  });
});

describe('the LISTEN connection', () => {
  let t: OversyncTestApp;
  let admin: pg.Client;
  let inDb: pg.Client;
  beforeEach(async () => {
    t = await createOversyncTestApp({ listen: true, options: { watch: { heartbeatIntervalSeconds: 0.2 } } });
    admin = new pg.Client({ connectionString: adminUrl() });
    await admin.connect();
    // Opened before connections are refused, so the test can still run DDL.
    inDb = new pg.Client({ connectionString: t.db.url });
    await inDb.connect();
  });
  afterEach(async () => {
    await admin.query(`ALTER DATABASE "${t.db.name}" ALLOW_CONNECTIONS true`).catch(() => undefined);
    await inDb
      .query(`ALTER TABLE IF EXISTS sync.user_state_moved RENAME TO user_state`)
      .catch(() => undefined);
    await inDb.end();
    await admin.end();
    await t.close();
  });

  /** Kills the listener and keeps it out (new connections refused) while `whileDown` runs. */
  const listenerDown = async (whileDown: () => Promise<void>) => {
    await admin.query(`ALTER DATABASE "${t.db.name}" ALLOW_CONNECTIONS false`);
    await admin.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'oversync_watch'`,
      [t.db.name],
    );
    await waitFor(async () => (await listenerCount(admin, t.db.name)) === 0, 3000, 'listener gone');
    await whileDown();
    await admin.query(`ALTER DATABASE "${t.db.name}" ALLOW_CONNECTIONS true`);
  };

  it('keeps retrying while PostgreSQL refuses connections, then catches up on what it missed', async () => {
    await commitUsers(t, 'refused', 1); // leaves an idle pooled connection for the commit below
    const stream = await openWatch(t.baseUrl, { user: 'refused', source: 'w', query: '?after_bundle_seq=1' });
    try {
      await stream.waitForText(': heartbeat');
      let missed = 0;
      await listenerDown(async () => {
        missed = (await commitUsers(t, 'refused', 1, { writerId: 'while-down' })).bundle.bundle_seq;
        await sleep(1500); // several failed reconnects
      });
      expect(await stream.waitForEvent((e) => e.bundle_seq === missed, 6000)).toEqual({ bundle_seq: missed });
    } finally {
      stream.close();
    }
  });

  it('a failed catch-up after reconnecting is retried, so a wake-up missed while down still arrives', async () => {
    await commitUsers(t, 'catchup', 1);
    const stream = await openWatch(t.baseUrl, { user: 'catchup', source: 'w', query: '?after_bundle_seq=1' });
    try {
      await stream.waitForText(': heartbeat');
      let missed = 0;
      await listenerDown(async () => {
        missed = (await commitUsers(t, 'catchup', 1, { writerId: 'while-down' })).bundle.bundle_seq;
        // A transient failure of the catch-up query (stands in for a stale pooled connection, a
        // statement or pool timeout right after an outage).
        await inDb.query(`ALTER TABLE sync.user_state RENAME TO user_state_moved`);
      });
      // Reconnect attempts come at most MAX_BACKOFF_MS (2 s) apart, so in this window the listener
      // reconnects at least once and its catch-up fails (it then drops the connection and tries
      // again; a listener that shrugged the failure off would never deliver the missed bundle).
      await sleep(2500);
      await inDb.query(`ALTER TABLE sync.user_state_moved RENAME TO user_state`);
      // go-oversync fails the listener session when catch-up fails and retries it with backoff.

      expect(await stream.waitForEvent((e) => e.bundle_seq === missed, 6000)).toEqual({ bundle_seq: missed });
    } finally {
      stream.close();
    }
  });
});

describe('shutdown', () => {
  it.each([0, 150])(
    'leaves no LISTEN connection when the app closes %i ms after the listener was killed',
    async (delay) => {
      const db = await createTestDatabase();
      const admin = new pg.Client({ connectionString: adminUrl() });
      await admin.connect();
      try {
        const t = await createOversyncTestApp({ listen: true, database: db });
        await admin.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'oversync_watch'`,
          [db.name],
        );
        await sleep(delay);
        await t.app.close();
        await sleep(700); // longer than a reconnect attempt
        expect(await listenerCount(admin, db.name)).toBe(0);
      } finally {
        await admin.end();
        await db.drop();
      }
    },
  );

  it('closes a host app (no forceCloseConnections) promptly while a watch stream is open', async () => {
    const db = await createTestDatabase();
    try {
      await execSql(db.url, businessSchemaSql('business'));
      const { app, baseUrl } = await hostApp(db);
      await initEmptyScope({ db } as OversyncTestApp, 'open-watch');
      const stream = await openWatch(baseUrl, {
        user: 'open-watch',
        source: 'w',
        query: '?after_bundle_seq=0',
      });
      try {
        await stream.waitForText(': heartbeat');
        expect(await closeWithin(app, app.close(), 5000)).toBe('closed');
        expect(stream.ended).toBe(true);
      } finally {
        stream.close();
      }
    } finally {
      await db.drop();
    }
  });

  it('a watch still subscribing when shutdown starts does not stay open and block app.close()', async () => {
    const db = await createTestDatabase();
    const locker = new pg.Client({ connectionString: db.url });
    let stream: WatchStream | undefined;
    try {
      await execSql(db.url, businessSchemaSql('business'));
      const { app, baseUrl } = await hostApp(db);
      await initEmptyScope({ db } as OversyncTestApp, 'late-watch');
      await locker.connect();
      await locker.query('BEGIN');
      // Holds the watch's scope read (status does not read scope_state, so it keeps answering).
      await locker.query('LOCK TABLE sync.scope_state IN ACCESS EXCLUSIVE MODE');
      const status = async () => (await syncCall(baseUrl, { path: '/syncx/status' })).json;
      const opening = openWatch(baseUrl, { user: 'late-watch', source: 'w', query: '?after_bundle_seq=0' });
      await waitFor(async () => (await status()).inflight_operations === 1, 3000, 'the watch in flight');
      const closing = app.close();
      await waitFor(async () => (await status()).lifecycle === 'shutting_down', 3000, 'shutting_down');
      await locker.query('COMMIT');
      stream = await opening;
      // The stream opened after BundleWatchService ended the tracked ones, so nothing ends it:
      // heartbeats continue and server.close() waits on the connection for ever (the pool and
      // the rest of the shutdown hooks never run). go-oversync cancels every subscription when
      // the service closes.
      const outcome = await closeWithin(app, closing, 5000);
      expect(outcome).toBe('closed');
      expect(stream.status === 503 || stream.ended).toBe(true);
    } finally {
      stream?.close();
      await locker.end().catch(() => undefined);
      await db.drop();
    }
  });

  it('while draining, request validation and the watch policy answer before 503 (go-oversync order)', async () => {
    const t = await createOversyncTestApp({
      listen: true,
      options: { watch: { policy: (actor) => actor.sourceId !== 'blocked' } },
    });
    const locker = new pg.Client({ connectionString: t.db.url });
    try {
      await commitUsers(t, 'drain-order', 1);
      await locker.connect();
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE sync.scope_state IN ACCESS EXCLUSIVE MODE');
      const status = async () => (await syncCall(t.baseUrl, { path: '/syncx/status' })).json;
      const held = syncCall(t.baseUrl, { path: '/sync/pull', user: 'drain-order', source: 'r' });
      await waitFor(async () => (await status()).inflight_operations === 1, 3000, 'a pull in flight');
      const closing = t.app.close();
      await waitFor(async () => (await status()).lifecycle === 'shutting_down', 3000, 'shutting_down');
      try {
        // go-oversync: HandleWatch checks the policy (403) and the query (400) before
        // SubscribeBundleChanges → beginOperation (503); HandlePull parses the query (400)
        // before ProcessPull → beginOperation (503). wire-protocol.md §10 lists this order.
        const forbidden = await openWatch(t.baseUrl, { user: 'drain-order', source: 'blocked' });
        const badQuery = await syncCall(t.baseUrl, {
          path: '/sync/pull?max_bundles=0',
          user: 'drain-order',
          source: 'r',
        });
        const fine = await syncCall(t.baseUrl, { path: '/sync/pull', user: 'drain-order', source: 'r' });
        expect(fine.status).toBe(503);
        expect({ forbidden: forbidden.status, badQuery: badQuery.status }).toEqual({
          forbidden: 403,
          badQuery: 400,
        });
      } finally {
        await locker.query('COMMIT');
        expect((await held).status).toBe(200);
        await closing;
      }
    } finally {
      await locker.end().catch(() => undefined);
      await t.db.drop();
    }
  });
});
