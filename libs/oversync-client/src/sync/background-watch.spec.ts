import { errorResponse } from '../testing/fake-server.http.js';
import { type FakeOversyncServer } from '../testing/fake-oversync-server.js';
import { newDevice, newServer, type Device, type DeviceOptions } from '../testing/test-device.js';

async function waitFor(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const FAST = { minBackoffMs: 5, maxBackoffMs: 20, localChangeDebounceMs: 5, pollIntervalMs: 20 };

describe('background watch stream per session', () => {
  const devices: Device[] = [];
  const device = async (server: FakeOversyncServer, options: DeviceOptions) => {
    const d = await newDevice(server, options);
    devices.push(d);
    return d;
  };
  afterEach(async () => {
    await Promise.all(devices.splice(0).map((d) => d.client.close()));
  });

  it('watches a user allowed to after a user whose watch was forbidden', async () => {
    const server = newServer({ watch: true });
    server.intercept((req) =>
      req.path === '/sync/watch' && req.headers['authorization'] === 'Bearer alice'
        ? errorResponse(403, 'bundle_change_watch_forbidden', 'not for alice')
        : undefined,
    );
    let token = 'alice';
    const d = await device(server, { getToken: () => token, background: FAST });
    await d.client.attach('alice');
    d.client.start();
    await waitFor(() => server.count('GET /sync/watch') === 1);
    await sleep(50);
    // Forbidden: alice polls, without asking again.
    expect(server.count('GET /sync/watch')).toBe(1);

    expect(await d.client.detach()).toMatchObject({ outcome: 'detached' });
    token = 'bob';
    expect(await d.client.attach('bob')).toMatchObject({ status: 'connected' });
    await waitFor(() => server.watcherCount === 1);
    const watches = server.requests.filter((r) => r.path === '/sync/watch');
    expect(watches.map((r) => r.headers['authorization'])).toEqual(['Bearer alice', 'Bearer bob']);
  });

  it('watches a user whose capabilities offer watch after one whose capabilities did not', async () => {
    const server = newServer({ watch: true });
    server.rewrite('GET /sync/capabilities', (body) => {
      const features = body['features'] as Record<string, boolean>;
      if (server.requests.at(-1)?.headers['authorization'] === 'Bearer alice')
        features['bundle_change_watch'] = false;
    });
    let token = 'alice';
    const d = await device(server, { getToken: () => token, background: FAST });
    await d.client.attach('alice');
    d.client.start();
    await sleep(50);
    expect(server.count('GET /sync/watch')).toBe(0);

    expect(await d.client.detach()).toMatchObject({ outcome: 'detached' });
    token = 'bob';
    expect(await d.client.attach('bob')).toMatchObject({ status: 'connected' });
    await waitFor(() => server.watcherCount === 1);
  });

  it('backs off, doubling, from a watch stream that closes before delivering anything', async () => {
    const server = newServer({ watch: true });
    server.intercept((req) =>
      req.path === '/sync/watch'
        ? new Response('', { status: 200, headers: { 'Content-Type': 'text/event-stream' } })
        : undefined,
    );
    const errors: unknown[] = [];
    const d = await device(server, {
      background: { ...FAST, minBackoffMs: 10, maxBackoffMs: 80, pollIntervalMs: 60_000 },
      onBackgroundError: (e) => errors.push(e),
    });
    await d.client.attach('user-1');
    d.client.start();
    await sleep(500);
    await d.client.stop();
    // 10 + 20 + 40 + 80 + 80 + … ms: about 8 connections in 500 ms, not one every 10 ms.
    expect(server.count('GET /sync/watch')).toBeLessThanOrEqual(10);
    expect(server.count('GET /sync/pull')).toBeLessThanOrEqual(12);
    expect(errors).toEqual([]);
  });

  it('polls without reporting errors when the server answers 503 bundle_change_watch_disabled', async () => {
    const server = newServer({ watch: true });
    server.intercept((req) =>
      req.path === '/sync/watch'
        ? errorResponse(503, 'bundle_change_watch_disabled', 'watch is disabled')
        : undefined,
    );
    const errors: unknown[] = [];
    const d = await device(server, { background: FAST, onBackgroundError: (e) => errors.push(e) });
    await d.client.attach('user-1');
    d.client.start();
    await waitFor(() => server.count('GET /sync/watch') === 1);
    server.serverWrite('user-1', [
      { table: 'users', key: 'u9', payload: { id: 'u9', name: 'P', email: null } },
    ]);
    await waitFor(() => d.client.lastBundleSeqSeen() === 1);
    await sleep(100);
    expect(server.count('GET /sync/watch')).toBe(1);
    expect(errors).toEqual([]);
  });

  it('treats an interval too long for a timer (Infinity: never) as the longest timer, not as 1 ms', async () => {
    const server = newServer();
    const d = await device(server, {
      background: { watch: 'off', pollIntervalMs: Infinity, maxBackoffMs: Number.MAX_SAFE_INTEGER },
    });
    await d.client.attach('user-1');
    d.client.start();
    await waitFor(() => server.count('GET /sync/pull') === 1);
    await sleep(100);
    await d.client.stop();
    expect(server.count('GET /sync/pull')).toBe(1);
  });

  it('reopens a watch stream that went silent (a half-open connection) and pulls once', async () => {
    const server = newServer({ watch: true });
    let silent = true;
    server.intercept((req) => {
      if (req.path !== '/sync/watch' || !silent) return undefined;
      silent = false;
      // Headers arrive, then nothing ever again: not even the heartbeat a live server sends.
      return new Response(new ReadableStream<Uint8Array>({ start: () => undefined }), {
        status: 200,
        headers: { 'Content-Type': 'text/event-stream' },
      });
    });
    const d = await device(server, {
      background: {
        ...FAST,
        pollIntervalMs: 60_000,
        watchFallbackIntervalMs: 60_000,
        watchIdleTimeoutMs: 50,
      },
    });
    await d.client.attach('user-1');
    d.client.start();
    await waitFor(() => server.watcherCount === 1);
    expect(server.count('GET /sync/watch')).toBe(2);
    server.serverWrite('user-1', [
      { table: 'users', key: 'u7', payload: { id: 'u7', name: 'W', email: null } },
    ]);
    await waitFor(() => d.client.lastBundleSeqSeen() === 1);
  });
});
