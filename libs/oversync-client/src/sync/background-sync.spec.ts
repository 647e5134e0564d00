import { newDevice, newServer, scalar } from '../testing/test-device.js';

async function waitFor(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

const write = (id: string) => [{ table: 'users', key: id, payload: { id, name: id, email: null } }];
const fast = { minBackoffMs: 5, maxBackoffMs: 20, localChangeDebounceMs: 5 };

describe('background sync', () => {
  it('opens /sync/watch when advertised and pulls on bundle events', async () => {
    const server = newServer({ watch: true });
    const device = await newDevice(server, {
      background: { ...fast, pollIntervalMs: 60_000, watchFallbackIntervalMs: 60_000 },
    });
    await device.client.attach('user-1');
    device.client.start();
    await waitFor(() => server.watcherCount === 1);
    const watch = server.requests.find((r) => r.path === '/sync/watch')!;
    expect(watch.headers['oversync-source-id']).toBe(device.client.sourceInfo().sourceId);
    server.serverWrite('user-1', write('w1'));
    await waitFor(() => scalar(device.db, "SELECT COUNT(*) FROM users WHERE id = 'w1'") === 1);
    server.serverWrite('user-1', write('w2'));
    await waitFor(() => scalar(device.db, "SELECT COUNT(*) FROM users WHERE id = 'w2'") === 1);
    await device.client.stop();
    expect(server.watcherCount).toBe(0);
    await device.client.close();
  });

  it('pushes local writes soon after they happen', async () => {
    const server = newServer({ watch: true });
    const device = await newDevice(server, { background: { ...fast, pollIntervalMs: 60_000 } });
    await device.client.attach('user-1');
    device.client.start();
    await waitFor(() => server.watcherCount === 1);
    device.db.run("INSERT INTO users VALUES ('local', 'L', NULL)");
    await waitFor(() => server.scope('user-1').rows.has('users\u0000local'));
    await device.client.close();
  });

  it('polls when the server does not advertise watch, or forbids it', async () => {
    for (const mode of ['not advertised', 'forbidden'] as const) {
      const server = newServer({ watch: mode === 'forbidden' });
      if (mode === 'forbidden') {
        server.intercept((req) =>
          req.path === '/sync/watch'
            ? new Response('{"error":"bundle_change_watch_forbidden","message":"no"}', { status: 403 })
            : undefined,
        );
      }
      const device = await newDevice(server, { background: { ...fast, pollIntervalMs: 10 } });
      await device.client.attach('user-1');
      device.client.start();
      server.serverWrite('user-1', write('p1'));
      await waitFor(() => scalar(device.db, "SELECT COUNT(*) FROM users WHERE id = 'p1'") === 1);
      await new Promise((r) => setTimeout(r, 30));
      expect(server.count('GET /sync/watch')).toBe(mode === 'forbidden' ? 1 : 0);
      await device.client.close();
    }
  });

  it('makes no requests while detached, and stops cleanly', async () => {
    const server = newServer({ watch: true });
    const device = await newDevice(server, { background: { ...fast, pollIntervalMs: 5 } });
    device.client.start();
    device.db.run("INSERT INTO users VALUES ('anon', 'A', NULL)");
    await new Promise((r) => setTimeout(r, 50));
    expect(server.requests).toHaveLength(0);
    await device.client.stop();
    await device.client.close();
  });

  it('reconnects after the stream ends and pulls once as a fallback', async () => {
    const server = newServer({ watch: true });
    const device = await newDevice(server, {
      background: { ...fast, pollIntervalMs: 60_000, watchFallbackIntervalMs: 60_000 },
    });
    await device.client.attach('user-1');
    device.client.start();
    await waitFor(() => server.watcherCount === 1);
    const pulls = server.count('GET /sync/pull');
    server.closeWatchers();
    await waitFor(() => server.count('GET /sync/watch') === 2 && server.count('GET /sync/pull') > pulls);
    await device.client.close();
  });

  it('stop() aborts a background request that never answers and frees the client lock', async () => {
    const server = newServer();
    let hanging = 0;
    // A half-open connection: the pull is sent and no answer ever comes.
    server.intercept((req) => {
      if (req.path !== '/sync/pull') return undefined;
      hanging++;
      return new Promise<Response>(() => undefined);
    });
    const device = await newDevice(server, { background: { ...fast, pollIntervalMs: 60_000 } });
    await device.client.attach('user-1');
    device.client.start();
    await waitFor(() => hanging === 1);
    await device.client.stop();
    expect(server.requests.find((r) => r.path === '/sync/pull')?.signal?.aborted).toBe(true);
    expect(await device.client.pushPending()).toEqual({ outcome: 'no_change' });
    await device.client.close();
  });

  it('a request that outlives requestTimeoutMs fails with network_error and frees the lock', async () => {
    const server = newServer();
    const device = await newDevice(server, { requestTimeoutMs: 30, retry: false });
    await device.client.attach('user-1');
    const stop = server.intercept((req) =>
      req.path === '/sync/pull' ? new Promise<Response>(() => undefined) : undefined,
    );
    await expect(device.client.pullToStable()).rejects.toMatchObject({
      code: 'network_error',
      details: { method: 'GET', path: '/sync/pull', timeoutMs: 30 },
    });
    stop();
    expect(await device.client.pullToStable()).toEqual({ outcome: 'already_at_target' });
    await device.client.close();
  });
});
