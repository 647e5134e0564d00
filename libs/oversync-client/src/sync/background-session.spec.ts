import { isOversyncClientError } from '../errors/oversync-client.error.js';
import { type FakeOversyncServer } from '../testing/fake-oversync-server.js';
import { newDevice, newServer, scalar, type Device, type DeviceOptions } from '../testing/test-device.js';

async function waitFor(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

const write = (id: string) => [{ table: 'users', key: id, payload: { id, name: id, email: null } }];
/** Only watch events and session changes can make these loops sync within a test's time. */
const NO_TIMERS = {
  minBackoffMs: 5,
  maxBackoffMs: 20,
  localChangeDebounceMs: 5,
  pollIntervalMs: 60_000,
  watchFallbackIntervalMs: 60_000,
};

describe('background sync across a user switch', () => {
  const devices: Device[] = [];
  /** A device closed after the test even when it fails (running loops would keep Jest alive). */
  const device = async (server: FakeOversyncServer, options: DeviceOptions) => {
    const d = await newDevice(server, options);
    devices.push(d);
    return d;
  };
  afterEach(async () => {
    await Promise.all(devices.splice(0).map((d) => d.client.close()));
  });

  it('closes the old user’s watch stream on detach and watches the new user after attach', async () => {
    const server = newServer({ watch: true });
    let token = 'alice';
    const d = await device(server, { getToken: () => token, background: NO_TIMERS });
    await d.client.attach('alice');
    d.client.start();
    await waitFor(() => server.watcherCount === 1);

    expect(await d.client.detach()).toMatchObject({ outcome: 'detached' });
    await waitFor(() => server.watcherCount === 0);

    token = 'bob';
    server.serverWrite('bob', write('b1'));
    expect(await d.client.attach('bob')).toMatchObject({ status: 'connected' });
    await waitFor(() => server.watcherCount === 1);
    const watches = server.requests.filter((r) => r.path === '/sync/watch');
    expect(watches.map((r) => r.headers['authorization'])).toEqual(['Bearer alice', 'Bearer bob']);

    server.serverWrite('bob', write('b2'));
    await waitFor(() => scalar(d.db, "SELECT COUNT(*) FROM users WHERE id = 'b2'") === 1);
    await d.client.close();
    expect(server.watcherCount).toBe(0);
  });

  it('syncs at once after attach instead of after the post-sync interval', async () => {
    const server = newServer(); // no watch: only the sync loop's timers or a kick can pull
    let token = 'alice';
    const d = await device(server, { getToken: () => token, background: NO_TIMERS });
    await d.client.attach('alice');
    d.client.start();
    await waitFor(() => server.count('GET /sync/pull') > 0);
    expect(await d.client.detach()).toMatchObject({ outcome: 'detached' });
    token = 'bob';
    server.serverWrite('bob', write('b1'));
    // A bundle committed after attach's snapshot was taken reaches the device only through a
    // background sync.
    const remove = server.intercept((req) => {
      if (req.method !== 'POST' || req.path !== '/sync/snapshot-sessions') return undefined;
      remove();
      const answer = server.handle(req);
      server.serverWrite('bob', write('b2'));
      return answer;
    });
    await d.client.attach('bob');
    expect(scalar(d.db, "SELECT COUNT(*) FROM users WHERE id = 'b2'")).toBe(0);
    await waitFor(() => scalar(d.db, "SELECT COUNT(*) FROM users WHERE id = 'b2'") === 1);
  });

  it('refuses start() after close() without starting loops', async () => {
    const server = newServer({ watch: true });
    const d = await device(server, { background: NO_TIMERS });
    await d.client.attach('user-1');
    await d.client.close();
    const before = server.requests.length;
    let error: unknown;
    try {
      d.client.start();
    } catch (e) {
      error = e;
    }
    expect(isOversyncClientError(error, 'client_closed')).toBe(true);
    await new Promise((r) => setTimeout(r, 30));
    expect(server.requests).toHaveLength(before);
  });
});
