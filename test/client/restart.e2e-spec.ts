/**
 * Crash and restart from persisted bytes (scenarios L5–L7, F13, G11): a fetch wrapper kills the
 * device at a chosen request and captures its persisted image at that instant; a new device is
 * opened from those bytes (MemoryPersister or FilePersister) and must finish the work exactly once.
 */
import { FilePersister } from '@oversync/client';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  closeDevice,
  failure,
  inspectImage,
  openDevice,
  openFromImage,
  sqliteCount,
  sqliteRows,
  syncState,
  type Device,
  type DeviceOptions,
} from '../support/client-devices.js';
import { FaultyFetch, routeOf } from '../support/client-faults.js';
import { uuid, userId } from '../support/client-schema.js';
import {
  deviceTable,
  pgRows,
  serverTable,
  startClientServer,
  type ClientServer,
} from '../support/client-server.js';

describe('client crash and restart (real server)', () => {
  let server: ClientServer;
  let dir: string;
  const open: Device[] = [];

  const device = async (user: string, options: Partial<DeviceOptions> = {}) => {
    const d = await openDevice({ baseUrl: server.baseUrl, userId: user, ...options });
    open.push(d);
    return d;
  };
  const fromImage = async (
    user: string,
    image: Uint8Array | undefined,
    options: Partial<DeviceOptions> = {},
  ) => {
    if (!image) throw new Error('no crash image was captured');
    const d = await openFromImage(image, { baseUrl: server.baseUrl, userId: user, ...options });
    open.push(d);
    return d;
  };
  const addUsers = (d: Device, ...names: string[]) =>
    names.map((name) => {
      const id = uuid();
      d.db.run('INSERT INTO users (id, name, email) VALUES (?, ?, ?)', [id, name, `${name}@x`]);
      return id;
    });
  const bundles = async (user: string) =>
    Number(
      (
        await pgRows<{ n: string }>(
          server.pool,
          'SELECT COUNT(*) AS n FROM sync.bundle_log b JOIN sync.user_state u USING (user_pk) WHERE u.user_id = $1',
          [user],
        )
      )[0]?.n,
    );
  const sameAsServer = async (d: Device) =>
    expect(deviceTable(d.db, 'users')).toEqual(await serverTable(server.pool, 'users', d.userId));

  beforeAll(async () => {
    server = await startClientServer();
    dir = mkdtempSync(join(tmpdir(), 'oversync-restart-'));
  });
  afterAll(async () => {
    for (const d of open) await closeDevice(d).catch(() => undefined);
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('L5: a crash before commit re-uploads the frozen bundle from ordinal 0 (FilePersister)', async () => {
    const user = userId('l5');
    const persister = new FilePersister(join(dir, 'l5.sqlite'));
    const faults = new FaultyFetch().captureFrom(persister);
    faults.fail({ match: (c) => routeOf(c) === 'commit', crash: true });
    const d = await device(user, { persister, fetch: faults.fetch, uploadChunkRows: 2 });
    addUsers(d, 'One', 'Two', 'Three');
    await failure(d.client.pushPending());
    expect([faults.count('push-create'), faults.count('chunk'), faults.count('committed-rows')]).toEqual([
      1, 2, 0,
    ]);
    const image = faults.crashImages[0];
    expect(await inspectImage(image, syncState)).toMatchObject({
      outbox: 3,
      outboxState: 'prepared',
      dirty: 0,
    });
    const after = new FaultyFetch();
    const restarted = await fromImage(user, image, {
      persister: new FilePersister(join(dir, 'l5-restarted.sqlite')),
      fetch: after.fetch,
      uploadChunkRows: 2,
    });
    expect((await restarted.client.pushPending()).outcome).toBe('committed');
    expect([after.count('push-create'), after.count('chunk'), after.count('commit')]).toEqual([1, 2, 1]);
    expect(syncState(restarted.db)).toMatchObject({ outbox: 0, dirty: 0, nextSourceBundleId: 2 });
    expect(await bundles(user)).toBe(1);
    await sameAsServer(restarted);
  });

  it('L6: a crash after the server committed (answer lost) replays via already_committed', async () => {
    const user = userId('l6');
    const persister = new FilePersister(join(dir, 'l6.sqlite'));
    const faults = new FaultyFetch().captureFrom(persister);
    faults.fail({ match: (c) => routeOf(c) === 'commit', when: 'after', crash: true });
    const d = await device(user, { persister, fetch: faults.fetch });
    addUsers(d, 'Committed');
    await failure(d.client.pushPending());
    expect(await bundles(user)).toBe(1);
    const after = new FaultyFetch();
    const restarted = await fromImage(user, faults.crashImages[0], { fetch: after.fetch });
    expect((await restarted.client.pushPending()).outcome).toBe('committed');
    expect([after.count('push-create'), after.count('chunk'), after.count('committed-rows')]).toEqual([
      1, 0, 1,
    ]);
    expect(sqliteRows(restarted.db, 'SELECT row_version FROM _sync_row_state')).toEqual([{ row_version: 1 }]);
    expect(syncState(restarted.db)).toMatchObject({
      outbox: 0,
      dirty: 0,
      nextSourceBundleId: 2,
      lastBundleSeqSeen: 1,
    });
    expect(await bundles(user)).toBe(1);
    await sameAsServer(restarted);
  });

  it('L6: a crash after the commit answer, before the committed rows, resumes without a session', async () => {
    const user = userId('l6b');
    const faults = new FaultyFetch();
    const d = await device(user, { fetch: faults.fetch });
    faults.captureFrom(d.persister).fail({ match: (c) => routeOf(c) === 'committed-rows', crash: true });
    addUsers(d, 'Committed remote');
    await failure(d.client.pushPending());
    const image = faults.crashImages[0];
    expect(await inspectImage(image, syncState)).toMatchObject({
      outboxState: 'committed_remote',
      outbox: 1,
    });
    const after = new FaultyFetch();
    const restarted = await fromImage(user, image, { fetch: after.fetch });
    expect((await restarted.client.pushPending()).outcome).toBe('committed');
    expect([after.count('push-create'), after.count('chunk'), after.count('committed-rows')]).toEqual([
      0, 0, 1,
    ]);
    expect(syncState(restarted.db)).toMatchObject({ outbox: 0, dirty: 0, nextSourceBundleId: 2 });
    await sameAsServer(restarted);
  });

  // A device restored from a backup taken before its last push reuses that push's source tuple
  // with other content: the server answers already_committed for rows this device never froze.
  const restoredBackupReusingTuple = async (user: string, fetch?: FaultyFetch) => {
    const d = await device(user);
    const backup = d.db.export();
    addUsers(d, 'Committed first');
    expect((await d.client.pushPending()).outcome).toBe('committed');
    const restored = await fromImage(user, backup, fetch ? { fetch: fetch.fetch } : {});
    const [other] = addUsers(restored, 'Only on the restored copy');
    return { restored, other };
  };
  const keepsItsEdit = (d: Device, id: string) => {
    expect(syncState(d.db)).toMatchObject({ outbox: 1, nextSourceBundleId: 1 });
    expect(sqliteRows(d.db, 'SELECT name FROM users WHERE id = ?', [id])).toEqual([
      { name: 'Only on the restored copy' },
    ]);
  };

  it('L6: an already_committed answer for other content fails closed and keeps the frozen edit', async () => {
    const user = userId('l6c');
    const { restored, other } = await restoredBackupReusingTuple(user);
    const error = await failure(restored.client.pushPending());
    expect(error.code).toBe('protocol_violation');
    expect(error.message).toContain('does not contain the frozen INSERT');
    keepsItsEdit(restored, other);
    expect(await bundles(user)).toBe(1);
  });

  it('L6: that content check survives a crash between the already_committed answer and the rows', async () => {
    const user = userId('l6d');
    const faults = new FaultyFetch();
    const { restored, other } = await restoredBackupReusingTuple(user, faults);
    faults
      .captureFrom(restored.persister)
      .fail({ match: (c) => routeOf(c) === 'committed-rows', crash: true });
    await failure(restored.client.pushPending());
    const image = faults.crashImages[0];
    expect(await inspectImage(image, syncState)).toMatchObject({
      outboxState: 'committed_remote',
      outbox: 1,
    });
    const again = await fromImage(user, image);
    const error = await failure(again.client.pushPending());
    expect(error.code).toBe('protocol_violation');
    keepsItsEdit(again, other);
    expect(await bundles(user)).toBe(1);
  });

  it('L7: writes made while the bundle uploads survive the replay as rebased intents', async () => {
    const user = userId('l7');
    const faults = new FaultyFetch();
    const box: { device?: Device } = {};
    let edited = '';
    let added = '';
    faults.fail({
      match: (c) => routeOf(c) === 'chunk',
      when: 'pass',
      run: () => {
        const writer = box.device!;
        writer.db.run("UPDATE users SET name = 'Second' WHERE id = ?", [edited]);
        added = addUsers(writer, 'During upload')[0];
      },
    });
    const d = await device(user, { fetch: faults.fetch });
    box.device = d;
    [edited] = addUsers(d, 'First');
    expect((await d.client.pushPending()).outcome).toBe('committed');
    const dirty = sqliteRows(d.db, 'SELECT key_json, op, base_row_version FROM _sync_dirty_rows ORDER BY op');
    expect(dirty).toEqual([
      { key_json: JSON.stringify({ id: added }), op: 'INSERT', base_row_version: 0 },
      { key_json: JSON.stringify({ id: edited }), op: 'UPDATE', base_row_version: 1 },
    ]);
    expect(sqliteRows(d.db, 'SELECT name FROM users WHERE id = ?', [edited])).toEqual([{ name: 'Second' }]);
    expect((await serverTable(server.pool, 'users', user)).map((r) => r['name'])).toEqual(['First']);
    await d.client.sync();
    expect(syncState(d.db)).toMatchObject({ dirty: 0, outbox: 0 });
    await sameAsServer(d);
  });

  it('F13/mid-pull: a crash between pull pages keeps the applied bundles; the restart finishes', async () => {
    const user = userId('pull');
    const writer = await device(user);
    for (const name of ['B1', 'B2', 'B3']) {
      addUsers(writer, name);
      await writer.client.pushPending();
    }
    const faults = new FaultyFetch();
    const reader = await device(user, { attach: false, fetch: faults.fetch, downloadLimit: 1 });
    await reader.client.attach(user);
    addUsers(writer, 'B4');
    await writer.client.pushPending();
    addUsers(writer, 'B5');
    await writer.client.pushPending();
    faults.captureFrom(reader.persister).fail({ match: (c) => routeOf(c) === 'pull', nth: 2, crash: true });
    await failure(reader.client.pullToStable());
    const image = faults.crashImages[0];
    expect(
      await inspectImage(image, (db) => [syncState(db).lastBundleSeqSeen, sqliteCount(db, 'users')]),
    ).toEqual([4, 4]);
    const restarted = await fromImage(user, image, { downloadLimit: 1 });
    expect((await restarted.client.pullToStable()).outcome).toBe('applied_incremental');
    expect(restarted.client.lastBundleSeqSeen()).toBe(5);
    await sameAsServer(restarted);
  });

  it('G11: a rebuild killed mid-snapshot keeps the old data and the gate; the retry restores all', async () => {
    const user = userId('g11');
    const writer = await device(user);
    addUsers(writer, 'S1', 'S2', 'S3');
    await writer.client.pushPending();
    const faults = new FaultyFetch();
    const reader = await device(user, { fetch: faults.fetch, snapshotChunkRows: 1 });
    reader.db.exec(
      'UPDATE _sync_apply_state SET apply_mode = 1; DELETE FROM users; UPDATE _sync_apply_state SET apply_mode = 0',
    );
    faults
      .captureFrom(reader.persister)
      .fail({ match: (c) => routeOf(c) === 'snapshot-chunk', nth: 2, crash: true });
    await failure(reader.client.rebuild());
    const image = faults.crashImages[0];
    expect(
      await inspectImage(image, (db) => [
        sqliteCount(db, 'users'),
        Number(
          sqliteRows(db, 'SELECT rebuild_required FROM _sync_attachment_state')[0]?.['rebuild_required'],
        ),
      ]),
    ).toEqual([0, 1]);
    const restarted = await fromImage(user, image, { snapshotChunkRows: 1 });
    expect((await failure(restarted.client.sync())).code).toBe('rebuild_required');
    expect(restarted.client.sourceInfo()).toMatchObject({
      rebuildRequired: true,
      sourceRecoveryRequired: false,
    });
    expect(await restarted.client.rebuild()).toMatchObject({
      outcome: 'applied_snapshot',
      restore: { rowCount: 3 },
    });
    expect(sqliteCount(restarted.db, 'users')).toBe(3);
    expect(restarted.client.sourceInfo().rebuildRequired).toBe(false);
    await sameAsServer(restarted);
  });
});
