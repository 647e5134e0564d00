/**
 * Background sync with `GET /sync/watch` against the real server (scenarios P9, P10): a write on
 * device A (or a server write) is applied on device B through the SSE wake-up, long before B's
 * polling interval; local writes are pushed by the background loop; watch off polls instead.
 */
import type { SyncStatusEvent } from '@oversync/client';
import { BundleChangeHub } from '@oversync/nestjs';
import {
  closeDevice,
  openDevice,
  sqliteCount,
  sqliteRows,
  type Device,
  type DeviceOptions,
} from '../support/client-devices.js';
import { FaultyFetch, routeOf } from '../support/client-faults.js';
import { uuid, userId } from '../support/client-schema.js';
import {
  deviceTable,
  lit,
  rawSql,
  serverTable,
  startClientServer,
  type ClientServer,
} from '../support/client-server.js';
import { nextStatus, waitFor } from '../support/client-waiters.js';

/** Polling so slow that only a watch event can explain a convergence within the test. */
const NO_POLLING = {
  pollIntervalMs: 600_000,
  watchFallbackIntervalMs: 600_000,
  minBackoffMs: 20,
  localChangeDebounceMs: 5,
};

describe('client background sync with watch (real server)', () => {
  let server: ClientServer;
  const open: Device[] = [];

  const device = async (user: string, options: Partial<DeviceOptions> = {}) => {
    const d = await openDevice({ baseUrl: server.baseUrl, userId: user, ...options });
    open.push(d);
    return d;
  };
  const addUser = (d: Device, name: string) =>
    d.db.run('INSERT INTO users (id, name, email) VALUES (?, ?, ?)', [uuid(), name, `${name}@x`]);
  const hasUser = (d: Device, name: string) =>
    sqliteCount(d.db, 'SELECT COUNT(*) FROM users WHERE name = ?', [name]) === 1;
  const subscribers = () => server.t.get(BundleChangeHub).subscriberCount();
  /** Starts B in the background and waits until its watch stream is open on the server. */
  const watching = async (user: string, options: Partial<DeviceOptions> = {}) => {
    const faults = new FaultyFetch();
    const before = subscribers();
    const b = await device(user, {
      fetch: faults.fetch,
      background: { watch: 'auto', ...NO_POLLING },
      ...options,
    });
    b.client.start();
    await waitFor(() => subscribers() > before, { what: 'the watch subscription' });
    return { b, faults };
  };

  beforeAll(async () => {
    server = await startClientServer();
  });
  afterAll(async () => {
    for (const d of open) await closeDevice(d).catch(() => undefined);
    await server.close();
  });

  it('P9 peer-push: a push on A is applied on B through watch, without polling', async () => {
    const user = userId('watch-peer');
    const a = await device(user);
    const { b, faults } = await watching(user);
    const pullsBefore = faults.count('pull');
    const synced = nextStatus(
      b.client,
      (e: SyncStatusEvent) => e.state === 'synced' && e.lastBundleSeqSeen >= 1,
    );
    addUser(a, 'Watch Peer Ada');
    expect((await a.client.sync()).pushOutcome).toBe('committed');
    await waitFor(() => hasUser(b, 'Watch Peer Ada'), { timeoutMs: 5000, what: 'B to apply A’s bundle' });
    await synced;
    expect(b.client.lastBundleSeqSeen()).toBe(a.client.lastBundleSeqSeen());
    expect(faults.count('watch')).toBe(1);
    expect(faults.count('pull') - pullsBefore).toBeLessThanOrEqual(2);
    expect(deviceTable(b.db, 'users')).toEqual(await serverTable(server.pool, 'users', user));
  });

  it('P9 server-originated: an execWrite wakes B; B’s own writes are pushed in the background', async () => {
    const user = userId('watch-server');
    const a = await device(user, { background: { watch: 'auto', ...NO_POLLING } });
    a.client.start();
    const { b } = await watching(user);
    const seq = await server.write(
      user,
      rawSql(
        `INSERT INTO business.users (_sync_scope_id, id, name, email) VALUES (${lit(user)}, '${uuid()}', 'Watch Server Ada', 's@x')`,
      ),
      'mobile-flow-server-originated',
    );
    await waitFor(() => b.client.lastBundleSeqSeen() >= seq, {
      timeoutMs: 5000,
      what: 'B to reach the server bundle',
    });
    expect(hasUser(b, 'Watch Server Ada')).toBe(true);
    addUser(b, 'Written on B');
    await waitFor(() => hasUser(a, 'Written on B'), {
      timeoutMs: 5000,
      what: 'A to receive B’s background push',
    });
    await waitFor(() => b.client.pendingSyncStatus().pendingRowCount === 0, { what: 'B to settle' });
    expect(deviceTable(a.db, 'users')).toEqual(await serverTable(server.pool, 'users', user));
    expect(deviceTable(b.db, 'users')).toEqual(deviceTable(a.db, 'users'));
  });

  it('P9 reconnect catch-up and idle cleanup: a restarted watcher gets the missed bundle', async () => {
    const user = userId('watch-reconnect');
    const a = await device(user);
    const baseline = subscribers();
    const { b } = await watching(user);
    await b.client.stop();
    await waitFor(() => subscribers() === baseline, { what: 'the subscription to close' });
    addUser(a, 'Watch Reconnect Ada');
    await a.client.pushPending();
    expect(hasUser(b, 'Watch Reconnect Ada')).toBe(false);
    b.client.start();
    await waitFor(() => hasUser(b, 'Watch Reconnect Ada'), { timeoutMs: 5000, what: 'the catch-up' });
    await closeDevice(b);
    await waitFor(() => subscribers() === baseline, { what: 'close to end the stream' });
  });

  it('P10 default-off: watch off never opens /sync/watch and converges by polling', async () => {
    const user = userId('watch-off');
    const a = await device(user);
    const faults = new FaultyFetch();
    const b = await device(user, { fetch: faults.fetch, background: { watch: 'off', pollIntervalMs: 50 } });
    b.client.start();
    addUser(a, 'Polled Ada');
    await a.client.pushPending();
    await waitFor(() => hasUser(b, 'Polled Ada'), { timeoutMs: 5000, what: 'the polling pull' });
    expect(faults.calls.filter((c) => routeOf(c) === 'watch')).toHaveLength(0);
    expect(sqliteRows(b.db, 'SELECT name FROM users')).toEqual([{ name: 'Polled Ada' }]);
  });

  it('P10: a forbidden watch switches to polling after exactly one attempt', async () => {
    const user = userId('watch-forbidden');
    const a = await device(user);
    const faults = new FaultyFetch().fail({
      match: (c) => routeOf(c) === 'watch',
      respond: {
        status: 403,
        body: { error: 'bundle_change_watch_forbidden', message: 'not for this client' },
      },
      times: 100,
    });
    const b = await device(user, { fetch: faults.fetch, background: { watch: 'auto', pollIntervalMs: 50 } });
    b.client.start();
    addUser(a, 'Polled after 403');
    await a.client.pushPending();
    await waitFor(() => hasUser(b, 'Polled after 403'), { timeoutMs: 5000, what: 'the polling fallback' });
    expect(faults.count('watch')).toBe(1);
  });
});
