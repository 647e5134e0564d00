import { BundleChangeHub, ScopeManager } from '@oversync/nestjs';
import { sql } from 'kysely';
import { createOversyncTestApp, type OversyncTestApp } from '../support/oversync-app.js';
import {
  commitBundles,
  commitUsers,
  initEmptyScope,
  initializingScope,
  openWatch,
  q,
  sleep,
  uninitializedScope,
  waitFor,
  type WatchStream,
} from '../support/read-builders.js';

describe('GET /sync/watch', () => {
  let t: OversyncTestApp;
  const streams: WatchStream[] = [];

  beforeAll(async () => {
    t = await createOversyncTestApp({ listen: true, options: { watch: { heartbeatIntervalSeconds: 0.2 } } });
  });
  afterEach(() => streams.splice(0).forEach((s) => s.close()));
  afterAll(async () => t.close());

  const watch = async (user: string, query = '?after_bundle_seq=0', source = 'watcher') => {
    const stream = await openWatch(t.baseUrl, { user, source, query });
    streams.push(stream);
    return stream;
  };
  const userPk = async (user: string) =>
    (await q(t, `SELECT user_pk::int AS pk FROM sync.user_state WHERE user_id = $1`, [user])).rows[0]
      .pk as number;

  it('sends an immediate catch-up event with only bundle_seq when behind (P2)', async () => {
    const user = 'watch-catchup';
    await commitBundles(t, user, 2);
    const stream = await watch(user);
    expect(stream.status).toBe(200);
    expect(stream.headers.get('content-type')).toBe('text/event-stream');
    expect(stream.headers.get('cache-control')).toBe('no-cache');
    expect(stream.headers.get('x-accel-buffering')).toBe('no');
    expect(await stream.waitForEvent()).toEqual({ bundle_seq: 2 });
    expect(stream.text.startsWith('event: bundle\ndata: {"bundle_seq":2}\n\n')).toBe(true);
  });

  it('sends no catch-up when the checkpoint is current, only heartbeats (P3)', async () => {
    const user = 'watch-current';
    await commitBundles(t, user, 2);
    const stream = await watch(user, '?after_bundle_seq=2');
    await stream.waitForText(': heartbeat\n\n', 2000);
    expect(stream.events).toEqual([]);
    const beats = () => stream.text.split(': heartbeat\n\n').length - 1;
    const first = beats();
    await sleep(500);
    expect(beats()).toBeGreaterThanOrEqual(first + 1);
    expect(stream.text.replace(/: heartbeat\n\n/g, '')).toBe('');
  });

  it('wakes on a committed bundle with its source metadata (P4, P6)', async () => {
    const user = 'watch-live';
    await initEmptyScope(t, user);
    const stream = await watch(user);
    await stream.waitForText(': heartbeat');
    const { bundle } = await commitUsers(t, user, 1, { writerId: 'admin-panel' });
    expect(await stream.waitForEvent()).toEqual({
      bundle_seq: bundle.bundle_seq,
      source_id: 'admin-panel',
      source_bundle_id: 1,
    });
    expect(stream.text).toContain(
      `event: bundle\ndata: {"bundle_seq":1,"source_id":"admin-panel","source_bundle_id":1}\n\n`,
    );
  });

  it('does not wake on rolled-back writes or other users (P5)', async () => {
    const user = 'watch-rollback';
    await initEmptyScope(t, user);
    await initEmptyScope(t, 'watch-rollback-other');
    const stream = await watch(user);
    await stream.waitForText(': heartbeat');
    await expect(
      t.get(ScopeManager).execWrite(user, { writerId: 'w' }, async (trx) => {
        await sql`INSERT INTO business.docs (doc_id, body) VALUES ('rolled-back', 'x')`.execute(trx);
        throw new Error('abort');
      }),
    ).rejects.toThrow('abort');
    await commitUsers(t, 'watch-rollback-other', 1);
    await sleep(300);
    expect(stream.events).toEqual([]);
    await commitUsers(t, user, 1, { writerId: 'w' });
    expect(await stream.waitForEvent()).toEqual({ bundle_seq: 1, source_id: 'w', source_bundle_id: 1 });
  });

  it('delivers strictly increasing, coalesced sequences ending at the latest (P8)', async () => {
    const user = 'watch-burst';
    await initEmptyScope(t, user);
    const stream = await watch(user);
    await stream.waitForText(': heartbeat');
    await Promise.all([commitBundles(t, user, 5, 'a'), commitBundles(t, user, 5, 'b')]);
    await stream.waitForEvent((e) => e.bundle_seq === 10);
    const seqs = stream.events.map((e) => e.bundle_seq);
    expect(seqs).toEqual([...new Set(seqs)].sort((x, y) => x - y));
  });

  it('unregisters the subscriber when the client disconnects (P3)', async () => {
    const user = 'watch-cleanup';
    await initEmptyScope(t, user);
    const hub = t.get(BundleChangeHub);
    const pk = await userPk(user);
    const a = await watch(user);
    const b = await watch(user);
    await a.waitForText(': heartbeat');
    expect(hub.subscriberCount(pk)).toBe(2);
    a.close();
    await waitFor(() => hub.subscriberCount(pk) === 1, 2000, 'one subscriber left');
    b.close();
    await waitFor(() => hub.subscriberCount(pk) === 0, 2000, 'no subscriber left');
  });

  it('answers 500 bundle_change_watch_failed on an unexpected database error', async () => {
    await initEmptyScope(t, 'watch-broken');
    await q(t, `ALTER TABLE sync.scope_state RENAME TO scope_state_moved`);
    try {
      const res = await watch('watch-broken');
      expect(res.status).toBe(500);
      expect(res.errorBody).toMatchObject({ error: 'bundle_change_watch_failed' });
    } finally {
      await q(t, `ALTER TABLE sync.scope_state_moved RENAME TO scope_state`);
    }
    expect(t.get(BundleChangeHub).subscriberCount()).toBe(0);
  });

  it('rejects bad queries and uninitialized scopes (P1)', async () => {
    for (const [query, message] of [
      ['?after_bundle_seq=-1', 'after_bundle_seq must be >= 0'],
      ['?after_bundle_seq=abc', 'after_bundle_seq must be an integer'],
    ]) {
      const res = await watch('watch-errors', query);
      expect(res.status).toBe(400);
      expect(res.errorBody).toEqual({ error: 'invalid_request', message });
    }
    expect((await watch('watch-nobody')).errorBody).toMatchObject({ error: 'scope_uninitialized' });
    await uninitializedScope(t, 'watch-uninit');
    expect((await watch('watch-uninit')).status).toBe(409);
    await initializingScope(t, 'watch-initializing');
    const initializing = await watch('watch-initializing');
    expect(initializing.status).toBe(409);
    expect(initializing.errorBody).toMatchObject({ error: 'scope_initializing' });
    const anonymous = await openWatch(t.baseUrl, { source: 'x' });
    expect(anonymous.status).toBe(401);
    expect(anonymous.errorBody).toMatchObject({ error: 'authentication_failed' });
    const noHeader = await openWatch(t.baseUrl, { user: 'watch-errors' });
    expect(noHeader.status).toBe(400);
    expect(t.get(BundleChangeHub).subscriberCount()).toBe(0);
  });
});

describe('GET /sync/watch configuration', () => {
  let t: OversyncTestApp;
  afterEach(async () => t.close());

  it('answers 503 bundle_change_watch_disabled when watch is off (after query validation) (P1)', async () => {
    t = await createOversyncTestApp({ listen: true, options: { watch: { enabled: false } } });
    await initEmptyScope(t, 'watch-off');
    const off = await openWatch(t.baseUrl, { user: 'watch-off', source: 'd', query: '?after_bundle_seq=0' });
    expect(off.status).toBe(503);
    expect(off.errorBody).toEqual({
      error: 'bundle_change_watch_disabled',
      message: 'Bundle change watch is disabled',
    });
    const bad = await openWatch(t.baseUrl, { user: 'watch-off', source: 'd', query: '?after_bundle_seq=-1' });
    expect(bad.status).toBe(400);
  });

  it('answers 403 bundle_change_watch_forbidden for actors the policy denies, before the query (P1)', async () => {
    t = await createOversyncTestApp({
      listen: true,
      options: { watch: { policy: (actor) => actor.sourceId !== 'blocked-device' } },
    });
    await initEmptyScope(t, 'watch-policy');
    const denied = await openWatch(t.baseUrl, {
      user: 'watch-policy',
      source: 'blocked-device',
      query: '?after_bundle_seq=-1',
    });
    expect(denied.status).toBe(403);
    expect(denied.errorBody).toEqual({
      error: 'bundle_change_watch_forbidden',
      message: 'Bundle change watch is not enabled for this client',
    });
    const allowed = await openWatch(t.baseUrl, { user: 'watch-policy', source: 'allowed-device' });
    expect(allowed.status).toBe(200);
    allowed.close();
  });
});
