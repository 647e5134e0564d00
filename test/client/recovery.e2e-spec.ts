/**
 * Retention and source recovery against the real server with a 2-bundle history window
 * (scenarios F12, G12, H7–H10, H12, I6, I7, I9): `history_pruned` falls back to a snapshot, and a
 * source-sequence failure rotates the source without losing the frozen outbox or dirty rows.
 */
import {
  closeDevice,
  failure,
  restartDevice,
  sqliteCount,
  sqliteRows,
  syncState,
  type Device,
} from '../support/client-devices.js';
import { FaultyFetch, routeOf } from '../support/client-faults.js';
import { deviceHelpers } from '../support/client-scenario.js';
import { userId } from '../support/client-schema.js';
import { pgRows, startClientServer, type ClientServer } from '../support/client-server.js';

describe('client history_pruned and source recovery (retention window 2)', () => {
  let server: ClientServer;
  const open: Device[] = [];

  const { device, addUser, sameAsServer, serverInsert, floorOf, expectSourceRetired } = deviceHelpers(
    () => server,
    open,
  );
  const pushEach = async (d: Device, ...names: string[]) => {
    for (const name of names) {
      addUser(d, name);
      expect((await d.client.pushPending()).outcome).toBe('committed');
    }
  };

  beforeAll(async () => {
    server = await startClientServer({ retention: { retainedBundlesPerUser: 2 } });
  });
  afterAll(async () => {
    for (const d of open) await closeDevice(d).catch(() => undefined);
    await server.close();
  });

  it('I7/F12: a pull below the floor falls back to a snapshot and lands on the stable seq', async () => {
    const user = userId('i7');
    const a = await device(user);
    await pushEach(a, 'Ada');
    const b = await device(user);
    expect(b.client.lastBundleSeqSeen()).toBe(1);
    await pushEach(a, 'Grace', 'Linus', 'Ken');
    expect(await floorOf(user)).toBe(2);
    const faults = new FaultyFetch();
    const restarted = await restartDevice(b, { fetch: faults.fetch, snapshotChunkRows: 2 });
    open.push(restarted);
    const result = await restarted.client.pullToStable();
    expect(result).toEqual({ outcome: 'applied_snapshot', restore: { bundleSeq: 4, rowCount: 4 } });
    expect(faults.count('snapshot-chunk')).toBe(2);
    expect(restarted.client.lastBundleSeqSeen()).toBe(4);
    await sameAsServer(restarted);
  });

  it('I6/I9: a device at checkpoint 0 never skips pruned bundles when it pulls', async () => {
    const user = userId('i9');
    const follower = await device(user);
    expect(follower.client.lastBundleSeqSeen()).toBe(0);
    const writer = await device(user, { uploadChunkRows: 2 });
    for (const i of [1, 2, 3, 4, 5]) addUser(writer, `Person ${i}`);
    await writer.client.pushPending();
    await pushEach(writer, 'Second', 'Third', 'Fourth');
    expect(await floorOf(user)).toBe(2);
    const result = await follower.client.pullToStable();
    expect(result.outcome).toBe('applied_snapshot');
    expect(follower.client.lastBundleSeqSeen()).toBe(4);
    expect(sqliteCount(follower.db, 'users')).toBe(8);
    await sameAsServer(follower);
  });

  it('H12: a committed push whose rows were pruned rebuilds under the same source', async () => {
    const user = userId('h12');
    const faults = new FaultyFetch();
    faults.fail({ match: (c) => routeOf(c) === 'committed-rows', times: 3 });
    const d = await device(user, { fetch: faults.fetch });
    const sourceId = d.client.sourceInfo().sourceId;
    addUser(d, 'Pushed');
    expect((await failure(d.client.pushPending())).code).toBe('retry_exhausted');
    expect(syncState(d.db).outboxState).toBe('committed_remote');
    for (const name of ['S1', 'S2', 'S3']) await serverInsert(user, name);
    expect(await floorOf(user)).toBeGreaterThanOrEqual(1);
    const editedLater = addUser(d, 'Written while pruned');
    expect((await d.client.pushPending()).outcome).toBe('committed');
    expect(d.client.sourceInfo()).toEqual({
      sourceId,
      rebuildRequired: false,
      sourceRecoveryRequired: false,
    });
    expect(syncState(d.db)).toMatchObject({
      outbox: 0,
      outboxState: 'none',
      nextSourceBundleId: 2,
      lastBundleSeqSeen: 4,
    });
    expect(sqliteRows(d.db, 'SELECT key_json, op FROM _sync_dirty_rows')).toEqual([
      { key_json: JSON.stringify({ id: editedLater }), op: 'INSERT' },
    ]);
    await d.client.sync();
    await sameAsServer(d);
  });

  it('H7/H8/H9/H10: a sequence failure rotates the source, keeps the outbox and retires the old one', async () => {
    const user = userId('h10');
    const d = await device(user);
    await pushEach(d, 'Before');
    const oldSource = d.client.sourceInfo().sourceId;
    // A restored backup that skipped ids: the server answers source_sequence_out_of_order.
    d.db.run('UPDATE _sync_source_state SET next_source_bundle_id = 5 WHERE source_id = ?', [oldSource]);
    addUser(d, 'Frozen');
    const error = await failure(d.client.pushPending());
    expect(error.code).toBe('source_recovery_required');
    expect(syncState(d.db)).toMatchObject({ outboxState: 'prepared', outbox: 1 });
    const faults = new FaultyFetch();
    const restarted = await restartDevice(d, { fetch: faults.fetch });
    open.push(restarted);
    const pending = addUser(restarted, 'Dirty during recovery');
    for (const call of [() => restarted.client.pushPending(), () => restarted.client.sync()])
      expect((await failure(call())).code).toBe('source_recovery_required');
    expect(faults.calls).toHaveLength(0);
    expect(restarted.client.sourceInfo()).toMatchObject({
      sourceRecoveryRequired: true,
      sourceRecoveryReason: 'source_sequence_out_of_order',
    });
    expect((await restarted.client.rebuild()).outcome).toBe('applied_snapshot');
    const newSource = restarted.client.sourceInfo().sourceId;
    expect(newSource).not.toBe(oldSource);
    expect(faults.of('snapshot-create')[0]?.body).toEqual({
      source_replacement: {
        previous_source_id: oldSource,
        new_source_id: newSource,
        reason: 'source_sequence_out_of_order',
      },
    });
    expect(sqliteRows(restarted.db, 'SELECT name FROM users ORDER BY name').map((r) => r['name'])).toEqual([
      'Before',
      'Dirty during recovery',
      'Frozen',
    ]);
    await expectSourceRetired(user, oldSource, newSource);
    expect((await restarted.client.pushPending()).outcome).toBe('committed');
    expect(faults.of('push-create').at(-1)?.body).toMatchObject({ source_bundle_id: 1 });
    await restarted.client.sync();
    expect(sqliteRows(restarted.db, 'SELECT COUNT(*) AS n FROM _sync_dirty_rows')).toEqual([{ n: 0 }]);
    const states = await pgRows(
      server.pool,
      `SELECT s.source_id, s.state, s.replaced_by_source_id, s.max_committed_source_bundle_id::int AS max
         FROM sync.source_state s JOIN sync.user_state u USING (user_pk) WHERE u.user_id = $1 ORDER BY s.state`,
      [user],
    );
    expect(states).toEqual([
      { source_id: newSource, state: 'active', replaced_by_source_id: '', max: 2 },
      { source_id: oldSource, state: 'retired', replaced_by_source_id: newSource, max: 1 },
    ]);
    expect(pending).toBeTruthy();
    await sameAsServer(restarted);
  });

  it('H7: a create-time history_pruned answer also rotates, with reason history_pruned', async () => {
    const user = userId('h7');
    const faults = new FaultyFetch();
    faults.fail({
      match: (c) => routeOf(c) === 'push-create',
      respond: {
        status: 409,
        body: { error: 'history_pruned', message: 'source tuple is below the watermark' },
      },
    });
    const d = await device(user, { fetch: faults.fetch });
    addUser(d, 'Kept');
    expect((await failure(d.client.pushPending())).code).toBe('source_recovery_required');
    expect((await failure(d.client.pullToStable())).code).toBe('source_recovery_required');
    await d.client.rebuild();
    expect(faults.of('snapshot-create')[0]?.body).toMatchObject({
      source_replacement: { reason: 'history_pruned' },
    });
    expect((await d.client.pushPending()).outcome).toBe('committed');
    expect(syncState(d.db)).toMatchObject({ nextSourceBundleId: 2, outbox: 0 });
    await sameAsServer(d);
  });

  // H11 of the reference adopts the server's replacement; we rotate to a replacement of our own
  // (see rotatedRebuild: adopting one another copy of the database uses wedges one of the two).
  it('H11: a commit answered source_retired rotates to a replacement of its own, not the server’s', async () => {
    const user = userId('h11');
    const faults = new FaultyFetch();
    const d = await device(user, { fetch: faults.fetch });
    const oldSource = d.client.sourceInfo().sourceId;
    faults.fail({
      match: (c) => routeOf(c) === 'commit',
      respond: {
        status: 409,
        body: {
          error: 'source_retired',
          message: 'retired',
          source_id: oldSource,
          replaced_by_source_id: 'server-rotated-device',
        },
      },
    });
    addUser(d, 'Retired push');
    expect((await failure(d.client.pushPending())).code).toBe('source_recovery_required');
    const [operation] = sqliteRows(
      d.db,
      'SELECT kind, reason, replacement_source_id FROM _sync_operation_state',
    );
    expect(operation).toMatchObject({ kind: 'source_recovery', reason: 'source_retired' });
    const reserved = String(operation['replacement_source_id']);
    expect(reserved).not.toBe('server-rotated-device');
    expect(reserved).not.toBe(oldSource);
    await d.client.rebuild();
    expect(d.client.sourceInfo()).toMatchObject({ sourceId: reserved, sourceRecoveryRequired: false });
    expect((await d.client.pushPending()).outcome).toBe('committed');
    const sources = await pgRows(
      server.pool,
      'SELECT s.source_id, s.state FROM sync.source_state s JOIN sync.user_state u USING (user_pk) WHERE u.user_id = $1 ORDER BY s.source_id',
      [user],
    );
    expect(sources).toEqual(
      expect.arrayContaining([
        { source_id: reserved, state: 'active' },
        { source_id: oldSource, state: 'retired' },
      ]),
    );
    await sameAsServer(d);
  });
});
