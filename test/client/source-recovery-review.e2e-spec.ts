/**
 * Adversarial review of source rotation and recovery (`source_replacement` snapshots) as real
 * devices meet it against the real server with a 2-bundle history window: crashes at each step of
 * a rotation (session created but answer lost, mid-chunk, after the rotated apply), backups
 * restored after the device rotated (once, or twice so that the replacement itself is retired),
 * two copies of one image sharing a source, a replacement id the server already knows, and
 * rotations with dirty rows and a frozen outbox on the same keys. Every case must end with the
 * device syncing again, its rows equal to the server's, and no local edit lost.
 */
import {
  closeDevice,
  failure,
  openFromImage,
  sqliteRows,
  syncState,
  type Device,
} from '../support/client-devices.js';
import { FaultyFetch, routeOf } from '../support/client-faults.js';
import { deviceHelpers } from '../support/client-scenario.js';
import { userId } from '../support/client-schema.js';
import { pgRows, startClientServer, type ClientServer } from '../support/client-server.js';
import { syncCall } from '../support/sync-http.js';

/** The next push create is answered `history_pruned` (the device must rotate its source). */
const pruneNextPush = (faults: FaultyFetch) =>
  faults.fail({
    match: (c) => routeOf(c) === 'push-create',
    respond: {
      status: 409,
      body: { error: 'history_pruned', message: 'source tuple is below the watermark' },
    },
  });

/** An operation's outcome, or its error as `code: message` (so a failed expectation shows why). */
async function attempt(run: () => Promise<unknown>): Promise<string> {
  try {
    const result = (await run()) as { outcome?: string; pushOutcome?: string } | undefined;
    return result?.outcome ?? result?.pushOutcome ?? 'ok';
  } catch (error) {
    const e = error as Error & { code?: string };
    return `${e.code ?? e.name}: ${e.message}`;
  }
}

describe('source rotation and recovery review (retention window 2)', () => {
  let server: ClientServer;
  const open: Device[] = [];
  const { device, addUser, addPost, sameAsServer, serverInsert, serverNames, floorOf } = deviceHelpers(
    () => server,
    open,
  );

  const names = (d: Device) =>
    sqliteRows(d.db, 'SELECT name FROM users ORDER BY name').map((r) => String(r['name']));
  const fromImage = async (user: string, image: Uint8Array | null | undefined, fetch?: FaultyFetch) => {
    if (!image) throw new Error('no image');
    const d = await openFromImage(image, {
      baseUrl: server.baseUrl,
      userId: user,
      ...(fetch && { fetch: fetch.fetch }),
    });
    open.push(d);
    return d;
  };
  const backupOf = async (d: Device) => {
    await d.client.flush();
    return d.persister.load();
  };
  const sources = async (user: string) =>
    pgRows<{ source_id: string; state: string; replaced_by: string }>(
      server.pool,
      `SELECT s.source_id, s.state, s.replaced_by_source_id AS replaced_by
         FROM sync.source_state s JOIN sync.user_state u USING (user_pk) WHERE u.user_id = $1`,
      [user],
    );
  const stateOf = async (user: string, sourceId: string) =>
    (await sources(user)).find((s) => s.source_id === sourceId);
  const reservation = (d: Device) =>
    String(sqliteRows(d.db, 'SELECT replacement_source_id AS r FROM _sync_operation_state')[0]?.['r']);
  /**
   * A device of `user` that synced `names`, then froze "Frozen" and had its push answered
   * `history_pruned`: it is in source recovery with a reserved replacement.
   */
  const inRecovery = async (user: string, names: string[], options: { snapshotChunkRows?: number } = {}) => {
    const faults = new FaultyFetch();
    const d = await device(user, { fetch: faults.fetch, ...options });
    const oldSource = d.client.sourceInfo().sourceId;
    for (const name of names) addUser(d, name);
    await d.client.sync();
    pruneNextPush(faults);
    addUser(d, 'Frozen');
    expect((await failure(d.client.pushPending())).code).toBe('source_recovery_required');
    return { d, faults, oldSource, replacement: reservation(d) };
  };
  /** Makes the device rotate once (a pruned push, then `rebuild()`), and syncs the frozen row. */
  const rotate = async (d: Device, faults: FaultyFetch, name: string) => {
    pruneNextPush(faults);
    addUser(d, name);
    expect((await failure(d.client.pushPending())).code).toBe('source_recovery_required');
    expect((await d.client.rebuild()).outcome).toBe('applied_snapshot');
    await d.client.sync();
    return d.client.sourceInfo().sourceId;
  };
  /** Syncs until nothing is pending (each sync pushes at most a few bundles). */
  const settle = async (d: Device) => {
    for (let i = 0; i < 3; i++) {
      await d.client.sync();
      const state = syncState(d.db);
      if (state.dirty === 0 && state.outbox === 0) return;
    }
  };

  beforeAll(async () => {
    server = await startClientServer({ retention: { retainedBundlesPerUser: 2 } });
  });
  afterAll(async () => {
    for (const d of open) await closeDevice(d).catch(() => undefined);
    await server.close();
  });

  it('a crash after the server created the rotated session (answer lost) resumes with the same replacement', async () => {
    const user = userId('lost-create');
    const { d, faults, oldSource, replacement } = await inRecovery(user, ['One', 'Two']);
    faults
      .captureFrom(d.persister)
      .fail({ match: (c) => routeOf(c) === 'snapshot-create', when: 'after', crash: true });
    await failure(d.client.rebuild());
    // The server rotated (old retired, replacement reserved) but the device never heard of it.
    expect(await stateOf(user, oldSource)).toMatchObject({ state: 'retired', replaced_by: replacement });
    expect(await stateOf(user, replacement)).toMatchObject({ state: 'reserved' });
    await serverInsert(user, 'Peer while down');

    const restarted = await fromImage(user, faults.crashImages.at(-1));
    expect(restarted.client.sourceInfo()).toMatchObject({
      sourceId: oldSource,
      sourceRecoveryRequired: true,
    });
    addUser(restarted, 'Written after the restart');
    expect((await restarted.client.rebuild()).outcome).toBe('applied_snapshot');
    expect(restarted.client.sourceInfo()).toMatchObject({ sourceId: replacement, rebuildRequired: false });
    await settle(restarted);
    expect(await serverNames(user)).toEqual([
      'Frozen',
      'One',
      'Peer while down',
      'Two',
      'Written after the restart',
    ]);
    expect(await stateOf(user, replacement)).toMatchObject({ state: 'active' });
    expect(syncState(restarted.db)).toMatchObject({ dirty: 0, outbox: 0 });
    await sameAsServer(restarted);
  });

  it('a crash during the chunked snapshot read of a rotation, with a peer committing meanwhile, resumes', async () => {
    const user = userId('mid-chunk');
    const { d, faults, replacement } = await inRecovery(user, ['A', 'B', 'C'], { snapshotChunkRows: 1 });
    faults
      .captureFrom(d.persister)
      .fail({ match: (c) => routeOf(c) === 'snapshot-chunk', nth: 2, crash: true });
    await failure(d.client.rebuild());
    for (const name of ['P1', 'P2', 'P3']) await serverInsert(user, name);

    const restarted = await fromImage(user, faults.crashImages.at(-1));
    expect(names(restarted)).toEqual(['A', 'B', 'C', 'Frozen']);
    expect((await restarted.client.rebuild()).outcome).toBe('applied_snapshot');
    expect(restarted.client.sourceInfo().sourceId).toBe(replacement);
    expect(names(restarted)).toEqual(['A', 'B', 'C', 'Frozen', 'P1', 'P2', 'P3']);
    await settle(restarted);
    expect(await serverNames(user)).toEqual(['A', 'B', 'C', 'Frozen', 'P1', 'P2', 'P3']);
    await sameAsServer(restarted);
  });

  it('a crash after the rotated apply was persisted (before the session delete) pushes the outbox under (new, 1)', async () => {
    const user = userId('after-apply');
    const { d, faults, oldSource, replacement } = await inRecovery(user, ['Synced']);
    faults.captureFrom(d.persister).fail({ match: (c) => routeOf(c) === 'snapshot-delete', crash: true });
    // The delete is best effort: the rebuild itself succeeds, then the device dies.
    expect((await d.client.rebuild()).outcome).toBe('applied_snapshot');

    const faults2 = new FaultyFetch();
    const restarted = await fromImage(user, faults.crashImages.at(-1), faults2);
    expect(restarted.client.sourceInfo()).toEqual({
      sourceId: replacement,
      rebuildRequired: false,
      sourceRecoveryRequired: false,
    });
    expect(syncState(restarted.db)).toMatchObject({ outboxState: 'prepared', outbox: 1 });
    // The push's commit answer is lost too: the retry replays (new, 1) as already committed.
    faults2.fail({ match: (c) => routeOf(c) === 'commit', when: 'after' });
    expect((await restarted.client.pushPending()).outcome).toBe('committed');
    expect(faults2.of('push-create').map((c) => c.body)).toEqual([
      { source_bundle_id: 1, planned_row_count: 1 },
      { source_bundle_id: 1, planned_row_count: 1 },
    ]);
    await settle(restarted);
    expect(await serverNames(user)).toEqual(['Frozen', 'Synced']);
    expect(await stateOf(user, oldSource)).toMatchObject({ state: 'retired', replaced_by: replacement });
    expect(syncState(restarted.db)).toMatchObject({ dirty: 0, outbox: 0, nextSourceBundleId: 2 });
    await sameAsServer(restarted);
  });

  it('a rotation keeps a frozen outbox and later dirty edits of the same keys, and pushes them all', async () => {
    const user = userId('dirty');
    const faults = new FaultyFetch();
    const d = await device(user, { fetch: faults.fetch });
    const existing = addUser(d, 'Existing');
    const other = addUser(d, 'Other');
    await d.client.sync();
    pruneNextPush(faults);
    const inserted = addUser(d, 'Frozen insert');
    d.db.run("UPDATE users SET name = 'Frozen update' WHERE id = ?", [existing]);
    expect((await failure(d.client.pushPending())).code).toBe('source_recovery_required');
    expect(syncState(d.db)).toMatchObject({ outboxState: 'prepared', outbox: 2 });
    // Behind the gate: edit the frozen insert, delete the frozen update, add a child of the frozen
    // insert, and edit a row the outbox does not hold. A peer commits meanwhile.
    d.db.run("UPDATE users SET name = 'Edited after freeze' WHERE id = ?", [inserted]);
    d.db.run('DELETE FROM users WHERE id = ?', [existing]);
    const post = addPost(d, inserted, 'Post after freeze');
    d.db.run("UPDATE users SET name = 'Dirty only' WHERE id = ?", [other]);
    await serverInsert(user, 'Peer');
    expect((await failure(d.client.sync())).code).toBe('source_recovery_required');
    expect((await d.client.rebuild()).outcome).toBe('applied_snapshot');
    expect(names(d)).toEqual(['Dirty only', 'Edited after freeze', 'Peer']);
    await settle(d);
    expect(await serverNames(user)).toEqual(['Dirty only', 'Edited after freeze', 'Peer']);
    expect(
      (
        await pgRows(server.pool, 'SELECT id::text AS id FROM business.posts WHERE _sync_scope_id = $1', [
          user,
        ])
      ).map((r) => r['id']),
    ).toEqual([post]);
    expect(syncState(d.db)).toMatchObject({ dirty: 0, outbox: 0 });
    await sameAsServer(d);
  });

  it('a replacement the server already knows (source_replacement_invalid) is replaced by a fresh one', async () => {
    const user = userId('known');
    const { d, oldSource, replacement: reserved } = await inRecovery(user, ['Synced']);
    // The server learns the reserved id first (another install rotated to it).
    const taken = await syncCall(server.baseUrl, {
      path: '/sync/snapshot-sessions',
      user,
      source: 'another-install',
      body: {
        source_replacement: {
          previous_source_id: 'another-install',
          new_source_id: reserved,
          reason: 'history_pruned',
        },
      },
    });
    expect(taken.status).toBe(200);
    // The rebuild used to send the same durable reservation on every attempt and be refused the
    // same way for ever (push, pull and sync refused, detach blocked by the frozen outbox). It now
    // reserves a fresh id on `source_replacement_invalid` and rotates, in the same rebuild() call.
    expect(await attempt(() => d.client.rebuild())).toBe('applied_snapshot');
    expect(d.client.sourceInfo().sourceId).not.toBe(reserved);
    await settle(d);
    expect(await serverNames(user)).toEqual(['Frozen', 'Synced']);
    expect(await stateOf(user, oldSource)).toMatchObject({ state: 'retired' });
    await sameAsServer(d);
  });

  it('a backup restored after its source was rotated twice (the server’s replacement is retired too) recovers', async () => {
    const user = userId('retired-adopt');
    const faults = new FaultyFetch();
    const d = await device(user, { fetch: faults.fetch });
    const oldSource = d.client.sourceInfo().sourceId;
    addUser(d, 'Original');
    await d.client.sync();
    const backup = await backupOf(d);
    const first = await rotate(d, faults, 'First rotation');
    const second = await rotate(d, faults, 'Second rotation');
    expect(await stateOf(user, oldSource)).toMatchObject({ state: 'retired', replaced_by: first });
    expect(await stateOf(user, first)).toMatchObject({ state: 'retired', replaced_by: second });

    const restored = await fromImage(user, backup);
    addUser(restored, 'Only on the backup');
    expect((await failure(restored.client.pushPending())).code).toBe('source_recovery_required');
    expect(restored.client.sourceInfo()).toMatchObject({ sourceRecoveryReason: 'source_retired' });
    // The device used to adopt the server's replacement (`first`), itself retired since, and every
    // rotation old → first was refused (source_replacement_invalid) while a fresh id was refused
    // with source_retired: wedged, with the edit never reaching the server. It now reserves an id
    // of its own; the server refuses to rotate the retired source to it (source_retired), so the
    // rebuild takes a plain snapshot and moves to that id, which the server has never seen.
    expect(reservation(restored)).not.toBe(first);
    expect(await attempt(() => restored.client.rebuild())).toBe('applied_snapshot');
    expect(restored.client.sourceInfo().sourceId).not.toBe(first);
    await settle(restored);
    await settle(d);
    expect(await serverNames(user)).toEqual([
      'First rotation',
      'Only on the backup',
      'Original',
      'Second rotation',
    ]);
    await sameAsServer(restored);
    await settle(d);
    await sameAsServer(d);
  });

  it('a backup taken during recovery, restored after its reserved replacement was retired, recovers', async () => {
    const user = userId('retired-reserved');
    const { d, faults, replacement: reserved } = await inRecovery(user, ['Original']);
    const backup = await backupOf(d);
    expect((await d.client.rebuild()).outcome).toBe('applied_snapshot');
    await d.client.sync();
    await rotate(d, faults, 'Later rotation');
    expect(await stateOf(user, reserved)).toMatchObject({ state: 'retired' });

    const restored = await fromImage(user, backup);
    expect(restored.client.sourceInfo()).toMatchObject({ sourceRecoveryRequired: true });
    addUser(restored, 'Written on the restored copy');
    // Same wedge as above, reached through the device's own reservation (old → reserved refused,
    // `reserved` being retired meanwhile): now a fresh id, then a plain snapshot under it.
    expect(await attempt(() => restored.client.rebuild())).toBe('applied_snapshot');
    await settle(restored);
    expect(await serverNames(user)).toEqual([
      'Frozen',
      'Later rotation',
      'Original',
      'Written on the restored copy',
    ]);
    await sameAsServer(restored);
  });

  it('two copies of one image: one rotates after its tuple was pruned, the other then pushes; both keep syncing', async () => {
    const user = userId('twins');
    const a = await device(user);
    addUser(a, 'Shared');
    await a.client.sync();
    const b = await fromImage(user, await backupOf(a));
    expect(b.client.sourceInfo().sourceId).toBe(a.client.sourceInfo().sourceId);
    // B pushes three bundles under the shared source: A's next tuple (S, 2) is committed and pruned.
    for (const name of ['B1', 'B2', 'B3']) {
      addUser(b, name);
      expect((await b.client.pushPending()).outcome).toBe('committed');
    }
    expect(await floorOf(user)).toBeGreaterThanOrEqual(2);
    addUser(a, 'Edit on A');
    const aError = await failure(a.client.pushPending());
    expect(aError.code).toBe('source_recovery_required');
    expect(a.client.sourceInfo()).toMatchObject({ sourceRecoveryReason: 'history_pruned' });
    expect((await a.client.rebuild()).outcome).toBe('applied_snapshot');
    await settle(a);
    expect(await serverNames(user)).toEqual(['B1', 'B2', 'B3', 'Edit on A', 'Shared']);

    addUser(b, 'Edit on B');
    expect((await failure(b.client.pushPending())).code).toBe('source_recovery_required');
    expect(b.client.sourceInfo()).toMatchObject({ sourceRecoveryReason: 'source_retired' });
    expect((await b.client.rebuild()).outcome).toBe('applied_snapshot');
    // B used to adopt A's replacement (`replaced_by_source_id`), so both devices pushed under one
    // source: B's (R, 1) was answered already_committed with A's bundle and the replay failed
    // closed on every push, wedging B (or A, had B pushed first). B now moves to a source of its own.
    expect(b.client.sourceInfo().sourceId).not.toBe(a.client.sourceInfo().sourceId);
    expect(await attempt(() => b.client.sync())).toBe('committed');
    await settle(b);
    await settle(a);
    expect(await serverNames(user)).toEqual(['B1', 'B2', 'B3', 'Edit on A', 'Edit on B', 'Shared']);
    await sameAsServer(a);
    await sameAsServer(b);
  });

  it("a backup restored after one rotation gets a source of its own, and the original device's next push is not wedged", async () => {
    const user = userId('restored-once');
    const faults = new FaultyFetch();
    const d = await device(user, { fetch: faults.fetch });
    const shared = addUser(d, 'Original');
    await d.client.sync();
    const backup = await backupOf(d);
    pruneNextPush(faults);
    d.db.run("UPDATE users SET name = 'Renamed by the original' WHERE id = ?", [shared]);
    expect((await failure(d.client.pushPending())).code).toBe('source_recovery_required');
    await d.client.rebuild();
    await d.client.sync();

    // The copy edits the same row from the old version: under a source of its own, its edit meets
    // the original's newer value as an ordinary conflict, which the default resolver (server wins)
    // settles.
    const restored = await fromImage(user, backup);
    restored.db.run("UPDATE users SET name = 'Renamed by the backup' WHERE id = ?", [shared]);
    expect((await failure(restored.client.pushPending())).code).toBe('source_recovery_required');
    expect((await restored.client.rebuild()).outcome).toBe('applied_snapshot');
    expect(restored.client.sourceInfo().sourceId).not.toBe(d.client.sourceInfo().sourceId);
    await settle(restored);
    expect(await serverNames(user)).toEqual(['Renamed by the original']);

    // The original device carries on with its own next bundle.
    addUser(d, 'Original carries on');
    // The restored copy used to adopt the original's live source and commit its tuple (R, 2), so
    // the original's next push was answered already_committed with the copy's rows and failed
    // closed on every sync: the device that did nothing wrong was wedged.
    expect(await attempt(() => d.client.sync())).toBe('committed');
    await settle(d);
    await settle(restored);
    expect(await serverNames(user)).toEqual(['Original carries on', 'Renamed by the original']);
    await sameAsServer(d);
    await sameAsServer(restored);
  });
});
