import { type SyncStatusEvent } from '../oversync-client.types.js';
import { newDevice, newServer, restart, rows, scalar } from '../testing/test-device.js';

describe('open / attach / detach', () => {
  it('needs open() and attach() before syncing, failing without requests', async () => {
    const server = newServer();
    const device = await newDevice(server, { noOpen: true });
    await expect(device.client.attach('user-1')).rejects.toMatchObject({ code: 'open_required' });
    await expect(device.client.pushPending()).rejects.toMatchObject({ code: 'open_required' });
    await device.client.open();
    for (const op of [
      () => device.client.pushPending(),
      () => device.client.pullToStable(),
      () => device.client.sync(),
      () => device.client.rebuild(),
    ]) {
      await expect(op()).rejects.toMatchObject({ code: 'attach_required' });
    }
    expect(() => device.client.lastBundleSeqSeen()).toThrow(
      expect.objectContaining({ code: 'attach_required' }),
    );
    expect(server.requests).toHaveLength(0);
    await device.client.close();
  });

  it('keeps the same source id across open() calls and restarts', async () => {
    const server = newServer();
    const device = await newDevice(server);
    const id = device.client.sourceInfo().sourceId;
    await device.client.open();
    expect(device.client.sourceInfo().sourceId).toBe(id);
    const next = await restart(device, server);
    expect(next.client.sourceInfo().sourceId).toBe(id);
    expect(rows(next.db, 'SELECT next_source_bundle_id FROM _sync_source_state')).toEqual([
      { next_source_bundle_id: 1 },
    ]);
    await next.client.close();
  });

  it('reports every attach outcome', async () => {
    const server = newServer();
    const empty = await newDevice(server, { userId: 'empty' });
    expect(await empty.client.attach('empty')).toEqual({ status: 'connected', outcome: 'started_empty' });

    const seeding = await newDevice(server, { userId: 'seed' });
    seeding.db.run("INSERT INTO users VALUES ('u1', 'A', 'a')");
    expect(await seeding.client.attach('seed')).toEqual({
      status: 'connected',
      outcome: 'seeded_from_local',
    });
    expect(seeding.client.pendingSyncStatus()).toEqual({
      hasPendingSyncData: true,
      pendingRowCount: 2,
      blocksDetach: true,
    });

    const loser = await newDevice(server, { userId: 'seed' });
    loser.db.run("INSERT INTO users VALUES ('x9', 'Loser', 'l')");
    expect(await loser.client.attach('seed')).toEqual({ status: 'retry_later', retryAfterSeconds: 7 });
    expect(scalar(loser.db, 'SELECT binding_state FROM _sync_attachment_state')).toBe('anonymous');

    await seeding.client.sync();
    expect(server.requests.filter((r) => r.path === '/sync/push-sessions').at(-1)!.body).toMatchObject({
      initialization_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
    });
    expect(seeding.client.pendingSyncStatus().pendingRowCount).toBe(0);

    const used = await loser.client.attach('seed');
    expect(used).toEqual({
      status: 'connected',
      outcome: 'used_remote_state',
      restore: { bundleSeq: 1, rowCount: 1 },
    });
    expect(rows(loser.db, 'SELECT id FROM users')).toEqual([{ id: 'u1' }]);
    expect(loser.client.lastBundleSeqSeen()).toBe(1);

    const resumed = await restart(loser, server);
    const before = server.requests.length;
    expect(await resumed.client.attach('seed')).toEqual({
      status: 'connected',
      outcome: 'resumed_attached_state',
    });
    expect(server.requests.length).toBe(before);
    await expect(resumed.client.attach('someone-else')).rejects.toMatchObject({
      code: 'attach_binding_conflict',
    });
    for (const d of [empty, seeding, loser, resumed]) await d.client.close();
  });

  it('refuses servers without the connect lifecycle', async () => {
    const server = newServer();
    server.rewrite('GET /sync/capabilities', (body) => {
      (body['features'] as Record<string, boolean>)['connect_lifecycle'] = false;
    });
    const device = await newDevice(server);
    await expect(device.client.attach('user-1')).rejects.toMatchObject({
      code: 'attach_lifecycle_unsupported',
    });
    const old = newServer();
    old.intercept((req) =>
      req.path === '/sync/capabilities' ? new Response('404 page not found', { status: 404 }) : undefined,
    );
    const other = await newDevice(old);
    await expect(other.client.attach('user-1')).rejects.toMatchObject({
      code: 'attach_lifecycle_unsupported',
    });
    await device.client.close();
    await other.client.close();
  });

  it('leaves anonymous state untouched when attach fails on the network', async () => {
    const server = newServer();
    const device = await newDevice(server, { retry: false });
    device.db.run("INSERT INTO users VALUES ('u1', 'A', 'a')");
    const remove = server.intercept(() => {
      throw new TypeError('fetch failed');
    });
    await expect(device.client.attach('user-1')).rejects.toMatchObject({ code: 'network_error' });
    expect(device.client.pendingSyncStatus()).toEqual({
      hasPendingSyncData: true,
      pendingRowCount: 1,
      blocksDetach: false,
    });
    remove();
    expect(await device.client.attach('user-1')).toMatchObject({ outcome: 'seeded_from_local' });
    await device.client.close();
  });

  it('blocks detach while attached data is unsynced', async () => {
    const server = newServer();
    const device = await newDevice(server);
    await device.client.attach('user-1');
    device.db.run("INSERT INTO users VALUES ('u1', 'A', 'a')");
    expect(await device.client.detach()).toEqual({ outcome: 'blocked_unsynced_data', pendingRowCount: 1 });
    expect(scalar(device.db, 'SELECT binding_state FROM _sync_attachment_state')).toBe('attached');
    await device.client.sync();
    expect(await device.client.detach()).toEqual({ outcome: 'detached', pendingRowCount: 0 });
    expect(scalar(device.db, 'SELECT COUNT(*) FROM users')).toBe(0);
    device.db.run("INSERT INTO users VALUES ('anon', 'A', 'a')");
    expect(rows(device.db, 'SELECT op FROM _sync_dirty_rows')).toEqual([{ op: 'INSERT' }]);
    await device.client.close();
  });

  it('[gap] detach resets the pull checkpoint so the next user starts from zero', async () => {
    const server = newServer();
    for (let i = 0; i < 5; i++)
      server.serverWrite('alice', [
        { table: 'users', key: `a${i}`, payload: { id: `a${i}`, name: 'A', email: null } },
      ]);
    server.serverWrite('bob', [{ table: 'users', key: 'b1', payload: { id: 'b1', name: 'B', email: null } }]);
    server.serverWrite('bob', [{ table: 'users', key: 'b2', payload: { id: 'b2', name: 'B', email: null } }]);
    let token = 'alice';
    const device = await newDevice(server, { getToken: () => token });
    await device.client.attach('alice');
    expect(device.client.lastBundleSeqSeen()).toBe(5);
    expect(await device.client.detach()).toMatchObject({ outcome: 'detached' });
    expect(
      rows(device.db, 'SELECT last_bundle_seq_seen, rebuild_required FROM _sync_attachment_state'),
    ).toEqual([{ last_bundle_seq_seen: 0, rebuild_required: 0 }]);
    token = 'bob';
    // Make the server answer initialize_empty: the path on which go-oversync kept Alice's checkpoint.
    server.scope('bob').scope = 'uninitialized';
    expect(await device.client.attach('bob')).toMatchObject({ outcome: 'started_empty' });
    expect(device.client.lastBundleSeqSeen()).toBe(0);
    server.scope('bob').scope = 'initialized';
    await device.client.pullToStable();
    expect(rows(device.db, 'SELECT id FROM users ORDER BY id')).toEqual([{ id: 'b1' }, { id: 'b2' }]);
    await device.client.close();
  });

  it('fails fast with sync_in_progress and emits status events', async () => {
    const server = newServer();
    const device = await newDevice(server);
    const events: SyncStatusEvent[] = [];
    const unsubscribe = device.client.onStatus((e) => events.push(e));
    await device.client.attach('user-1');
    device.db.run("INSERT INTO users VALUES ('u1', 'A', 'a')");
    const first = device.client.pushPending();
    await expect(device.client.pullToStable()).rejects.toMatchObject({ code: 'sync_in_progress' });
    await expect(device.client.sync()).rejects.toMatchObject({ code: 'sync_in_progress' });
    await expect(first).resolves.toEqual({ outcome: 'committed' });
    unsubscribe();
    await device.client.sync();
    expect(events.map((e) => `${e.operation}:${e.state}`)).toEqual([
      'attach:syncing',
      'attach:synced',
      'push:syncing',
      'push:synced',
    ]);
    expect(events[3]).toEqual({
      state: 'synced',
      operation: 'push',
      lastBundleSeqSeen: 1,
      pendingRowCount: 0,
    });
    await device.client.close();
    await expect(device.client.pushPending()).rejects.toMatchObject({ code: 'client_closed' });
  });

  it('refuses app writes while a remote replace is staged, and reports paused directions', async () => {
    const server = newServer();
    server.serverWrite('user-1', [
      { table: 'users', key: 'r1', payload: { id: 'r1', name: 'R', email: null } },
    ]);
    const device = await newDevice(server);
    let blocked: unknown;
    server.intercept((req) => {
      if (req.method === 'GET' && req.path.startsWith('/sync/snapshot-sessions/')) {
        try {
          device.db.run("INSERT INTO users VALUES ('during', 'x', NULL)");
        } catch (error) {
          blocked = error;
        }
      }
      return undefined;
    });
    await device.client.attach('user-1');
    expect(String(blocked)).toContain('SYNC_TRANSITION_PENDING');
    expect(scalar(device.db, "SELECT COUNT(*) FROM users WHERE id = 'during'")).toBe(0);
    device.db.run("INSERT INTO users VALUES ('after', 'x', NULL)");

    device.client.setUploadsPaused(true);
    device.client.setDownloadsPaused(true);
    expect(await device.client.sync()).toEqual({
      pushOutcome: 'skipped_paused',
      remoteOutcome: 'skipped_paused',
    });
    expect(await device.client.pushPending()).toEqual({ outcome: 'skipped_paused' });
    device.client.setUploadsPaused(false);
    expect(await device.client.sync()).toEqual({ pushOutcome: 'committed', remoteOutcome: 'skipped_paused' });
    await device.client.close();
  });

  it('initialization_expired resets the binding; attaching again reconnects', async () => {
    const server = newServer();
    const device = await newDevice(server);
    device.db.run("INSERT INTO users VALUES ('u1', 'A', 'a')");
    expect(await device.client.attach('user-1')).toMatchObject({ outcome: 'seeded_from_local' });
    // The lease lapses on the server.
    const scope = server.scope('user-1');
    scope.scope = 'uninitialized';
    scope.initializationId = '';
    await expect(device.client.pushPending()).rejects.toMatchObject({ code: 'initialization_reset' });
    expect(
      rows(
        device.db,
        'SELECT binding_state, attached_user_id, pending_initialization_id FROM _sync_attachment_state',
      ),
    ).toEqual([{ binding_state: 'anonymous', attached_user_id: '', pending_initialization_id: '' }]);
    expect(scalar(device.db, 'SELECT COUNT(*) FROM _sync_outbox_rows')).toBe(1);
    await expect(device.client.pushPending()).rejects.toMatchObject({ code: 'attach_required' });
    expect(await device.client.attach('user-1')).toMatchObject({ status: 'connected' });
    expect(await device.client.pushPending()).toEqual({ outcome: 'committed' });
    expect(scope.rows.get('users\u0000u1')!.payload).toMatchObject({ name: 'A' });
    await device.client.close();
  });
});
