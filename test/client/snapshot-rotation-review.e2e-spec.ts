/**
 * Review of snapshot sessions, source rotation and history pruning end to end: a real Nest app with
 * a 2-bundle history window and real sql.js devices. A device offline past retention must keep its
 * pending edits; a snapshot download must survive peers committing, session expiry, transport
 * failures and restarts (old data intact until the apply, no duplicate or lost rows); a rotated
 * source must be refused with the documented error and the device must recover.
 */
import { clientWins } from '@oversync/client';
import {
  failure,
  closeDevice,
  openFromImage,
  sqliteCount,
  sqliteRows,
  syncState,
  type Device,
} from '../support/client-devices.js';
import { FaultyFetch, routeOf, type RecordedCall } from '../support/client-faults.js';
import { deviceHelpers } from '../support/client-scenario.js';
import { userId } from '../support/client-schema.js';
import { pgRows, startClientServer, type ClientServer } from '../support/client-server.js';

/**
 * Faults whose second push create is answered `history_pruned` (the source tuple below the
 * watermark): a stand-in for a source-sequence failure, which makes the device rotate its source.
 */
const secondPushCreatePruned = () =>
  new FaultyFetch().fail({
    match: (c) => routeOf(c) === 'push-create',
    nth: 2,
    respond: {
      status: 409,
      body: { error: 'history_pruned', message: 'source tuple is below the watermark' },
    },
  });

describe('snapshot sessions, rotation and pruning (client review, retention window 2)', () => {
  let server: ClientServer;
  const open: Device[] = [];
  const { device, addUser, sameAsServer, serverInsert, serverNames, floorOf, expectSourceRetired } =
    deviceHelpers(() => server, open);

  /** Server-originated inserts, one bundle each: with a window of 2 three of them prune history. */
  const serverInserts = async (user: string, ...names: string[]) => {
    for (const name of names) await serverInsert(user, name);
  };
  const names = (d: Device) =>
    sqliteRows(d.db, 'SELECT name FROM users ORDER BY name').map((r) => String(r['name']));
  const expireSessions = (user: string) =>
    server.pool.query(
      `UPDATE sync.snapshot_sessions SET expires_at = now() - interval '1 second'
        WHERE user_pk = (SELECT user_pk FROM sync.user_state WHERE user_id = $1)`,
      [user],
    );
  const sessionsOf = async (user: string) =>
    Number(
      (
        await pgRows(
          server.pool,
          `SELECT count(*)::int AS n FROM sync.snapshot_sessions s JOIN sync.user_state u USING (user_pk) WHERE u.user_id = $1`,
          [user],
        )
      )[0]?.['n'],
    );
  const afterOrdinal = (c: RecordedCall) => Number(new URLSearchParams(c.query).get('after_row_ordinal'));
  const sources = async (user: string) =>
    pgRows(
      server.pool,
      `SELECT s.source_id, s.state, s.replaced_by_source_id AS replaced_by, s.max_committed_source_bundle_id::int AS max
         FROM sync.source_state s JOIN sync.user_state u USING (user_pk) WHERE u.user_id = $1 ORDER BY s.source_id`,
      [user],
    );

  beforeAll(async () => {
    server = await startClientServer({ retention: { retainedBundlesPerUser: 2 } });
  });
  afterAll(async () => {
    for (const d of open) await closeDevice(d).catch(() => undefined);
    await server.close();
  });

  it('a device offline past retention pushes its pending insert, update and delete, then rebuilds', async () => {
    const user = userId('offline');
    const faults = new FaultyFetch();
    const a = await device(user, { fetch: faults.fetch, snapshotChunkRows: 2 });
    addUser(a, 'Kept');
    const edited = addUser(a, 'Edited');
    const removed = addUser(a, 'Removed');
    await a.client.sync();
    faults.offline = true;
    addUser(a, 'Offline insert');
    a.db.run("UPDATE users SET name = 'Edited offline' WHERE id = ?", [edited]);
    a.db.run('DELETE FROM users WHERE id = ?', [removed]);
    expect((await failure(a.client.sync())).code).toBe('retry_exhausted');
    await serverInserts(user, 'P1', 'P2', 'P3', 'P4');
    expect(await floorOf(user)).toBeGreaterThan(a.client.lastBundleSeqSeen());
    // Pull and a fresh rebuild refuse (documented) rather than overwrite the pending edits.
    faults.offline = false;
    expect((await failure(a.client.pullToStable())).code).toBe('pending_push_replay');
    expect((await failure(a.client.rebuild())).code).toBe('pending_push_replay');
    const result = await a.client.sync();
    expect(result).toMatchObject({ pushOutcome: 'committed', remoteOutcome: 'applied_snapshot' });
    expect(faults.count('snapshot-create')).toBe(1);
    expect(await serverNames(user)).toEqual([
      'Edited offline',
      'Kept',
      'Offline insert',
      'P1',
      'P2',
      'P3',
      'P4',
    ]);
    expect(names(a)).toEqual(await serverNames(user));
    expect(syncState(a.db)).toMatchObject({ dirty: 0, outbox: 0, lastBundleSeqSeen: 6 });
    await sameAsServer(a);
  });

  it('a device offline past retention with uploads paused keeps its dirty edits through the rebuild', async () => {
    const user = userId('paused');
    const a = await device(user, { conflictResolver: clientWins });
    const shared = addUser(a, 'Shared');
    await a.client.sync();
    const b = await device(user);
    b.db.run("UPDATE users SET name = 'Peer edit' WHERE id = ?", [shared]);
    await b.client.sync();
    a.db.run("UPDATE users SET name = 'Local edit' WHERE id = ?", [shared]);
    const fresh = addUser(a, 'Local insert');
    await serverInserts(user, 'P1', 'P2', 'P3');
    a.client.setUploadsPaused(true);
    const paused = await a.client.sync();
    expect(paused).toMatchObject({ pushOutcome: 'skipped_paused', remoteOutcome: 'applied_snapshot' });
    expect(syncState(a.db).dirty).toBe(2);
    expect(
      sqliteRows(a.db, 'SELECT name FROM users WHERE id IN (?, ?) ORDER BY name', [shared, fresh]),
    ).toEqual([{ name: 'Local edit' }, { name: 'Local insert' }]);
    // The kept UPDATE still conflicts with the peer's write (base not silently moved), and wins.
    a.client.setUploadsPaused(false);
    await a.client.sync();
    expect(await serverNames(user)).toEqual(['Local edit', 'Local insert', 'P1', 'P2', 'P3']);
    await sameAsServer(a);
  });

  it('pages a many-chunk snapshot while peers keep committing, then pulls what came after', async () => {
    const user = userId('paging');
    const writer = await device(user);
    for (let i = 0; i < 12; i++) addUser(writer, `Row ${String(i).padStart(2, '0')}`);
    await writer.client.sync();
    const faults = new FaultyFetch();
    let during = 0;
    let busy = false;
    faults.fail({
      match: (c) => routeOf(c) === 'snapshot-chunk',
      when: 'pass',
      times: 1000,
      run: async () => {
        if (!busy) return;
        during += 1;
        await serverInserts(user, `During ${during}`);
      },
    });
    const reader = await device(user, { fetch: faults.fetch, snapshotChunkRows: 3 });
    await serverInserts(user, 'A', 'B', 'C');
    expect(await floorOf(user)).toBeGreaterThan(reader.client.lastBundleSeqSeen());
    busy = true;
    const pulled = await reader.client.pullToStable();
    expect(pulled).toEqual({ outcome: 'applied_snapshot', restore: { bundleSeq: 4, rowCount: 15 } });
    expect(faults.count('snapshot-chunk')).toBeGreaterThanOrEqual(5);
    expect(sqliteCount(reader.db, 'users')).toBe(15);
    expect(reader.client.lastBundleSeqSeen()).toBe(4);
    busy = false;
    const pulls = faults.count('pull');
    const rest = await reader.client.sync();
    expect(new URLSearchParams(faults.of('pull')[pulls]?.query).get('after_bundle_seq')).toBe('4');
    expect(rest.remoteOutcome).not.toBe('already_at_target');
    expect(sqliteCount(reader.db, 'users')).toBe(15 + during);
    await sameAsServer(reader);
  });

  it('a session that expires mid-download (410) leaves old data and checkpoint; rebuild() restarts at 0', async () => {
    const user = userId('ttl');
    const writer = await device(user);
    for (let i = 0; i < 6; i++) addUser(writer, `W${i}`);
    await writer.client.sync();
    const faults = new FaultyFetch();
    const reader = await device(user, { fetch: faults.fetch, snapshotChunkRows: 2 });
    await serverInserts(user, 'A', 'B', 'C');
    const before = names(reader);
    faults.fail({
      match: (c) => routeOf(c) === 'snapshot-chunk' && afterOrdinal(c) === 4,
      when: 'pass',
      run: async () => {
        await expireSessions(user);
      },
    });
    const error = (await failure(reader.client.pullToStable())) as Error & {
      code?: string;
      details?: { status?: number; error?: string };
    };
    expect(error.code).toBe('http_status');
    expect(error.details).toMatchObject({ status: 410, error: 'snapshot_session_expired' });
    expect(names(reader)).toEqual(before);
    expect(reader.client.lastBundleSeqSeen()).toBe(1);
    expect(reader.client.sourceInfo().rebuildRequired).toBe(true);
    expect((await failure(reader.client.pullToStable())).code).toBe('rebuild_required');
    const creates = faults.count('snapshot-create');
    const chunksBefore = faults.count('snapshot-chunk');
    expect(await reader.client.rebuild()).toEqual({
      outcome: 'applied_snapshot',
      restore: { bundleSeq: 4, rowCount: 9 },
    });
    expect(faults.count('snapshot-create')).toBe(creates + 1);
    const retried = faults.of('snapshot-chunk').slice(chunksBefore);
    expect(retried.map(afterOrdinal).sort((x, y) => x - y)).toEqual([0, 2, 4, 6, 8]);
    expect(sqliteCount(reader.db, 'users')).toBe(9);
    // Both sessions were discarded (the expired one too: DELETE does not check expiry).
    expect(faults.count('snapshot-delete')).toBeGreaterThanOrEqual(2);
    expect(await sessionsOf(user)).toBe(0);
    expect(reader.client.sourceInfo().rebuildRequired).toBe(false);
    await sameAsServer(reader);
  });

  it('a rotated rebuild cut by expiry, then by a crash, resumes from the image with the same replacement', async () => {
    const user = userId('rotate');
    const faults = secondPushCreatePruned();
    const d = await device(user, { fetch: faults.fetch, snapshotChunkRows: 1 });
    const oldSource = d.client.sourceInfo().sourceId;
    for (const name of ['One', 'Two', 'Three']) addUser(d, name);
    await d.client.sync();
    addUser(d, 'Frozen');
    expect((await failure(d.client.pushPending())).code).toBe('source_recovery_required');
    faults.captureFrom(d.persister);
    faults.fail({
      match: (c) => routeOf(c) === 'snapshot-chunk' && afterOrdinal(c) === 2,
      when: 'pass',
      run: async () => {
        await expireSessions(user);
      },
    });
    expect((await failure(d.client.rebuild())).code).toBe('http_status');
    faults.fail({
      match: (c) => routeOf(c) === 'snapshot-chunk' && afterOrdinal(c) === 2,
      crash: true,
    });
    await failure(d.client.rebuild());
    const replacement = (
      faults.of('snapshot-create')[0]?.body as { source_replacement: { new_source_id: string } }
    ).source_replacement.new_source_id;
    expect(
      faults.of('snapshot-create').map((c) => (c.body as { source_replacement: unknown }).source_replacement),
    ).toEqual([
      { previous_source_id: oldSource, new_source_id: replacement, reason: 'history_pruned' },
      { previous_source_id: oldSource, new_source_id: replacement, reason: 'history_pruned' },
    ]);
    // The server already retired the old source: it is refused with the documented body.
    await expectSourceRetired(user, oldSource, replacement);

    const restarted = await openFromImage(faults.crashImages.at(-1)!, {
      baseUrl: server.baseUrl,
      userId: user,
      snapshotChunkRows: 1,
    });
    open.push(restarted);
    expect(restarted.client.sourceInfo()).toMatchObject({
      sourceId: oldSource,
      sourceRecoveryRequired: true,
    });
    expect(names(restarted)).toEqual(['Frozen', 'One', 'Three', 'Two']);
    addUser(restarted, 'Written behind the gate');
    expect((await restarted.client.rebuild()).outcome).toBe('applied_snapshot');
    expect(restarted.client.sourceInfo()).toMatchObject({
      sourceId: replacement,
      sourceRecoveryRequired: false,
    });
    expect(names(restarted)).toEqual(['Frozen', 'One', 'Three', 'Two', 'Written behind the gate']);
    await restarted.client.sync();
    await restarted.client.sync();
    expect(await serverNames(user)).toEqual(['Frozen', 'One', 'Three', 'Two', 'Written behind the gate']);
    expect(await sources(user)).toEqual(
      [
        { source_id: oldSource, state: 'retired', replaced_by: replacement, max: 1 },
        { source_id: replacement, state: 'active', replaced_by: '', max: 2 },
      ].sort((x, y) => x.source_id.localeCompare(y.source_id)),
    );
    expect(syncState(restarted.db)).toMatchObject({ dirty: 0, outbox: 0, nextSourceBundleId: 3 });
    await sameAsServer(restarted);
  });

  it('a device restored from a pre-rotation image moves to a source of its own; its edit lands through its resolver', async () => {
    // It used to adopt the original's replacement and replay the original's (replacement, 1) as its
    // own, so the two devices shared one source from then on.
    const user = userId('restored');
    const faults = secondPushCreatePruned();
    const d = await device(user, { fetch: faults.fetch });
    const shared = addUser(d, 'Original');
    await d.client.sync();
    await d.client.flush();
    const backup = await d.persister.load();
    const oldSource = d.client.sourceInfo().sourceId;
    d.db.run("UPDATE users SET name = 'From the device' WHERE id = ?", [shared]);
    expect((await failure(d.client.pushPending())).code).toBe('source_recovery_required');
    await d.client.rebuild();
    await d.client.sync();
    const replacement = d.client.sourceInfo().sourceId;
    expect(replacement).not.toBe(oldSource);
    expect(await serverNames(user)).toEqual(['From the device']);

    // The backup is restored on a new install whose app lets the device win conflicts.
    const restored = await openFromImage(backup!, {
      baseUrl: server.baseUrl,
      userId: user,
      conflictResolver: clientWins,
    });
    open.push(restored);
    restored.db.run("UPDATE users SET name = 'From the restored backup' WHERE id = ?", [shared]);
    expect((await failure(restored.client.pushPending())).code).toBe('source_recovery_required');
    expect(restored.client.sourceInfo()).toMatchObject({ sourceRecoveryReason: 'source_retired' });
    expect((await restored.client.rebuild()).outcome).toBe('applied_snapshot');
    const own = restored.client.sourceInfo().sourceId;
    expect([oldSource, replacement]).not.toContain(own);
    expect(names(restored)).toEqual(['From the restored backup']);
    // Its edit was made on the old version: an ordinary conflict, which its resolver settles.
    await restored.client.sync();
    expect(syncState(restored.db)).toMatchObject({ outbox: 0, dirty: 0 });
    expect(await serverNames(user)).toEqual(['From the restored backup']);
    // Both devices keep pushing under their own sources.
    addUser(d, 'Device goes on');
    addUser(restored, 'Backup goes on');
    await d.client.sync();
    await restored.client.sync();
    await d.client.sync();
    expect(await serverNames(user)).toEqual(['Backup goes on', 'Device goes on', 'From the restored backup']);
    expect(d.client.sourceInfo().sourceId).toBe(replacement);
    await sameAsServer(d);
    await sameAsServer(restored);
  });

  it('an attach hydrate whose session vanished (404, server crash) resumes after a restart, exactly once', async () => {
    const user = userId('hydrate');
    const writer = await device(user);
    for (let i = 0; i < 7; i++) addUser(writer, `W${i}`);
    await writer.client.sync();
    const faults = new FaultyFetch();
    faults.fail({
      match: (c) => routeOf(c) === 'snapshot-chunk' && afterOrdinal(c) === 4,
      when: 'pass',
      // What a PostgreSQL crash does to the unlogged session tables.
      run: async () => {
        await server.pool.query('TRUNCATE sync.snapshot_sessions CASCADE');
      },
    });
    const d = await device(user, {
      fetch: faults.fetch,
      snapshotChunkRows: 2,
      attach: false,
      seed: (db) => db.run("INSERT INTO users (id, name, email) VALUES ('anon', 'Anonymous', 'a@x')"),
    });
    const error = (await failure(d.client.attach(user))) as Error & {
      details?: { status?: number; error?: string };
    };
    expect(error.details).toMatchObject({ status: 404, error: 'snapshot_session_not_found' });
    expect(names(d)).toEqual(['Anonymous']);
    await d.client.flush();
    const restarted = await openFromImage((await d.persister.load())!, {
      baseUrl: server.baseUrl,
      userId: user,
      snapshotChunkRows: 2,
    });
    open.push(restarted);
    expect(sqliteCount(restarted.db, 'users')).toBe(7);
    expect(restarted.client.lastBundleSeqSeen()).toBe(1);
    expect(syncState(restarted.db)).toMatchObject({ dirty: 0, outbox: 0 });
    await sameAsServer(restarted);
    addUser(restarted, 'After hydrate');
    expect((await restarted.client.sync()).pushOutcome).toBe('committed');
    await sameAsServer(restarted);
  });
});

describe('snapshot caps seen by a client (session cap 6 rows, chunk cap 2 rows, window 2)', () => {
  let server: ClientServer;
  const open: Device[] = [];
  const { device, addUser, sameAsServer } = deviceHelpers(() => server, open);

  beforeAll(async () => {
    server = await startClientServer({
      retention: { retainedBundlesPerUser: 2 },
      limits: { maxRowsPerSnapshotSession: 6, maxRowsPerSnapshotChunk: 2 },
    });
  });
  afterAll(async () => {
    for (const d of open) await closeDevice(d).catch(() => undefined);
    await server.close();
  });

  it('pages past a server chunk cap smaller than snapshotChunkRows, then fails closed over the session cap', async () => {
    const user = userId('caps');
    const writer = await device(user);
    for (let i = 0; i < 5; i++) addUser(writer, `W${i}`);
    await writer.client.sync();
    const faults = new FaultyFetch();
    // Attach hydrates 5 rows in pages of 2 although the client asks for 5 per page.
    const reader = await device(user, { fetch: faults.fetch, snapshotChunkRows: 5 });
    expect(sqliteCount(reader.db, 'users')).toBe(5);
    expect(
      faults.of('snapshot-chunk').every((c) => new URLSearchParams(c.query).get('max_rows') === '5'),
    ).toBe(true);
    await sameAsServer(reader);

    // Offline past retention with a pending edit, while the scope grows over the session cap.
    faults.offline = true;
    const mine = addUser(reader, 'Pending');
    await failure(reader.client.sync());
    for (const name of ['X1', 'X2', 'X3']) {
      addUser(writer, name);
      await writer.client.sync();
    }
    faults.offline = false;
    const creates = faults.count('snapshot-create');
    const error = (await failure(reader.client.sync())) as Error & {
      code?: string;
      details?: { status?: number; error?: string };
    };
    expect(error.details).toMatchObject({ status: 500, error: 'snapshot_session_create_failed' });
    expect(faults.count('snapshot-create')).toBe(creates + 1);
    // The pending edit reached the server before the pull; nothing local was replaced.
    const serverRows = await pgRows(
      server.pool,
      'SELECT id::text AS id FROM business.users WHERE _sync_scope_id = $1',
      [user],
    );
    expect(serverRows.map((r) => r['id'])).toContain(mine);
    expect(sqliteCount(reader.db, 'users')).toBe(6);
    expect(reader.client.sourceInfo().rebuildRequired).toBe(true);
    const later = addUser(reader, 'Written behind the gate');
    expect((await failure(reader.client.sync())).code).toBe('rebuild_required');
    expect(sqliteRows(reader.db, 'SELECT key_json FROM _sync_dirty_rows')).toEqual([
      { key_json: JSON.stringify({ id: later }) },
    ]);
  });
});
