import { type FakeOversyncServer } from '../testing/fake-oversync-server.js';
import { newDevice, newServer, restart, rows, scalar, type Device } from '../testing/test-device.js';

/** Push-related requests in order: create, 2 chunks, commit, 2 committed-row pages. */
const isPushCall = (path: string) =>
  path.startsWith('/sync/push-sessions') || path.startsWith('/sync/committed-bundles');

async function prepare(server: FakeOversyncServer): Promise<Device> {
  const device = await newDevice(server, { uploadChunkRows: 2, downloadLimit: 2, retry: false });
  await device.client.attach('user-1');
  device.db.run("INSERT INTO users VALUES ('u1', 'A', 'a'), ('u2', 'B', 'b'), ('u3', 'C', 'c')");
  await device.client.flush();
  return device;
}

async function expectConverged(server: FakeOversyncServer, device: Device): Promise<void> {
  const scope = server.scope('user-1');
  expect(scope.bundles).toHaveLength(1);
  expect(scope.rows.size).toBe(3);
  expect(scalar(device.db, 'SELECT COUNT(*) FROM _sync_dirty_rows')).toBe(0);
  expect(scalar(device.db, 'SELECT COUNT(*) FROM _sync_outbox_rows')).toBe(0);
  expect(scalar(device.db, 'SELECT next_source_bundle_id FROM _sync_source_state')).toBe(2);
  expect(scalar(device.db, 'SELECT last_bundle_seq_seen FROM _sync_attachment_state')).toBe(1);
  expect(rows(device.db, 'SELECT DISTINCT row_version FROM _sync_row_state')).toEqual([{ row_version: 1 }]);
  expect(scalar(device.db, 'SELECT COUNT(*) FROM users')).toBe(3);
}

describe('push crash and resume', () => {
  // Calls: 1 create, 2-3 chunks, 4 commit, 5-6 committed rows (3 rows, pages of 2).
  for (const call of [1, 2, 3, 4, 5, 6]) {
    for (const mode of ['request lost', 'response lost'] as const) {
      it(`resumes after a crash at push call ${call} (${mode})`, async () => {
        const server = newServer();
        const device = await prepare(server);
        let seen = 0;
        const remove = server.intercept((req) => {
          if (!isPushCall(req.path) || req.method === 'DELETE') return undefined;
          seen += 1;
          if (seen !== call) return undefined;
          if (mode === 'response lost') server.handle(req);
          throw new TypeError('fetch failed: connection reset');
        });
        await expect(device.client.pushPending()).rejects.toMatchObject({ code: 'network_error' });
        remove();
        // The process dies here: the next run starts from the last persisted image.
        const next = await restart(device, server, { uploadChunkRows: 2, downloadLimit: 2 });
        expect(await next.client.attach('user-1')).toEqual({
          status: 'connected',
          outcome: 'resumed_attached_state',
        });
        const before = server.requests.length;
        expect(await next.client.pushPending()).toEqual({ outcome: 'committed' });
        const resumed = server.requests
          .slice(before)
          .map((r) => `${r.method} ${r.path.replace(/[0-9a-f-]{36}/, ':id')}`);
        if (call >= 5 || (call === 4 && mode === 'response lost')) {
          // Committed remotely: no new session, no chunk uploads.
          expect(resumed.filter((r) => r.endsWith('/chunks'))).toEqual([]);
        }
        await expectConverged(server, next);
        await next.client.close();
      });
    }
  }

  it('crash after the commit was recorded skips straight to the committed-row fetch', async () => {
    const server = newServer();
    const device = await prepare(server);
    const remove = server.intercept((req) => {
      if (req.path.startsWith('/sync/committed-bundles')) throw new TypeError('fetch failed');
      return undefined;
    });
    await expect(device.client.pushPending()).rejects.toThrow();
    remove();
    expect(scalar(device.db, 'SELECT state FROM _sync_outbox_bundle')).toBe('committed_remote');
    const next = await restart(device, server);
    await next.client.attach('user-1');
    const before = server.requests.length;
    await next.client.pushPending();
    const calls = server.requests.slice(before);
    expect(calls.filter((r) => r.path.startsWith('/sync/push-sessions'))).toHaveLength(0);
    expect(calls.filter((r) => r.path.startsWith('/sync/committed-bundles'))).toHaveLength(1);
    await expectConverged(server, next);
    await next.client.close();
  });

  it('retries a transient 503 on create within the retry budget', async () => {
    const server = newServer();
    const device = await newDevice(server);
    await device.client.attach('user-1');
    device.db.run("INSERT INTO users VALUES ('u1', 'A', 'a')");
    let failures = 1;
    server.intercept((req) =>
      req.path === '/sync/push-sessions' && failures-- > 0
        ? new Response('{"error":"service_unavailable","message":"x"}', { status: 503 })
        : undefined,
    );
    expect(await device.client.pushPending()).toEqual({ outcome: 'committed' });
    expect(server.requests.filter((r) => r.path === '/sync/push-sessions')).toHaveLength(2);
    await device.client.close();
  });
});
