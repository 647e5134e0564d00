import { isOversyncClientError } from '../errors/oversync-client.error.js';
import { clientWins } from './conflict.types.js';
import { newDevice, newServer, restart, rows, scalar } from '../testing/test-device.js';

const user = (id: string, name: string) => ({
  table: 'users',
  key: id,
  payload: { id, name, email: `${id}@x` },
});

describe('pullToStable', () => {
  it('pages with a frozen stable target and applies every bundle', async () => {
    const server = newServer();
    server.serverWrite('user-1', [user('u1', 'A')]);
    const device = await newDevice(server, { downloadLimit: 2 });
    await device.client.attach('user-1');
    server.serverWrite('user-1', [user('u2', 'B')]);
    server.serverWrite('user-1', [user('u3', 'C')]);
    server.serverWrite('user-1', [{ table: 'users', key: 'u1', payload: null }]);
    expect(await device.client.pullToStable()).toEqual({ outcome: 'applied_incremental' });
    const pulls = server.requests
      .filter((r) => r.path === '/sync/pull')
      .map((r) => Object.fromEntries(r.query));
    expect(pulls).toEqual([
      { after_bundle_seq: '1', max_bundles: '2' },
      { after_bundle_seq: '3', max_bundles: '2', target_bundle_seq: '4' },
    ]);
    expect(rows(device.db, 'SELECT id, name FROM users ORDER BY id')).toEqual([
      { id: 'u2', name: 'B' },
      { id: 'u3', name: 'C' },
    ]);
    expect(device.client.lastBundleSeqSeen()).toBe(4);
    expect(scalar(device.db, 'SELECT COUNT(*) FROM _sync_dirty_rows')).toBe(0);
    expect(await device.client.pullToStable()).toEqual({ outcome: 'already_at_target' });
    await device.client.close();
  });

  it('keeps the checkpoint at the last durable bundle when a later one is broken', async () => {
    const server = newServer();
    server.serverWrite('user-1', [user('u0', 'Z')]);
    const device = await newDevice(server);
    await device.client.attach('user-1');
    server.serverWrite('user-1', [user('u1', 'A')]);
    server.serverWrite('user-1', [user('u2', 'B')]);
    server.rewrite('GET /sync/pull', (body) => {
      const bundles = body['bundles'] as { rows: { payload: Record<string, unknown> }[] }[];
      if (bundles[1]) delete bundles[1].rows[0].payload['email'];
    });
    const error = await device.client.pullToStable().catch((e: unknown) => e);
    expect(isOversyncClientError(error, 'invalid_row')).toBe(true);
    expect(scalar(device.db, 'SELECT last_bundle_seq_seen FROM _sync_attachment_state')).toBe(2);
    // The applied bundle and checkpoint are durable: a restart sees them.
    const next = await restart(device, server);
    expect(rows(next.db, 'SELECT id FROM users ORDER BY id')).toEqual([{ id: 'u0' }, { id: 'u1' }]);
    expect(scalar(next.db, 'SELECT last_bundle_seq_seen FROM _sync_attachment_state')).toBe(2);
    await next.client.close();
  });

  it('rejects a stable_bundle_seq that changes between pages', async () => {
    const server = newServer();
    server.serverWrite('user-1', [user('u0', 'Z')]);
    const device = await newDevice(server, { downloadLimit: 1 });
    await device.client.attach('user-1');
    server.serverWrite('user-1', [user('u1', 'A')]);
    server.serverWrite('user-1', [user('u2', 'B')]);
    let page = 0;
    server.rewrite('GET /sync/pull', (body) => {
      if (++page === 2) body['stable_bundle_seq'] = 9;
    });
    await expect(device.client.pullToStable()).rejects.toThrow('stable bundle seq changed');
    expect(device.client.lastBundleSeqSeen()).toBe(2);
    await device.client.close();
  });

  it('refuses while local intent is pending, before any request', async () => {
    const server = newServer();
    const device = await newDevice(server);
    await device.client.attach('user-1');
    device.db.run("INSERT INTO users VALUES ('u1', 'A', 'a')");
    const before = server.requests.length;
    await expect(device.client.pullToStable()).rejects.toMatchObject({
      code: 'dirty_state_rejected',
      details: { dirtyCount: 1 },
    });
    await expect(device.client.rebuild()).rejects.toMatchObject({ code: 'dirty_state_rejected' });
    expect(server.requests.length).toBe(before);
    await device.client.close();
  });

  it('falls back to a snapshot rebuild on history_pruned', async () => {
    const server = newServer();
    server.serverWrite('user-1', [user('u0', 'Z')]);
    const device = await newDevice(server, { snapshotChunkRows: 2 });
    await device.client.attach('user-1');
    for (let i = 1; i <= 8; i++) server.serverWrite('user-1', [user(`u${i}`, `N${i}`)]);
    server.scope('user-1').floor = 5;
    expect(await device.client.pullToStable()).toEqual({
      outcome: 'applied_snapshot',
      restore: { bundleSeq: 9, rowCount: 9 },
    });
    expect(device.client.lastBundleSeqSeen()).toBe(9);
    expect(scalar(device.db, 'SELECT COUNT(*) FROM users')).toBe(9);
    expect(scalar(device.db, 'SELECT rebuild_required FROM _sync_attachment_state')).toBe(0);
    // 1 page during attach (1 row) + 5 pages of 2 for the 9-row rebuild.
    expect(server.count('GET /sync/snapshot-sessions')).toBe(6);
    expect(server.count('DELETE /sync/snapshot-sessions')).toBe(2);
    await device.client.close();
  });

  it('keeps old data and the checkpoint when a snapshot download fails, and gates sync until rebuild', async () => {
    const server = newServer();
    server.serverWrite('user-1', [user('u0', 'Z')]);
    const device = await newDevice(server, { snapshotChunkRows: 1 });
    await device.client.attach('user-1');
    server.serverWrite('user-1', [user('u1', 'A')]);
    let chunks = 0;
    const remove = server.intercept((req) =>
      req.method === 'GET' && req.path.startsWith('/sync/snapshot-sessions/') && ++chunks === 2
        ? new Response('{"error":"snapshot_session_expired","message":"gone"}', { status: 410 })
        : undefined,
    );
    await expect(device.client.rebuild()).rejects.toMatchObject({ code: 'http_status' });
    expect(rows(device.db, 'SELECT id FROM users')).toEqual([{ id: 'u0' }]);
    expect(scalar(device.db, 'SELECT last_bundle_seq_seen FROM _sync_attachment_state')).toBe(1);
    const before = server.requests.length;
    await expect(device.client.pushPending()).rejects.toMatchObject({ code: 'rebuild_required' });
    await expect(device.client.pullToStable()).rejects.toMatchObject({ code: 'rebuild_required' });
    expect(server.requests.length).toBe(before);
    remove();
    expect(await device.client.rebuild()).toEqual({
      outcome: 'applied_snapshot',
      restore: { bundleSeq: 2, rowCount: 2 },
    });
    expect(await device.client.pullToStable()).toEqual({ outcome: 'already_at_target' });
    expect(server.requests.at(-1)!.query.get('after_bundle_seq')).toBe('2');
    await device.client.close();
  });

  it('sync() pulls around keys with pending local edits instead of overwriting them', async () => {
    const server = newServer();
    const device = await newDevice(server, { conflictResolver: clientWins });
    await device.client.attach('user-1');
    device.db.run("INSERT INTO users VALUES ('u1', 'Base', 'b')");
    await device.client.sync();
    server.serverWrite('user-1', [user('u1', 'Remote'), user('u2', 'New remote')]);
    device.db.run("UPDATE users SET name = 'Local edit' WHERE id = 'u1'");
    device.client.setUploadsPaused(true);
    expect(await device.client.sync()).toEqual({
      pushOutcome: 'skipped_paused',
      remoteOutcome: 'applied_incremental',
    });
    expect(rows(device.db, 'SELECT id, name FROM users ORDER BY id')).toEqual([
      { id: 'u1', name: 'Local edit' },
      { id: 'u2', name: 'New remote' },
    ]);
    expect(rows(device.db, 'SELECT base_row_version FROM _sync_dirty_rows')).toEqual([
      { base_row_version: 1 },
    ]);
    device.client.setUploadsPaused(false);
    await device.client.sync();
    expect(server.scope('user-1').rows.get('users\u0000u1')!.payload).toMatchObject({ name: 'Local edit' });
    await device.client.close();
  });
});
