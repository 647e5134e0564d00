/**
 * Concurrency of the write paths over real HTTP: per-user serialisation of pushes, pushes racing
 * server-originated writes, concurrent first connects, concurrent creates of one tuple, gapless
 * `bundle_seq`, and transaction retries on serialization failures (scenarios C5, D8).
 */
import { ScopeManager } from '@oversync/nestjs';
import { sql } from 'kysely';
import pg from 'pg';
import { createOversyncTestApp, type OversyncTestApp } from '../support/oversync-app.js';
import {
  commitSession,
  connect,
  createSession,
  dbRows,
  initializeEmpty,
  insertUser,
  newId,
  newUser,
  pushOk,
  scopeState,
  stageRows,
  updateUser,
  uploadChunk,
} from '../support/push-builders.js';
import { syncClient } from '../support/sync-http.js';

describe('write-path concurrency', () => {
  let t: OversyncTestApp;
  let schema: string;
  const client = (user: string, source: string) => syncClient(t.baseUrl, user, source);
  /** Holds the user's scope lock from a separate connection until `release()`. */
  const holdScopeLock = async (user: string) => {
    const blocker = new pg.Client({ connectionString: t.db.url });
    await blocker.connect();
    await blocker.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [user]);
    return async () => {
      await blocker.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [user]);
      await blocker.end();
    };
  };
  const bundleSeqs = async (user: string) =>
    (
      await dbRows<{ seq: number }>(
        t.db.url,
        'SELECT bundle_seq::int AS seq FROM sync.bundle_log b JOIN sync.user_state u USING (user_pk) WHERE u.user_id = $1 ORDER BY 1',
        [user],
      )
    ).map((r) => r.seq);
  const waitingOnLocks = async (count: number) => {
    for (let i = 0; i < 100; i++) {
      const [row] = await dbRows<{ n: number }>(
        t.db.url,
        "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted",
      );
      if (row.n >= count) return;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`fewer than ${count} requests waited on the scope lock`);
  };

  beforeAll(async () => {
    t = await createOversyncTestApp({ listen: true });
    schema = t.schema;
  });
  afterAll(async () => {
    await t.close();
  });

  it('gives exactly one of many concurrent first connects the lease (C5)', async () => {
    const user = newUser();
    const replies = await Promise.all(
      ['a', 'b', 'c', 'd', 'e'].map((s) => connect(client(user, `device-${s}`), true)),
    );
    const winners = replies.filter((r) => r.json.resolution === 'initialize_local');
    expect(winners).toHaveLength(1);
    const losers = replies.filter((r) => r.json.resolution === 'retry_later');
    expect(losers).toHaveLength(4);
    for (const loser of losers) {
      expect(loser.json.retry_after_seconds as number).toBeGreaterThanOrEqual(1);
      expect(loser.json.lease_expires_at).toBe(winners[0].json.lease_expires_at);
    }
    const winner = replies.indexOf(winners[0]);
    expect(await scopeState(t.db.url, user)).toMatchObject({
      state_code: 1,
      initializer_source_id: `device-${'abcde'[winner]}`,
      initialization_id: winners[0].json.initialization_id,
    });
  });

  it('serialises two commits of one user: the stale one gets push_conflict, bundle_seq stays gapless', async () => {
    const user = newUser();
    const a = client(user, 'device-a');
    const b = client(user, 'device-b');
    await initializeEmpty(a);
    const x = newId();
    await pushOk(a, 1, [insertUser(schema, x, 'Base')]);
    const pa = await stageRows(a, 2, [updateUser(schema, x, 1, { name: 'From A' })]);
    const pb = await stageRows(b, 1, [updateUser(schema, x, 1, { name: 'From B' })]);
    const release = await holdScopeLock(user);
    const commits = Promise.all([commitSession(a, pa), commitSession(b, pb)]);
    await waitingOnLocks(2);
    await release();
    const replies = await commits;
    const ok = replies.filter((r) => r.status === 200);
    const conflicted = replies.filter((r) => r.status === 409);
    expect(ok).toHaveLength(1);
    expect(conflicted).toHaveLength(1);
    expect(ok[0].json.bundle_seq).toBe(2);
    expect(conflicted[0].json.conflict).toMatchObject({ base_row_version: 1, server_row_version: 2 });
    const winnerName = ok[0] === replies[0] ? 'From A' : 'From B';
    expect((conflicted[0].json.conflict as { server_row: { name: string } }).server_row.name).toBe(
      winnerName,
    );
    expect(
      await dbRows(t.db.url, `SELECT name FROM ${schema}.users WHERE _sync_scope_id = $1`, [user]),
    ).toEqual([{ name: winnerName }]);
    expect(await bundleSeqs(user)).toEqual([1, 2]);
  });

  it('orders a push and a server-originated write on one row consistently, whichever wins the lock', async () => {
    const user = newUser();
    const c = client(user, 'device-a');
    await initializeEmpty(c);
    const x = newId();
    await pushOk(c, 1, [insertUser(schema, x, 'Base')]);
    const pushId = await stageRows(c, 2, [updateUser(schema, x, 1, { name: 'Client' })]);
    const release = await holdScopeLock(user);
    const commit = commitSession(c, pushId);
    const write = t
      .get(ScopeManager)
      .execWrite(user, { writerId: 'admin-panel' }, (trx) =>
        sql`UPDATE business.users SET name = 'Server' WHERE _sync_scope_id = ${user} AND id = ${x}::uuid`.execute(
          trx,
        ),
      );
    await waitingOnLocks(2);
    await release();
    const [reply, server] = await Promise.all([commit, write]);
    const [row] = await dbRows<{ name: string }>(
      t.db.url,
      `SELECT name FROM ${schema}.users WHERE _sync_scope_id = $1`,
      [user],
    );
    if (reply.status === 200) {
      // Push first (seq 2), then the server write (seq 3) overwrote it.
      expect([reply.json.bundle_seq, server.bundle.bundle_seq]).toEqual([2, 3]);
      expect(row.name).toBe('Server');
    } else {
      // Server first (seq 2); the push's base 1 is stale.
      expect(server.bundle.bundle_seq).toBe(2);
      expect(reply.status).toBe(409);
      expect(reply.json.conflict).toMatchObject({ server_row_version: 2, server_row: { name: 'Server' } });
      expect(row.name).toBe('Server');
    }
    expect(await bundleSeqs(user)).toEqual(reply.status === 200 ? [1, 2, 3] : [1, 2]);
  });

  it('keeps one staging session when two creates of the same tuple race (D8)', async () => {
    const user = newUser();
    const c = client(user, 'device-a');
    const lease = await connect(c, true);
    const id = lease.json.initialization_id as string;
    const [first, second] = await Promise.all([createSession(c, 1, 1, id), createSession(c, 1, 1, id)]);
    for (const reply of [first, second])
      expect(reply.json).toMatchObject({ status: 'staging', planned_row_count: 1 });
    expect(first.json.push_id).not.toBe(second.json.push_id);
    const active = await dbRows<{ push_id: string }>(
      t.db.url,
      'SELECT push_id::text FROM sync.push_sessions WHERE source_id = $1 AND initialization_id = $2',
      ['device-a', id],
    );
    expect(active).toHaveLength(1);
    const loser = active[0].push_id === first.json.push_id ? second : first;
    expect(
      (await uploadChunk(c, loser.json.push_id as string, 0, [insertUser(schema, newId(), 'L')])).status,
    ).toBe(404);
    const win = await uploadChunk(c, active[0].push_id, 0, [insertUser(schema, newId(), 'W')]);
    expect(win.json.next_expected_row_ordinal).toBe(1);
  });

  it('numbers bundles densely per user under many concurrent pushes and server writes', async () => {
    const user = newUser();
    await initializeEmpty(client(user, 'device-0'));
    const sources = ['device-0', 'device-1', 'device-2', 'device-3'];
    const perSource = 3;
    const pushes = sources.map(async (source) => {
      const c = client(user, source);
      for (let n = 1; n <= perSource; n++)
        await pushOk(c, n, [insertUser(schema, newId(), `${source}-${n}`)]);
    });
    const writes = Array.from({ length: 4 }, (_, i) =>
      t
        .get(ScopeManager)
        .execWrite(user, { writerId: 'server' }, (trx) =>
          sql`INSERT INTO business.users (id, name, email) VALUES (${newId()}::uuid, ${`server-${i}`}, 's@x.io')`.execute(
            trx,
          ),
        ),
    );
    await Promise.all([...pushes, ...writes]);
    const total = sources.length * perSource + writes.length;
    expect(await bundleSeqs(user)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    const perSourceIds = await dbRows<{ source_id: string; ids: number[] }>(
      t.db.url,
      `SELECT source_id, array_agg(source_bundle_id::int ORDER BY bundle_seq) AS ids
         FROM sync.bundle_log b JOIN sync.user_state u USING (user_pk) WHERE u.user_id = $1 GROUP BY source_id ORDER BY source_id`,
      [user],
    );
    expect(perSourceIds).toEqual([
      ...sources.map((s) => ({ source_id: s, ids: [1, 2, 3] })),
      { source_id: 'server', ids: [1, 2, 3, 4] },
    ]);
    const [next] = await dbRows(
      t.db.url,
      'SELECT next_bundle_seq::int AS next FROM sync.user_state WHERE user_id = $1',
      [user],
    );
    expect(next).toEqual({ next: total + 1 });
  });

  it('retries a push transaction that hit a serialization failure, up to three attempts in total', async () => {
    // A trigger fails the session insert while a non-transactional budget lasts.
    await dbRows(
      t.db.url,
      `CREATE SEQUENCE public.fail_budget;
       CREATE TABLE public.fail_config (failures int NOT NULL);
       INSERT INTO public.fail_config VALUES (0);
       CREATE FUNCTION public.fail_push_sessions() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF nextval('public.fail_budget') <= (SELECT failures FROM public.fail_config) THEN
           RAISE EXCEPTION 'injected serialization failure' USING ERRCODE = '40001';
         END IF;
         RETURN NEW;
       END $$;
       CREATE TRIGGER fail_push_sessions BEFORE INSERT ON sync.push_sessions
         FOR EACH ROW EXECUTE FUNCTION public.fail_push_sessions();`,
    );
    const inject = (failures: number) =>
      dbRows(
        t.db.url,
        `UPDATE public.fail_config SET failures = ${failures}; SELECT setval('public.fail_budget', 1, false)`,
      );
    const attempts = async () =>
      (await dbRows<{ n: number }>(t.db.url, 'SELECT last_value::int AS n FROM public.fail_budget'))[0].n;
    try {
      const user = newUser();
      const c = client(user, 'device-a');
      await initializeEmpty(c);
      await inject(2);
      const retried = await createSession(c, 1, 1);
      expect(retried.json.status).toBe('staging');
      expect(await attempts()).toBe(3);

      await inject(3);
      const failed = await createSession(c, 1, 1);
      expect(failed.status).toBe(500);
      expect(failed.json.error).toBe('push_session_create_failed');
      expect(await attempts()).toBe(3);
      // The failed attempts rolled back: the first session was not replaced.
      const sessions = await dbRows<{ id: string }>(
        t.db.url,
        'SELECT push_id::text AS id FROM sync.push_sessions p JOIN sync.user_state u USING (user_pk) WHERE u.user_id = $1',
        [user],
      );
      expect(sessions).toEqual([{ id: retried.json.push_id }]);
    } finally {
      await dbRows(t.db.url, 'DROP TRIGGER fail_push_sessions ON sync.push_sessions');
    }
  });
});
