/**
 * Recovery and rebuild paths of the client against the real server with a 2-bundle history window:
 * a snapshot rebuild must keep optimistic concurrency for the changes it keeps, and must never fail
 * at COMMIT for good because a kept change references a parent the snapshot no longer has.
 */
import { serverWins, type ConflictResolver, type SyncConflict } from '@oversync/client';
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
import { uuid, userId } from '../support/client-schema.js';
import { lit, rawSql, serverTable, startClientServer, type ClientServer } from '../support/client-server.js';

describe('client recovery review (retention window 2)', () => {
  let server: ClientServer;
  const open: Device[] = [];

  const { device, addUser, addPost, sameAsServer } = deviceHelpers(() => server, open);
  /** Three server-originated bundles: with a window of 2 the floor passes every earlier bundle. */
  const pruneHistory = async (user: string) => {
    for (const name of ['S1', 'S2', 'S3']) {
      await server.write(
        user,
        rawSql(
          `INSERT INTO business.users (_sync_scope_id, id, name, email) VALUES (${lit(user)}, '${uuid()}', '${name}', 's@x')`,
        ),
      );
    }
  };
  /** serverWins that records every conflict it is asked about. */
  const recordingServerWins = (seen: SyncConflict[]): ConflictResolver => {
    return (conflict) => {
      seen.push(conflict);
      return serverWins(conflict);
    };
  };
  beforeAll(async () => {
    server = await startClientServer({ retention: { retainedBundlesPerUser: 2 } });
  });
  afterAll(async () => {
    for (const d of open) await closeDevice(d).catch(() => undefined);
    await server.close();
  });

  it("an edit made while a pruned push awaited replay still conflicts with a peer's later write", async () => {
    const user = userId('prunedrebase');
    const seen: SyncConflict[] = [];
    const faults = new FaultyFetch();
    const a = await device(user, { fetch: faults.fetch, conflictResolver: recordingServerWins(seen) });
    // A's INSERT commits as bundle 1, but its committed rows cannot be fetched: committed_remote.
    faults.fail({ match: (c) => routeOf(c) === 'committed-rows', times: 3 });
    const id = addUser(a, 'First');
    expect((await failure(a.client.pushPending())).code).toBe('retry_exhausted');
    expect(syncState(a.db).outboxState).toBe('committed_remote');
    // A edits the row on top of its own (not yet replayed) push.
    a.db.run("UPDATE users SET name = 'Second' WHERE id = ?", [id]);
    // A peer changes the same row afterwards (bundle 2); then bundles 1 and 2 are pruned.
    const b = await device(user);
    b.db.run("UPDATE users SET name = 'Peer' WHERE id = ?", [id]);
    expect((await b.client.pushPending()).outcome).toBe('committed');
    await pruneHistory(user);
    // The committed-rows fetch now answers history_pruned: A finishes its push by a snapshot.
    expect((await a.client.pushPending()).outcome).toBe('committed');
    // A's edit was based on A's bundle 1, not on the peer's version 2: pushing it must conflict
    // (the resolver decides), never silently overwrite the peer's write.
    await a.client.sync();
    expect(seen.map((c) => [c.baseRowVersion, c.serverRowVersion, c.serverRow?.['name']])).toEqual([
      [1, 2, 'Peer'],
    ]);
    expect(sqliteRows(a.db, 'SELECT name FROM users WHERE id = ?', [id])).toEqual([{ name: 'Peer' }]);
    expect(syncState(a.db)).toMatchObject({ dirty: 0, outbox: 0 });
    await sameAsServer(a, ['users']);
  });

  it('a resumed rebuild drops a pending child whose parent a peer deleted instead of failing forever', async () => {
    const user = userId('orphandirty');
    const faults = new FaultyFetch();
    const a = await device(user, { fetch: faults.fetch });
    const author = addUser(a, 'Author');
    expect((await a.client.pushPending()).outcome).toBe('committed');
    const b = await device(user);
    b.db.run('DELETE FROM users WHERE id = ?', [author]);
    expect((await b.client.pushPending()).outcome).toBe('committed');
    await pruneHistory(user);
    // A's pull meets history_pruned; its snapshot rebuild is cut short (rebuild_required stays).
    faults.fail({ match: (c) => routeOf(c) === 'snapshot-create', times: 3 });
    expect((await failure(a.client.pullToStable())).code).toBe('retry_exhausted');
    expect(a.client.sourceInfo().rebuildRequired).toBe(true);
    // Meanwhile the app writes a post under the author it still has locally.
    const post = addPost(a, author, 'Orphan to be');
    // The resumed rebuild removes the author (gone on the server) and, as the app's ON DELETE
    // CASCADE says, the post with it: its pending INSERT drops out instead of failing at COMMIT.
    expect(await a.client.rebuild()).toMatchObject({ outcome: 'applied_snapshot' });
    expect(a.client.sourceInfo().rebuildRequired).toBe(false);
    expect(sqliteCount(a.db, 'SELECT COUNT(*) FROM posts WHERE id = ?', [post])).toBe(0);
    expect(await a.client.sync()).toMatchObject({ pushOutcome: 'no_change' });
    expect(syncState(a.db)).toMatchObject({ dirty: 0, outbox: 0 });
    await sameAsServer(a);
  });

  it('a rotated rebuild moves a frozen child of a parent a peer deleted out of the outbox', async () => {
    const user = userId('orphanoutbox');
    const faults = new FaultyFetch();
    const a = await device(user, { fetch: faults.fetch });
    const author = addUser(a, 'Author');
    expect((await a.client.pushPending()).outcome).toBe('committed');
    const b = await device(user);
    b.db.run('DELETE FROM users WHERE id = ?', [author]);
    expect((await b.client.pushPending()).outcome).toBe('committed');
    // A freezes a post under the author plus an unrelated user; create answers history_pruned.
    faults.fail({
      match: (c) => routeOf(c) === 'push-create',
      respond: { status: 409, body: { error: 'history_pruned', message: 'below the watermark' } },
    });
    const post = addPost(a, author, 'Frozen orphan');
    const kept = addUser(a, 'Kept');
    expect((await failure(a.client.pushPending())).code).toBe('source_recovery_required');
    expect(syncState(a.db)).toMatchObject({ outboxState: 'prepared', outbox: 2 });
    // The rotated rebuild would write the frozen post back under an author the snapshot lacks.
    expect(await a.client.rebuild()).toMatchObject({ outcome: 'applied_snapshot' });
    expect(a.client.sourceInfo()).toMatchObject({ rebuildRequired: false, sourceRecoveryRequired: false });
    expect(sqliteCount(a.db, 'SELECT COUNT(*) FROM posts WHERE id = ?', [post])).toBe(0);
    expect(await a.client.sync()).toMatchObject({ pushOutcome: 'committed' });
    expect(syncState(a.db)).toMatchObject({ dirty: 0, outbox: 0, nextSourceBundleId: 2 });
    expect(sqliteRows(a.db, 'SELECT name FROM users WHERE id = ?', [kept])).toEqual([{ name: 'Kept' }]);
    await sameAsServer(a);
  });

  it('a user switch on one device pushes for the new user without source recovery, seeding included', async () => {
    const alice = userId('switch-alice');
    const bob = userId('switch-bob');
    let token = alice;
    const first = await device(alice, { getToken: () => token });
    addUser(first, 'Alice 1');
    expect((await first.client.sync()).pushOutcome).toBe('committed');
    expect((await first.client.detach()).outcome).toBe('detached');
    // Offline work before Bob signs in (after a restart): Bob's scope is new, so the device seeds it.
    addUser(first, 'Bob seed');
    const d = await restartDevice(first, { attach: false, getToken: () => token });
    open.push(d);
    token = bob;
    expect(await d.client.attach(bob)).toMatchObject({ outcome: 'seeded_from_local' });
    // The source's counter stood at 2 for Alice; Bob's scope expects 1 from a source it never saw.
    expect(await d.client.sync()).toMatchObject({ pushOutcome: 'committed' });
    expect(d.client.sourceInfo()).toMatchObject({ rebuildRequired: false, sourceRecoveryRequired: false });
    expect((await serverTable(server.pool, 'users', bob)).map((r) => r['name'])).toEqual(['Bob seed']);
    // And back to Alice, whose scope is initialized: her next push commits too.
    expect((await d.client.detach()).outcome).toBe('detached');
    token = alice;
    expect(await d.client.attach(alice)).toMatchObject({ outcome: 'used_remote_state' });
    addUser(d, 'Alice 2');
    expect(await d.client.sync()).toMatchObject({ pushOutcome: 'committed' });
    expect((await serverTable(server.pool, 'users', alice)).map((r) => r['name']).sort()).toEqual([
      'Alice 1',
      'Alice 2',
    ]);
    expect(syncState(d.db)).toMatchObject({ dirty: 0, outbox: 0 });
  });
});
