/**
 * Transport failures, retries, response validation and local capture against the real server
 * (scenarios E12, F9, F13, L3, L4, L8, L9, M6, M8, M14, N4): a fetch wrapper injects network
 * errors, error statuses and tampered answers at chosen requests.
 */
import {
  closeDevice,
  failure,
  openDevice,
  sqliteCount,
  sqliteRows,
  syncState,
  type Device,
  type DeviceOptions,
} from '../support/client-devices.js';
import { FaultyFetch, routeOf } from '../support/client-faults.js';
import { uuid, userId } from '../support/client-schema.js';
import { deviceTable, serverTable, startClientServer, type ClientServer } from '../support/client-server.js';

const is = (route: string) => (call: { method: string; path: string; query: string }) =>
  routeOf(call) === route;

describe('client transport faults and local capture (real server)', () => {
  let server: ClientServer;
  const open: Device[] = [];

  const device = async (user: string, faults: FaultyFetch, options: Partial<DeviceOptions> = {}) => {
    const d = await openDevice({ baseUrl: server.baseUrl, userId: user, fetch: faults.fetch, ...options });
    open.push(d);
    return d;
  };
  const addUser = (d: Device, name: string, id = uuid()) => {
    d.db.run('INSERT INTO users (id, name, email) VALUES (?, ?, ?)', [id, name, `${name}@x`]);
    return id;
  };
  const sameAsServer = async (d: Device, table = 'users') =>
    expect(deviceTable(d.db, table)).toEqual(await serverTable(server.pool, table, d.userId));

  beforeAll(async () => {
    server = await startClientServer();
  });
  afterAll(async () => {
    for (const d of open) await closeDevice(d).catch(() => undefined);
    await server.close();
  });

  it('L8/N4: edits coalesce; no-op pairs send nothing; key changes and cascades push as deletes', async () => {
    const faults = new FaultyFetch();
    const d = await device(userId('l8'), faults);
    const id = addUser(d, 'First');
    d.db.run("UPDATE users SET name = 'Latest' WHERE id = ?", [id]);
    const gone = addUser(d, 'Gone');
    d.db.run('DELETE FROM users WHERE id = ?', [gone]);
    expect((await d.client.pushPending()).outcome).toBe('committed');
    const rows = (faults.of('chunk')[0]?.body as { rows: Array<{ op: string; payload: { name: string } }> })
      .rows;
    expect(rows.map((r) => [r.op, r.payload.name])).toEqual([['INSERT', 'Latest']]);
    expect(syncState(d.db)).toMatchObject({ nextSourceBundleId: 2, lastBundleSeqSeen: 1, dirty: 0 });
    const before = faults.calls.length;
    d.db.run('DELETE FROM users WHERE id = ?', [addUser(d, 'Never sent')]);
    expect((await d.client.pushPending()).outcome).toBe('no_change');
    expect(faults.calls.length).toBe(before);

    const renamed = uuid();
    d.db.run('UPDATE users SET id = ? WHERE id = ?', [renamed, id]);
    expect(sqliteRows(d.db, 'SELECT key_json, op FROM _sync_dirty_rows ORDER BY op')).toEqual([
      { key_json: JSON.stringify({ id }), op: 'DELETE' },
      { key_json: JSON.stringify({ id: renamed }), op: 'INSERT' },
    ]);
    await d.client.pushPending();
    expect((await serverTable(server.pool, 'users', d.userId)).map((r) => r['id'])).toEqual([renamed]);
    d.db.run('INSERT INTO posts (id, title, content, author_id) VALUES (?, ?, ?, ?)', [
      uuid(),
      'Post',
      'c',
      renamed,
    ]);
    await d.client.pushPending();
    d.db.run('DELETE FROM users WHERE id = ?', [renamed]);
    expect(sqliteRows(d.db, 'SELECT table_name, op FROM _sync_dirty_rows ORDER BY table_name')).toEqual([
      { table_name: 'posts', op: 'DELETE' },
      { table_name: 'users', op: 'DELETE' },
    ]);
    await d.client.pushPending();
    expect(await serverTable(server.pool, 'users', d.userId)).toEqual([]);
    expect(await serverTable(server.pool, 'posts', d.userId)).toEqual([]);
  });

  it('L4/F13: transient 503s are retried; exhausted retries and 401s fail; nothing is lost', async () => {
    const user = userId('l4');
    const unavailable = { status: 503, body: { error: 'injected_failure', message: 'injected failure' } };
    const faults = new FaultyFetch()
      .fail({ match: is('connect'), respond: unavailable })
      .fail({ match: is('push-create'), respond: unavailable })
      .fail({ match: is('pull'), respond: unavailable });
    const d = await device(user, faults);
    expect(faults.count('connect')).toBe(2);
    addUser(d, 'Retried');
    expect((await d.client.sync()).pushOutcome).toBe('committed');
    expect([faults.count('push-create'), faults.count('pull')]).toEqual([2, 2]);
    faults.fail({ match: is('push-create'), respond: unavailable, times: 3 });
    addUser(d, 'Exhausted');
    const exhausted = await failure(d.client.pushPending());
    expect(exhausted).toMatchObject({
      code: 'retry_exhausted',
      details: expect.objectContaining({ operation: 'push_pending', attempts: 3 }),
    });
    const calls = faults.count('push-create');
    faults.fail({
      match: is('push-create'),
      respond: { status: 401, body: { error: 'authentication_failed', message: 'no' } },
    });
    expect((await failure(d.client.pushPending())).code).toBe('http_status');
    expect(faults.count('push-create')).toBe(calls + 1);
    expect(syncState(d.db)).toMatchObject({ outboxState: 'prepared', outbox: 1, dirty: 0 });
    expect((await d.client.pushPending()).outcome).toBe('committed');
    await sameAsServer(d);
  });

  it('L3/F9/E12/L9: a frozen outbox survives failures, blocks pulls, and replays exactly once', async () => {
    const user = userId('l9');
    const faults = new FaultyFetch();
    const d = await device(user, faults, { retry: false });
    addUser(d, 'Frozen');
    faults.fail({ match: is('push-create') });
    await failure(d.client.pushPending());
    expect(syncState(d.db)).toMatchObject({ dirty: 0, outbox: 1, outboxState: 'prepared' });
    const before = faults.calls.length;
    expect((await failure(d.client.pullToStable())).code).toBe('pending_push_replay');
    expect((await failure(d.client.rebuild())).code).toBe('pending_push_replay');
    expect(faults.calls.length).toBe(before);
    faults.fail({
      match: is('commit'),
      respond: { status: 409, body: { error: 'push_conflict', message: 'conflict without details' } },
    });
    const unstructured = await failure(d.client.pushPending());
    expect(unstructured.message).toContain('409');
    expect(syncState(d.db)).toMatchObject({ dirty: 0, outbox: 1, nextSourceBundleId: 1 });
    faults.fail({
      match: is('commit'),
      when: 'pass',
      transform: ({ bundle_hash: _dropped, ...rest }) => rest,
    });
    expect((await failure(d.client.pushPending())).message).toContain('bundle_hash');
    expect(syncState(d.db)).toMatchObject({
      dirty: 0,
      outbox: 1,
      nextSourceBundleId: 1,
      lastBundleSeqSeen: 0,
    });
    expect((await d.client.pushPending()).outcome).toBe('committed');
    expect(syncState(d.db)).toMatchObject({ outbox: 0, nextSourceBundleId: 2, lastBundleSeqSeen: 1 });
    const peer = await device(user, new FaultyFetch());
    await sameAsServer(peer);
    expect(sqliteRows(peer.db, 'SELECT name FROM users')).toEqual([{ name: 'Frozen' }]);
  });

  it('M6/M8: a failed connect keeps anonymous work; sync then detach clears only synced data', async () => {
    const user = userId('m6');
    const faults = new FaultyFetch();
    const d = await device(user, faults, { attach: false, retry: false });
    addUser(d, 'Anonymous');
    faults.fail({ match: is('connect') });
    expect((await failure(d.client.attach(user))).code).toBe('network_error');
    expect(d.client.pendingSyncStatus()).toEqual({
      hasPendingSyncData: true,
      pendingRowCount: 1,
      blocksDetach: false,
    });
    expect(await d.client.attach(user)).toMatchObject({ outcome: 'seeded_from_local' });
    addUser(d, 'Second');
    d.client.setUploadsPaused(true);
    // The seed is not pushed yet, so the scope is still initializing: nothing to pull.
    expect(await d.client.sync()).toEqual({
      pushOutcome: 'skipped_paused',
      remoteOutcome: 'already_at_target',
    });
    expect((await d.client.detach()).outcome).toBe('blocked_unsynced_data');
    d.client.setUploadsPaused(false);
    await d.client.sync();
    expect(await d.client.detach()).toEqual({ outcome: 'detached', pendingRowCount: 0 });
    expect(sqliteCount(d.db, 'users')).toBe(0);
    expect((await serverTable(server.pool, 'users', user)).map((r) => r['name']).sort()).toEqual([
      'Anonymous',
      'Second',
    ]);
  });

  it('M14: a second operation while a push is in flight fails fast with sync_in_progress', async () => {
    const faults = new FaultyFetch();
    const box: { device?: Device } = {};
    const overlapping: Array<string | undefined> = [];
    faults.fail({
      match: is('commit'),
      when: 'pass',
      run: async () => {
        const client = box.device!.client;
        for (const call of [
          () => client.pushPending(),
          () => client.pullToStable(),
          () => client.sync(),
          () => client.rebuild(),
        ])
          overlapping.push((await failure(call())).code);
      },
    });
    const d = await device(userId('m14'), faults);
    box.device = d;
    addUser(d, 'Only once');
    expect((await d.client.pushPending()).outcome).toBe('committed');
    expect(overlapping).toEqual([
      'sync_in_progress',
      'sync_in_progress',
      'sync_in_progress',
      'sync_in_progress',
    ]);
    expect(faults.count('commit')).toBe(1);
    await sameAsServer(d);
  });
});
