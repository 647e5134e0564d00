import { type JsonObject } from '@oversync/protocol';

import { type FakeOversyncServer } from '../testing/fake-oversync-server.js';
import { newDevice, newServer, rows, scalar } from '../testing/test-device.js';
import { clientWins, serverWins, type ConflictResolver } from './conflict.types.js';

const lastChunkRows = (server: FakeOversyncServer) =>
  (server.requests.filter((r) => r.path.endsWith('/chunks')).at(-1)!.body as { rows: JsonObject[] }).rows;

/** u1 synced at v1, then deleted on the server (v2) while the device edits it. */
async function editedAgainstTombstone(resolver: ConflictResolver) {
  const server = newServer();
  const device = await newDevice(server, { conflictResolver: resolver });
  await device.client.attach('user-1');
  device.db.run("INSERT INTO users VALUES ('u1', 'Base', 'b')");
  await device.client.pushPending();
  server.serverWrite('user-1', [{ table: 'users', key: 'u1', payload: null }]);
  device.db.run("UPDATE users SET name = 'Local' WHERE id = 'u1'");
  return { server, ...device };
}

describe('push conflicts against tombstones and foreign keys', () => {
  it('keep_local of an UPDATE against a tombstone re-creates the row on top of the tombstone', async () => {
    const { db, client, server } = await editedAgainstTombstone(clientWins);
    expect(await client.pushPending()).toEqual({ outcome: 'committed' });
    expect(lastChunkRows(server)).toEqual([
      expect.objectContaining({
        op: 'INSERT',
        base_row_version: 2,
        payload: { id: 'u1', name: 'Local', email: 'b' },
      }),
    ]);
    expect(server.scope('user-1').rows.get('users\u0000u1')).toMatchObject({ rowVersion: 3 });
    expect(rows(db, 'SELECT name FROM users')).toEqual([{ name: 'Local' }]);
    expect(rows(db, 'SELECT row_version, deleted FROM _sync_row_state')).toEqual([
      { row_version: 3, deleted: 0 },
    ]);
    expect(scalar(db, 'SELECT COUNT(*) FROM _sync_dirty_rows')).toBe(0);
    await client.close();
  });

  it('keep_merged of an UPDATE against a tombstone re-creates the row with the merged values', async () => {
    const { db, client, server } = await editedAgainstTombstone((c) => ({
      action: 'keep_merged',
      row: { ...c.localRow, email: 'merged' },
    }));
    expect(await client.pushPending()).toEqual({ outcome: 'committed' });
    expect(lastChunkRows(server)).toEqual([
      expect.objectContaining({
        op: 'INSERT',
        base_row_version: 2,
        payload: { id: 'u1', name: 'Local', email: 'merged' },
      }),
    ]);
    expect(rows(db, 'SELECT name, email FROM users')).toEqual([{ name: 'Local', email: 'merged' }]);
    expect(rows(db, 'SELECT row_version, deleted FROM _sync_row_state')).toEqual([
      { row_version: 3, deleted: 0 },
    ]);
    expect(scalar(db, 'SELECT COUNT(*) FROM _sync_dirty_rows')).toBe(0);
    await client.close();
  });

  it('keep_merged of an UPDATE against a row the server never had is still refused', async () => {
    const server = newServer();
    const { db, client } = await newDevice(server, {
      conflictResolver: (c) => ({ action: 'keep_merged', row: c.localRow ?? {} }),
    });
    await client.attach('user-1');
    db.run("INSERT INTO users VALUES ('u1', 'Base', 'b')");
    await client.pushPending();
    // The server forgets the row entirely (no tombstone), as after a scope reset by hand.
    server.scope('user-1').rows.delete('users\u0000u1');
    db.run("UPDATE users SET name = 'Local' WHERE id = 'u1'");
    await expect(client.pushPending()).rejects.toMatchObject({ code: 'invalid_conflict_resolution' });
    expect(rows(db, 'SELECT op, base_row_version FROM _sync_dirty_rows')).toEqual([
      { op: 'UPDATE', base_row_version: 1 },
    ]);
    await client.close();
  });

  it('accept_server of a row whose parent is not pulled yet drops the intent and lets the pull bring both', async () => {
    const server = newServer();
    const { db, client } = await newDevice(server, { conflictResolver: serverWins });
    await client.attach('user-1');
    db.run("INSERT INTO users VALUES ('u1', 'A', 'a'); INSERT INTO posts VALUES ('p1', 'u1', 'T', 1)");
    await client.pushPending();
    server.serverWrite('user-1', [
      { table: 'users', key: 'u2', payload: { id: 'u2', name: 'B', email: 'b' } },
      { table: 'posts', key: 'p1', payload: { id: 'p1', author_id: 'u2', title: 'T', score: 1 } },
    ]);
    db.run("UPDATE posts SET title = 'Local' WHERE id = 'p1'");
    expect(await client.pushPending()).toEqual({ outcome: 'no_change' });
    // Nothing written (u2 is unknown here), no intent left, the row version untouched.
    expect(rows(db, 'SELECT author_id, title FROM posts')).toEqual([{ author_id: 'u1', title: 'Local' }]);
    expect(rows(db, "SELECT row_version FROM _sync_row_state WHERE key_text = 'p1'")).toEqual([
      { row_version: 1 },
    ]);
    expect(scalar(db, 'SELECT COUNT(*) FROM _sync_dirty_rows')).toBe(0);
    expect(await client.pullToStable()).toEqual({ outcome: 'applied_incremental' });
    expect(rows(db, 'SELECT author_id, title FROM posts')).toEqual([{ author_id: 'u2', title: 'T' }]);
    await client.close();
  });

  it('accept_server of a parent tombstone turns the intent of a child its cascade removed into a delete', async () => {
    const { db, client, server } = await editedAgainstTombstone(serverWins);
    db.run("INSERT INTO posts VALUES ('p1', 'u1', 'Child', 1)");
    // The parent's conflict deletes u1 locally; ON DELETE CASCADE takes p1, which never reached
    // the server: its INSERT becomes a delete of a never-synced key and drops out.
    expect(await client.pushPending()).toEqual({ outcome: 'no_change' });
    expect(rows(db, 'SELECT id FROM posts')).toEqual([]);
    expect(scalar(db, 'SELECT COUNT(*) FROM _sync_dirty_rows')).toBe(0);
    expect(scalar(db, 'SELECT COUNT(*) FROM _sync_outbox_rows')).toBe(0);
    expect(server.scope('user-1').bundles).toHaveLength(2);
    await client.close();
  });
});

describe('values JSON cannot carry', () => {
  it('a REAL ±Infinity fails the freeze with invalid_row naming the row; nothing is sent', async () => {
    const server = newServer();
    const { db, client } = await newDevice(server);
    await client.attach('user-1');
    db.run("INSERT INTO users VALUES ('u1', 'A', 'a'); INSERT INTO posts VALUES ('p1', 'u1', 'T', -1e999)");
    const pushes = () => server.requests.filter((r) => r.path === '/sync/push-sessions').length;
    await expect(client.pushPending()).rejects.toMatchObject({
      code: 'invalid_row',
      details: { table: 'posts', key: { id: 'p1' }, column: 'score' },
    });
    expect(pushes()).toBe(0);
    expect(scalar(db, 'SELECT COUNT(*) FROM _sync_dirty_rows')).toBe(2);
    expect(scalar(db, 'SELECT COUNT(*) FROM _sync_outbox_rows')).toBe(0);
    db.run("UPDATE posts SET score = NULL WHERE id = 'p1'");
    expect(await client.pushPending()).toEqual({ outcome: 'committed' });
    expect(pushes()).toBe(1);
    await client.close();
  });
});
