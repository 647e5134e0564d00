/**
 * Edge cases of the client's sync core against the real server and PostgreSQL: transactions that
 * fail at COMMIT, conflict resolutions that meet foreign keys and local cascades, `clientWins`
 * against a peer's delete, values JSON cannot carry, and the committed-bundle `history_pruned`
 * fallback (including a rebuild that is cut short and resumed).
 */
import { clientWins, serverWins, type ConflictResolver } from '@oversync/client';
import {
  closeDevice,
  failure,
  sqliteCount,
  sqliteRows,
  syncState,
  type Device,
} from '../support/client-devices.js';
import { FaultyFetch, routeOf } from '../support/client-faults.js';
import { deviceHelpers } from '../support/client-scenario.js';
import { waitFor } from '../support/client-waiters.js';
import { uuid, uuidBytes, userId } from '../support/client-schema.js';
import { lit, pgRows, serverTable, startClientServer, type ClientServer } from '../support/client-server.js';

describe('client sync core edges (real server)', () => {
  let server: ClientServer;
  const open: Device[] = [];
  const { device, addUser, addPost, sameAsServer, serverSql, deviceWritingDuringPull } = deviceHelpers(
    () => server,
    open,
  );

  beforeAll(async () => {
    server = await startClientServer();
  });
  afterAll(async () => {
    for (const d of open) await closeDevice(d).catch(() => undefined);
    await server.close();
  });

  // --- transactions that fail at COMMIT -----------------------------------------------------------

  it('a pull bundle whose deferred FK check fails at COMMIT is rolled back and the client stays usable', async () => {
    const user = userId('fkcommit');
    const a = await device(user);
    const parent = addUser(a, 'Parent');
    await a.client.pushPending();
    // While B's pull is in flight the app deletes the parent; the pulled bundle adds a child to it.
    const b = await deviceWritingDuringPull(user, (d) =>
      d.db.run('DELETE FROM users WHERE id = ?', [parent]),
    );
    const child = uuid();
    await serverSql(
      user,
      `INSERT INTO business.posts (_sync_scope_id, id, title, content, author_id)
       VALUES (${lit(user)}, '${child}', 'Server child', 'c', '${parent}')`,
    );
    // The apply cannot commit (the child's parent is gone locally): it must fail and roll back,
    // leaving no transaction open (an open one would make every export fail as "busy or locked").
    await b.client.sync().catch(() => undefined);
    expect(sqliteCount(b.db, 'SELECT COUNT(*) FROM posts WHERE id = ?', [child])).toBe(0);
    expect(syncState(b.db).lastBundleSeqSeen).toBe(1);
    // The connection is usable: no transaction left open, savepoint names intact.
    expect(() => b.db.exec('BEGIN; ROLLBACK')).not.toThrow();
    expect(await b.client.sync()).toMatchObject({ pushOutcome: 'committed' });
    expect(sqliteCount(b.db, 'users')).toBe(0);
    await sameAsServer(b);
  });

  // --- conflicts ------------------------------------------------------------------------------------

  it('accept_server of a server row that references a parent not pulled yet converges on the next pull', async () => {
    const user = userId('fkacc');
    const a = await device(user);
    const author = addUser(a, 'Author');
    const post = addPost(a, author, 'Title');
    await a.client.pushPending();
    const b = await device(user, { conflictResolver: serverWins });
    // Another writer creates a new author and moves the post to it (one bundle B has not pulled).
    const newAuthor = uuid();
    await serverSql(
      user,
      `INSERT INTO business.users (_sync_scope_id, id, name, email) VALUES (${lit(user)}, '${newAuthor}', 'New', 'n@x');
       UPDATE business.posts SET author_id = '${newAuthor}' WHERE _sync_scope_id = ${lit(user)} AND id = '${post}'`,
    );
    b.db.run("UPDATE posts SET title = 'Edited on B' WHERE id = ?", [post]);
    // serverWins: the server row (author = the new author) must win. It cannot be written before
    // its author is pulled, so the local intent is dropped and the next pull brings both.
    await b.client.pushPending().catch(() => undefined);
    expect(await b.client.sync()).toMatchObject({ remoteOutcome: expect.any(String) });
    expect(sqliteRows(b.db, 'SELECT title, author_id FROM posts')).toEqual([
      { title: 'Title', author_id: newAuthor },
    ]);
    await sameAsServer(b);
  });

  it('accept_server of a parent tombstone drops the intent of a child the local cascade removed', async () => {
    const user = userId('orphan');
    const a = await device(user);
    const parent = addUser(a, 'Parent');
    await a.client.pushPending();
    const b = await device(user, { conflictResolver: serverWins });
    await serverSql(
      user,
      `DELETE FROM business.users WHERE _sync_scope_id = ${lit(user)} AND id = '${parent}'`,
    );
    // One bundle: UPDATE parent (conflicts with the tombstone) + INSERT child under it.
    b.db.run("UPDATE users SET name = 'Renamed' WHERE id = ?", [parent]);
    addPost(b, parent, 'Child');
    // Server wins: the parent is deleted locally and ON DELETE CASCADE removes the child. Its
    // frozen INSERT must not be requeued (the server would refuse the orphan on every push): it
    // becomes a delete of a never-synced key, which drops out.
    await b.client.pushPending().catch(() => undefined);
    expect(await b.client.sync()).toMatchObject({ remoteOutcome: expect.any(String) });
    expect(syncState(b.db)).toMatchObject({ dirty: 0, outbox: 0 });
    await sameAsServer(b);
  });

  it('a pulled parent delete that cascades locally leaves no orphan child intent', async () => {
    const user = userId('porphan');
    const a = await device(user);
    const parent = addUser(a, 'Parent');
    await a.client.pushPending();
    // The app adds a child while B's pull is in flight; the pulled bundle deletes its parent.
    const b = await deviceWritingDuringPull(user, (d) => void addPost(d, parent, 'Written during pull'));
    await serverSql(
      user,
      `DELETE FROM business.users WHERE _sync_scope_id = ${lit(user)} AND id = '${parent}'`,
    );
    await b.client.sync();
    // The local cascade removed the child; its INSERT intent must not push a post whose author
    // does not exist (the server would refuse it on every later sync).
    expect(await b.client.sync()).toMatchObject({ remoteOutcome: expect.any(String) });
    expect(syncState(b.db)).toMatchObject({ dirty: 0, outbox: 0 });
    await sameAsServer(b);
  });

  it('keep_local on a pushed DELETE against a newer live server row deletes it on the server', async () => {
    const user = userId('kldel');
    const a = await device(user);
    const id = addUser(a, 'Ada');
    await a.client.pushPending();
    const b = await device(user, { conflictResolver: clientWins });
    await serverSql(
      user,
      `UPDATE business.users SET name = 'Server' WHERE _sync_scope_id = ${lit(user)} AND id = '${id}'`,
    );
    b.db.run('DELETE FROM users WHERE id = ?', [id]);
    expect((await b.client.pushPending()).outcome).toBe('committed');
    expect(await serverTable(server.pool, 'users', user)).toEqual([]);
    await b.client.sync();
    expect(syncState(b.db)).toMatchObject({ dirty: 0, outbox: 0 });
    await sameAsServer(b);
  });

  it("the built-in clientWins against a peer's delete re-creates the row edited offline", async () => {
    const user = userId('cwtomb');
    const a = await device(user);
    const id = addUser(a, 'Ada');
    await a.client.pushPending();
    const b = await device(user, { conflictResolver: clientWins });
    await serverSql(user, `DELETE FROM business.users WHERE _sync_scope_id = ${lit(user)} AND id = '${id}'`);
    b.db.run("UPDATE users SET name = 'Edited offline' WHERE id = ?", [id]);
    // keep_local of an UPDATE against a tombstone re-creates the row: it is pushed as an INSERT
    // based on the tombstone's version (go-oversync rejects this resolution and wedges).
    expect(await b.client.sync()).toMatchObject({ pushOutcome: 'committed' });
    expect(syncState(b.db)).toMatchObject({ dirty: 0, outbox: 0 });
    expect(sqliteRows(b.db, 'SELECT name FROM users WHERE id = ?', [id])).toEqual([
      { name: 'Edited offline' },
    ]);
    await sameAsServer(b);
    await a.client.sync();
    expect(sqliteRows(a.db, 'SELECT name FROM users WHERE id = ?', [id])).toEqual([
      { name: 'Edited offline' },
    ]);
    await sameAsServer(a);
  });

  it("keep_merged against a peer's delete re-creates the row with the merged values", async () => {
    const user = userId('kmtomb');
    const a = await device(user);
    const id = addUser(a, 'Ada');
    await a.client.pushPending();
    const merge: ConflictResolver = (c) => ({
      action: 'keep_merged',
      row: { ...c.localRow, email: 'merged@x' },
    });
    const b = await device(user, { conflictResolver: merge });
    await serverSql(user, `DELETE FROM business.users WHERE _sync_scope_id = ${lit(user)} AND id = '${id}'`);
    b.db.run("UPDATE users SET name = 'Edited offline' WHERE id = ?", [id]);
    // Like keep_local: an INSERT based on the tombstone's version (it used to be refused as
    // invalid_conflict_resolution on every sync).
    expect(await b.client.sync()).toMatchObject({ pushOutcome: 'committed' });
    expect(syncState(b.db)).toMatchObject({ dirty: 0, outbox: 0 });
    expect(sqliteRows(b.db, 'SELECT name, email FROM users WHERE id = ?', [id])).toEqual([
      { name: 'Edited offline', email: 'merged@x' },
    ]);
    await sameAsServer(b);
    await a.client.sync();
    await sameAsServer(a);
  });

  it('keep_merged of a server row whose new parent is not pulled yet pulls first, then writes the merge', async () => {
    const user = userId('kmfk');
    const a = await device(user);
    const author = addUser(a, 'Author');
    const post = addPost(a, author, 'Title');
    await a.client.pushPending();
    const asked: string[] = [];
    // The common merge: the server's row with the local title.
    const merge: ConflictResolver = (c) => {
      asked.push(c.serverRow?.['author_id'] as string);
      return { action: 'keep_merged', row: { ...c.serverRow, title: c.localRow?.['title'] ?? null } };
    };
    const b = await device(user, { conflictResolver: merge });
    // Another writer creates a new author and moves the post to it (one bundle B has not pulled).
    const newAuthor = uuid();
    await serverSql(
      user,
      `INSERT INTO business.users (_sync_scope_id, id, name, email) VALUES (${lit(user)}, '${newAuthor}', 'New', 'n@x');
       UPDATE business.posts SET author_id = '${newAuthor}', content = 'server body' WHERE _sync_scope_id = ${lit(user)} AND id = '${post}'`,
    );
    b.db.run("UPDATE posts SET title = 'Edited on B' WHERE id = ?", [post]);
    // The merged row cannot be written before its author is pulled (the local FK check fails at
    // COMMIT). It used to fail every sync with the outbox frozen, which also blocked the pull.
    expect(await b.client.sync()).toMatchObject({ pushOutcome: 'committed' });
    expect(sqliteRows(b.db, 'SELECT title, content, author_id FROM posts')).toEqual([
      { title: 'Edited on B', content: 'server body', author_id: newAuthor },
    ]);
    // The resolution was kept across the pull, not asked for again.
    expect(asked).toEqual([newAuthor]);
    expect(syncState(b.db)).toMatchObject({ dirty: 0, outbox: 0 });
    await sameAsServer(b);
    await a.client.sync();
    expect(sqliteRows(a.db, 'SELECT title, author_id FROM posts')).toEqual([
      { title: 'Edited on B', author_id: newAuthor },
    ]);
    await sameAsServer(a);
  });

  it('keep_merged naming a parent that exists nowhere is refused after one pull and leaves the change pending', async () => {
    const user = userId('kmghost');
    const a = await device(user);
    const author = addUser(a, 'Author');
    const post = addPost(a, author, 'Title');
    await a.client.pushPending();
    const ghost = uuid();
    const resolver: { current: ConflictResolver } = {
      current: (c) => ({ action: 'keep_merged', row: { ...c.serverRow, author_id: ghost } }),
    };
    const b = await device(user, { conflictResolver: (c) => resolver.current(c) });
    await serverSql(
      user,
      `UPDATE business.posts SET content = 'server body' WHERE _sync_scope_id = ${lit(user)} AND id = '${post}'`,
    );
    b.db.run("UPDATE posts SET title = 'Edited on B' WHERE id = ?", [post]);
    const error = await failure(b.client.sync());
    expect(error).toMatchObject({ code: 'invalid_conflict_resolution', details: { action: 'keep_merged' } });
    // Pulled once (the parent could have been in it), nothing frozen: no wedge.
    expect(syncState(b.db)).toMatchObject({ dirty: 1, outbox: 0, lastBundleSeqSeen: 2 });
    resolver.current = serverWins;
    expect(await b.client.sync()).toMatchObject({ pushOutcome: 'no_change' });
    expect(syncState(b.db)).toMatchObject({ dirty: 0, outbox: 0 });
    await sameAsServer(b);
  });

  it('keep_local and keep_merged write BLOB columns back in local form', async () => {
    const user = userId('blobconf');
    const a = await device(user);
    const [one, two] = [uuid(), uuid()];
    a.db.run("INSERT INTO files (id, name, data) VALUES (?, 'one', x'0102'), (?, 'two', x'0304')", [
      uuidBytes(one),
      uuidBytes(two),
    ]);
    await a.client.pushPending();
    const merge: ConflictResolver = (c) =>
      c.key['id'] === one
        ? { action: 'keep_local' }
        : { action: 'keep_merged', row: { ...c.localRow, name: c.serverRow?.['name'] ?? null } };
    const b = await device(user, { conflictResolver: merge });
    await serverSql(
      user,
      `UPDATE business.files SET data = '\\xdead'::bytea, name = 'server' WHERE _sync_scope_id = ${lit(user)}`,
    );
    b.db.run("UPDATE files SET data = x'cafe' WHERE id = ?", [uuidBytes(one)]);
    b.db.run("UPDATE files SET data = x'beef' WHERE id = ?", [uuidBytes(two)]);
    await b.client.sync();
    await b.client.sync();
    expect(sqliteRows(b.db, 'SELECT name, hex(data) AS h FROM files ORDER BY h')).toEqual([
      { name: 'server', h: 'BEEF' },
      { name: 'one', h: 'CAFE' },
    ]);
    expect(syncState(b.db)).toMatchObject({ dirty: 0, outbox: 0 });
    await sameAsServer(b, ['files']);
  });

  // --- values ----------------------------------------------------------------------------------------

  it('a REAL ±Infinity is refused at freeze (invalid_row), nothing is sent and the row stays pending', async () => {
    const user = userId('inf');
    const d = await device(user);
    const id = uuid();
    d.db.run("INSERT INTO typed_rows (id, name, enabled_flag, rating) VALUES (?, 'Inf', 1, 1e999)", [id]);
    // SQLite renders +Inf as 9.0e+999 and JSON.parse gives Infinity, which a request body's
    // JSON.stringify would send as null: the server would commit NULL and the replay never match.
    const error = await failure(d.client.pushPending());
    expect(error).toMatchObject({
      code: 'invalid_row',
      details: { table: 'typed_rows', key: { id }, column: 'rating' },
    });
    const serverRows = () =>
      pgRows(server.pool, 'SELECT rating FROM business.typed_rows WHERE _sync_scope_id = $1', [user]);
    expect(await serverRows()).toEqual([]);
    expect(syncState(d.db)).toMatchObject({ dirty: 1, outbox: 0, outboxState: 'none' });
    // The app stores a value JSON can carry; the next push sends it.
    d.db.run('UPDATE typed_rows SET rating = 1.5 WHERE id = ?', [id]);
    expect((await d.client.pushPending()).outcome).toBe('committed');
    expect(await serverRows()).toEqual([{ rating: 1.5 }]);
    expect(syncState(d.db)).toMatchObject({ dirty: 0, outbox: 0 });
  });

  it('an empty BLOB, NULLs, a 2^53-1 integer and REAL edge values round-trip through push and pull', async () => {
    const user = userId('values');
    const d = await device(user);
    const [fileId, rowId] = [uuid(), uuid()];
    d.db.run("INSERT INTO files (id, name, data) VALUES (?, 'empty', x'')", [uuidBytes(fileId)]);
    d.db.run(
      "INSERT INTO typed_rows (id, name, note, count_value, enabled_flag, rating, amount) VALUES (?, '', NULL, ?, -9007199254740991, ?, ?)",
      [rowId, 9007199254740991, 4.9406564584124654e-324, 1.7976931348623157e308],
    );
    expect((await d.client.pushPending()).outcome).toBe('committed');
    expect(syncState(d.db)).toMatchObject({ dirty: 0, outbox: 0 });
    const peer = await device(user);
    const view = (x: Device) =>
      sqliteRows(
        x.db,
        'SELECT name, note, count_value, enabled_flag, rating, amount, typeof(count_value) AS t FROM typed_rows',
      );
    expect(view(peer)).toEqual([
      {
        name: '',
        note: null,
        count_value: 9007199254740991,
        enabled_flag: -9007199254740991,
        rating: 5e-324,
        amount: 1.7976931348623157e308,
        t: 'integer',
      },
    ]);
    expect(view(d)).toEqual(view(peer));
    expect(sqliteRows(peer.db, 'SELECT typeof(data) AS t, length(data) AS n FROM files')).toEqual([
      { t: 'blob', n: 0 },
    ]);
    await sameAsServer(peer, ['files']);
  });
});

describe('client sync core edges: committed bundle pruned before its replay (retention window 2)', () => {
  let server: ClientServer;
  const open: Device[] = [];
  const { device, addUser, sameAsServer, serverSql } = deviceHelpers(() => server, open);

  beforeAll(async () => {
    server = await startClientServer({ retention: { retainedBundlesPerUser: 2 } });
  });
  afterAll(async () => {
    for (const d of open) await closeDevice(d).catch(() => undefined);
    await server.close();
  });

  it('a row re-created while its pushed DELETE awaited replay survives the history_pruned rebuild', async () => {
    const user = userId('prunedel');
    const faults = new FaultyFetch();
    const d = await device(user, { fetch: faults.fetch, conflictResolver: serverWins });
    const id = addUser(d, 'Original');
    expect((await d.client.pushPending()).outcome).toBe('committed');
    // The DELETE commits (bundle 2) but its committed rows cannot be fetched: outbox committed_remote.
    faults.fail({ match: (c) => routeOf(c) === 'committed-rows', times: 3 });
    d.db.run('DELETE FROM users WHERE id = ?', [id]);
    expect((await failure(d.client.pushPending())).code).toBe('retry_exhausted');
    expect(syncState(d.db).outboxState).toBe('committed_remote');
    // The app re-creates the key while the replay is pending; then bundle 2 is pruned.
    addUser(d, 'Re-created', id);
    for (const name of ['S1', 'S2', 'S3'])
      await serverSql(
        user,
        `INSERT INTO business.users (_sync_scope_id, id, name, email) VALUES (${lit(user)}, '${uuid()}', '${name}', 's@x')`,
      );
    expect((await d.client.pushPending()).outcome).toBe('committed');
    // The re-created row must be pushed on top of the tombstone our own DELETE left (version 2),
    // not on base 0 (the snapshot has no tombstones): the server would refuse that INSERT as a
    // conflict with our own tombstone, and serverWins would delete the row locally.
    await d.client.sync();
    expect(sqliteRows(d.db, 'SELECT name FROM users WHERE id = ?', [id])).toEqual([{ name: 'Re-created' }]);
    expect(syncState(d.db)).toMatchObject({ dirty: 0, outbox: 0 });
    await sameAsServer(d, ['users']);
  });

  it('an UPDATE made while the pushed bundle awaited replay survives the history_pruned rebuild', async () => {
    const user = userId('pruneupd');
    const faults = new FaultyFetch();
    const d = await device(user, { fetch: faults.fetch, conflictResolver: serverWins });
    const id = addUser(d, 'First');
    faults.fail({ match: (c) => routeOf(c) === 'committed-rows', times: 3 });
    expect((await failure(d.client.pushPending())).code).toBe('retry_exhausted');
    d.db.run("UPDATE users SET name = 'Second' WHERE id = ?", [id]);
    for (const name of ['S1', 'S2', 'S3'])
      await serverSql(
        user,
        `INSERT INTO business.users (_sync_scope_id, id, name, email) VALUES (${lit(user)}, '${uuid()}', '${name}', 's@x')`,
      );
    expect((await d.client.pushPending()).outcome).toBe('committed');
    await d.client.sync();
    expect(sqliteRows(d.db, 'SELECT name FROM users WHERE id = ?', [id])).toEqual([{ name: 'Second' }]);
    expect(syncState(d.db)).toMatchObject({ dirty: 0, outbox: 0, nextSourceBundleId: 3 });
    await sameAsServer(d, ['users']);
  });

  /** Commits a bundle whose committed rows cannot be fetched, then prunes it (3 server bundles). */
  async function commitThenPrune(d: Device, faults: FaultyFetch, user: string): Promise<string> {
    const id = addUser(d, 'First');
    faults.fail({ match: (c) => routeOf(c) === 'committed-rows', times: 3 });
    expect((await failure(d.client.pushPending())).code).toBe('retry_exhausted');
    d.db.run("UPDATE users SET name = 'Second' WHERE id = ?", [id]);
    for (const name of ['S1', 'S2', 'S3'])
      await serverSql(
        user,
        `INSERT INTO business.users (_sync_scope_id, id, name, email) VALUES (${lit(user)}, '${uuid()}', '${name}', 's@x')`,
      );
    return id;
  }

  it('rebuild() resumes a history_pruned rebuild of a committed bundle that was cut short', async () => {
    const user = userId('pruneresume');
    const faults = new FaultyFetch();
    const d = await device(user, { fetch: faults.fetch, conflictResolver: serverWins });
    const id = await commitThenPrune(d, faults, user);
    faults.fail({ match: (c) => routeOf(c) === 'snapshot-create', times: 3 });
    expect((await failure(d.client.pushPending())).code).toBe('retry_exhausted');
    expect(syncState(d.db).outboxState).toBe('committed_remote');
    expect(d.client.sourceInfo().rebuildRequired).toBe(true);
    // Behind the gate: push and sync refuse, and the app keeps writing.
    expect((await failure(d.client.sync())).code).toBe('rebuild_required');
    d.db.run("UPDATE users SET email = 'later@x' WHERE id = ?", [id]);
    // rebuild() resumes the same rebuild (floor past the committed bundle, its keys rebased),
    // rather than refusing the committed outbox and the dirty row for good.
    expect(await d.client.rebuild()).toMatchObject({ outcome: 'applied_snapshot' });
    expect(syncState(d.db)).toMatchObject({ outbox: 0, dirty: 1, nextSourceBundleId: 2 });
    expect(d.client.sourceInfo().rebuildRequired).toBe(false);
    expect(await d.client.sync()).toMatchObject({ pushOutcome: 'committed' });
    expect(sqliteRows(d.db, 'SELECT name, email FROM users WHERE id = ?', [id])).toEqual([
      { name: 'Second', email: 'later@x' },
    ]);
    expect(syncState(d.db)).toMatchObject({ dirty: 0, outbox: 0, nextSourceBundleId: 3 });
    await sameAsServer(d, ['users']);
  });

  it('background sync resumes by itself a history_pruned rebuild that stop() cut short', async () => {
    const user = userId('prunebg');
    const faults = new FaultyFetch();
    const d = await device(user, {
      fetch: faults.fetch,
      conflictResolver: serverWins,
      background: { watch: 'off', pollIntervalMs: 50, minBackoffMs: 10 },
    });
    const id = await commitThenPrune(d, faults, user);
    const stopped: { promise?: Promise<void> } = {};
    // The background push meets history_pruned and starts the rebuild; stop() lands during it.
    faults.fail({
      match: (c) => routeOf(c) === 'snapshot-create',
      when: 'pass',
      run: () => {
        stopped.promise = d.client.stop();
      },
    });
    d.client.start();
    await waitFor(() => stopped.promise !== undefined, { what: 'the stop() during the snapshot download' });
    await stopped.promise;
    expect(syncState(d.db).outboxState).toBe('committed_remote');
    expect(d.client.sourceInfo().rebuildRequired).toBe(true);
    d.db.run("UPDATE users SET email = 'later@x' WHERE id = ?", [id]);
    d.client.start();
    await waitFor(
      () => {
        const state = syncState(d.db);
        return !d.client.sourceInfo().rebuildRequired && state.dirty + state.outbox === 0;
      },
      { what: 'background sync to finish the rebuild and push' },
    );
    await d.client.stop();
    expect(sqliteRows(d.db, 'SELECT name, email FROM users WHERE id = ?', [id])).toEqual([
      { name: 'Second', email: 'later@x' },
    ]);
    expect(syncState(d.db)).toMatchObject({ nextSourceBundleId: 3 });
    await sameAsServer(d, ['users']);
  });
});
