/**
 * Attach / detach / user switch against the real server (scenarios M1–M12, M15, L1, L2): the
 * first-authority decision, offline work before sign-in, and switching users on one device.
 */
import { OversyncClient, type AttachResult } from '@oversync/client';
import {
  closeDevice,
  failure,
  openDevice,
  restartDevice,
  sqliteCount,
  sqliteRows,
  syncState,
  type Device,
  type DeviceOptions,
} from '../support/client-devices.js';
import { FaultyFetch } from '../support/client-faults.js';
import { CLIENT_TABLES, uuid, userId } from '../support/client-schema.js';
import {
  deviceTable,
  pgRows,
  serverTable,
  startClientServer,
  type ClientServer,
} from '../support/client-server.js';

describe('client lifecycle (real server)', () => {
  let server: ClientServer;
  const open: Device[] = [];

  const device = async (user: string, options: Partial<DeviceOptions> = {}) => {
    const d = await openDevice({ baseUrl: server.baseUrl, userId: user, ...options });
    open.push(d);
    return d;
  };
  const addUser = (d: Device, name: string, id = uuid()) => {
    d.db.run('INSERT INTO users (id, name, email) VALUES (?, ?, ?)', [id, name, `${name}@example.com`]);
    return id;
  };
  const names = (d: Device) =>
    sqliteRows(d.db, 'SELECT name FROM users ORDER BY name').map((r) => String(r['name']));
  const scopeState = async (user: string) =>
    (
      await pgRows<{ state_code: number }>(
        server.pool,
        'SELECT s.state_code FROM sync.scope_state s JOIN sync.user_state u USING (user_pk) WHERE u.user_id = $1',
        [user],
      )
    )[0]?.state_code;

  beforeAll(async () => {
    server = await startClientServer();
  });
  afterAll(async () => {
    for (const d of open) await closeDevice(d).catch(() => undefined);
    await server.close();
  });

  it('M1/M15: preconditions fail before any request; a server without capabilities is unsupported', async () => {
    const faults = new FaultyFetch();
    const d = await device(userId('m1'), { attach: false, fetch: faults.fetch });
    const fresh = new OversyncClient({
      db: d.db,
      baseUrl: server.baseUrl,
      getToken: () => 'x',
      schema: 'business',
      tables: CLIENT_TABLES,
    });
    expect((await failure(fresh.attach('x'))).code).toBe('open_required');
    for (const call of [() => d.client.pushPending(), () => d.client.pullToStable(), () => d.client.sync()])
      expect((await failure(call())).code).toBe('attach_required');
    expect(() => d.client.lastBundleSeqSeen()).toThrow(expect.objectContaining({ code: 'attach_required' }));
    expect(faults.calls).toHaveLength(0);
    faults.fail({ match: (c) => c.path === '/sync/capabilities', respond: { status: 404, body: {} } });
    expect((await failure(d.client.attach(d.userId))).code).toBe('attach_lifecycle_unsupported');
  });

  it('M2: started_empty, used_remote_state (replacing anonymous rows) and seeded_from_local', async () => {
    const user = userId('m2');
    const a = await device(user, { attach: false });
    expect(await a.client.attach(user)).toEqual({ status: 'connected', outcome: 'started_empty' });
    expect(await scopeState(user)).toBe(2);
    addUser(a, 'Remote');
    await a.client.pushPending();
    const b = await device(user, {
      attach: false,
      seed: (db) => db.exec("INSERT INTO users (id, name, email) VALUES ('" + uuid() + "', 'Local', 'l@x')"),
    });
    const attached: AttachResult = await b.client.attach(user);
    expect(attached).toEqual({
      status: 'connected',
      outcome: 'used_remote_state',
      restore: { bundleSeq: 1, rowCount: 1 },
    });
    expect(names(b)).toEqual(['Remote']);
    expect(syncState(b.db)).toMatchObject({ dirty: 0, lastBundleSeqSeen: 1 });

    const seeder = userId('m2-seed');
    const c = await device(seeder, { attach: false });
    addUser(c, 'Seed');
    expect(await c.client.attach(seeder)).toEqual({ status: 'connected', outcome: 'seeded_from_local' });
    expect(await scopeState(seeder)).toBe(1);
    expect((await c.client.pushPending()).outcome).toBe('committed');
    expect(await scopeState(seeder)).toBe(2);
    const peer = await device(seeder);
    expect(names(peer)).toEqual(['Seed']);
  });

  it('M3: a first-initializer race has one winner; the loser converges on the winner state', async () => {
    const user = userId('m3');
    const a = await device(user, { attach: false });
    const b = await device(user, { attach: false });
    addUser(a, 'Winner A');
    addUser(b, 'Winner B');
    const results = await Promise.all([a.client.attach(user), b.client.attach(user)]);
    const statuses = results.map((r) => (r.status === 'connected' ? r.outcome : r.status)).sort();
    expect(statuses).toEqual(['retry_later', 'seeded_from_local']);
    const [winner, loser] = results[0].status === 'connected' ? [a, b] : [b, a];
    const later = results.find((r) => r.status === 'retry_later');
    expect(later?.status === 'retry_later' && later.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    await winner.client.pushPending();
    expect(await loser.client.attach(user)).toMatchObject({ outcome: 'used_remote_state' });
    expect(names(loser)).toEqual(names(winner));
    expect(await serverTable(server.pool, 'users', user)).toEqual(deviceTable(loser.db, 'users'));
    expect(await serverTable(server.pool, 'users', user)).toHaveLength(1);
  });

  it('M5: an expired seed lease resets the binding; re-attaching commits the seed row', async () => {
    const user = userId('m5');
    const a = await device(user, { attach: false });
    addUser(a, 'Seed');
    expect(await a.client.attach(user)).toMatchObject({ outcome: 'seeded_from_local' });
    await server.pool.query(
      `UPDATE sync.scope_state SET lease_expires_at = now() - interval '1 second'
        WHERE user_pk = (SELECT user_pk FROM sync.user_state WHERE user_id = $1)`,
      [user],
    );
    const error = await failure(a.client.pushPending());
    expect(error.code).toBe('initialization_reset');
    expect(error.message).toContain('initialization_expired');
    expect(
      sqliteRows(a.db, 'SELECT binding_state, pending_initialization_id FROM _sync_attachment_state'),
    ).toEqual([{ binding_state: 'anonymous', pending_initialization_id: '' }]);
    expect(await a.client.attach(user)).toMatchObject({ status: 'connected' });
    expect((await a.client.pushPending()).outcome).toBe('committed');
    const peer = await device(user);
    expect(names(peer)).toEqual(['Seed']);
  });

  it('M7/M9: detach is blocked by unsynced data; a user switch shows only the new user data', async () => {
    const alice = userId('m9-alice');
    const bob = userId('m9-bob');
    let token = alice;
    const d = await device(alice, { getToken: () => token });
    addUser(d, 'Alice Row');
    expect(await d.client.detach()).toEqual({ outcome: 'blocked_unsynced_data', pendingRowCount: 1 });
    const faults = new FaultyFetch();
    const restarted = await restartDevice(d, { fetch: faults.fetch, getToken: () => token });
    open.push(restarted);
    faults.fail({ match: (c) => c.path.endsWith('/commit'), times: 3 });
    await failure(restarted.client.pushPending());
    expect(syncState(restarted.db)).toMatchObject({ outboxState: 'prepared', dirty: 0 });
    expect((await restarted.client.detach()).outcome).toBe('blocked_unsynced_data');
    await restarted.client.pushPending();
    expect(await restarted.client.detach()).toEqual({ outcome: 'detached', pendingRowCount: 0 });
    expect(sqliteCount(restarted.db, 'users')).toBe(0);
    const bobDevice = await device(bob);
    addUser(bobDevice, 'Bob Row');
    await bobDevice.client.pushPending();
    token = bob;
    expect(await restarted.client.attach(bob)).toMatchObject({ outcome: 'used_remote_state' });
    expect(names(restarted)).toEqual(['Bob Row']);
    expect(await serverTable(server.pool, 'users', alice)).toHaveLength(1);
    expect((await serverTable(server.pool, 'users', alice))[0]?.['name']).toBe('Alice Row');
  });

  it('M10/M11/M12: same user re-attach keeps sequencing; detached writes are captured once', async () => {
    const user = userId('m10');
    const d = await device(user);
    const sourceId = d.client.sourceInfo().sourceId;
    addUser(d, 'First');
    await d.client.pushPending();
    expect(syncState(d.db).nextSourceBundleId).toBe(2);
    expect((await d.client.detach()).outcome).toBe('detached');
    const offlineId = addUser(d, 'Offline');
    expect(sqliteRows(d.db, 'SELECT op FROM _sync_dirty_rows')).toEqual([{ op: 'INSERT' }]);
    const restarted = await restartDevice(d, { attach: false });
    open.push(restarted);
    expect(restarted.client.sourceInfo().sourceId).toBe(sourceId);
    expect(sqliteRows(restarted.db, 'SELECT op FROM _sync_dirty_rows')).toEqual([{ op: 'INSERT' }]);
    expect(await restarted.client.attach(user)).toMatchObject({ outcome: 'used_remote_state' });
    expect(names(restarted)).toEqual(['First']);
    expect(sqliteCount(restarted.db, 'SELECT COUNT(*) FROM users WHERE id = ?', [offlineId])).toBe(0);
    addUser(restarted, 'Second');
    await restarted.client.pushPending();
    expect(syncState(restarted.db).nextSourceBundleId).toBe(3);
    expect((await serverTable(server.pool, 'users', user)).map((r) => r['name']).sort()).toEqual([
      'First',
      'Second',
    ]);
  });

  it('L1/L2: offline work before the first sign-in seeds the server exactly', async () => {
    const user = userId('l1');
    const d = await device(user, { attach: false });
    const ids = [1, 2, 3, 4, 5].map((i) => addUser(d, `User ${i}`));
    for (const [i, id] of ids.entries())
      d.db.run('INSERT INTO posts (id, title, content, author_id) VALUES (?, ?, ?, ?)', [
        uuid(),
        `Post ${i}`,
        'c',
        id,
      ]);
    for (const id of ids.slice(0, 3))
      d.db.run("UPDATE users SET name = name || ' (edited)' WHERE id = ?", [id]);
    d.db.run('DELETE FROM posts WHERE author_id = ?', [ids[4]]);
    d.db.run('DELETE FROM users WHERE id = ?', [ids[4]]);
    // 8 upserts plus 2 never-synced deletes, which the freeze drops as no-ops.
    expect(d.client.pendingSyncStatus()).toEqual({
      hasPendingSyncData: true,
      pendingRowCount: 10,
      blocksDetach: false,
    });
    const faults = new FaultyFetch();
    const restarted = await restartDevice(d, { attach: false, fetch: faults.fetch });
    open.push(restarted);
    expect(await restarted.client.attach(user)).toMatchObject({ outcome: 'seeded_from_local' });
    expect((await restarted.client.pushPending()).outcome).toBe('committed');
    expect(faults.of('push-create').map((c) => c.body)).toEqual([
      expect.objectContaining({ planned_row_count: 8, source_bundle_id: 1 }),
    ]);
    for (const table of ['users', 'posts'])
      expect(await serverTable(server.pool, table, user)).toEqual(deviceTable(restarted.db, table));
    expect(await serverTable(server.pool, 'users', user)).toHaveLength(4);
    expect(await serverTable(server.pool, 'posts', user)).toHaveLength(4);
  });
});
