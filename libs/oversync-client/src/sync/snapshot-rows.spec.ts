import { type JsonObject } from '@oversync/protocol';

import { SqlJsAdapter } from '../db/sql-js.adapter.js';
import { type FakeOversyncServer } from '../testing/fake-oversync-server.js';
import { newDevice, newServer, rows, scalar, type Device } from '../testing/test-device.js';

const user = (id: string, name: string) => ({
  table: 'users',
  key: id,
  payload: { id, name, email: `${id}@x` },
});
const post = (id: string, author: string, title = `T ${id}`) => ({
  table: 'posts',
  key: id,
  payload: { id, author_id: author, title, score: 1.5 },
});
const file = (id: string, size: number) => ({
  table: 'files',
  key: id,
  payload: { id, owner: null, data: null, size } as JsonObject,
});
const gone = (table: string, key: string) => ({ table, key, payload: null });

const F1 = '00000000-0000-4000-8000-000000000001';
const F2 = '00000000-0000-4000-8000-000000000002';

/** App-local tables (never synced) that reference managed rows, and a log of managed deletes. */
const LOCAL_SQL = `
CREATE TABLE local_notes (id INTEGER PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE, body TEXT);
CREATE TABLE local_post_notes (id INTEGER PRIMARY KEY, post_id TEXT NOT NULL REFERENCES posts(id) ON DELETE CASCADE);
CREATE TABLE local_file_tags (id INTEGER PRIMARY KEY, file_id BLOB NOT NULL REFERENCES files(id) ON DELETE CASCADE);
CREATE TABLE deleted_log (tbl TEXT, id TEXT);
CREATE TRIGGER log_users AFTER DELETE ON users BEGIN INSERT INTO deleted_log VALUES ('users', old.id); END;
CREATE TRIGGER log_posts AFTER DELETE ON posts BEGIN INSERT INTO deleted_log VALUES ('posts', old.id); END;
CREATE TRIGGER log_files AFTER DELETE ON files BEGIN INSERT INTO deleted_log VALUES ('files', lower(hex(old.id))); END;
`;

const hexId = (uuid: string) => uuid.replaceAll('-', '');
const idBytes = (uuid: string) => Uint8Array.from(Buffer.from(hexId(uuid), 'hex'));

/**
 * Records, until `stop()`, what the client prepares and executes: each statement's first words and
 * whether it has a conflict clause. Patches the client's adapter class rather than the app's
 * sql.js `Database`, which stays untouched.
 */
function recordSql(): { seen: string[]; stop: () => void } {
  const seen: string[] = [];
  const summary = (sql: string) =>
    `${/^\S+ \S+ \S+/.exec(sql)?.[0] ?? sql}${sql.includes('ON CONFLICT') ? ' ON CONFLICT' : ''}`;
  const { prepare, exec } = SqlJsAdapter.prototype;
  SqlJsAdapter.prototype.prepare = function (sql) {
    seen.push(summary(sql));
    return prepare.call(this, sql);
  };
  SqlJsAdapter.prototype.exec = function (sql) {
    seen.push(summary(sql));
    exec.call(this, sql);
  };
  const stop = () => {
    SqlJsAdapter.prototype.prepare = prepare;
    SqlJsAdapter.prototype.exec = exec;
  };
  return { seen, stop };
}

/** Runs `write` on the device while the next snapshot is being downloaded (before the apply). */
function whileDownloading(server: FakeOversyncServer, write: () => void): void {
  let done = false;
  server.intercept((req) => {
    if (!done && req.method === 'GET' && req.path.startsWith('/sync/snapshot-sessions/')) {
      done = true;
      write();
    }
    return undefined;
  });
}

async function attachedDevice(server: FakeOversyncServer): Promise<Device> {
  const device = await newDevice(server);
  await device.client.attach('user-1');
  device.db.exec(LOCAL_SQL);
  return device;
}

describe('snapshot apply in place', () => {
  it('deletes only vanished keys (with their cascades), updates changed rows in place and keeps dirty rows', async () => {
    const server = newServer();
    server.serverWrite('user-1', [
      ...['u1', 'u2', 'u3', 'u4'].map((id) => user(id, `old ${id}`)),
      post('p1', 'u1'),
      post('p2', 'u2'),
      post('p4', 'u4'),
      file(F1, 1),
      file(F2, 2),
    ]);
    const device = await attachedDevice(server);
    for (const id of ['u1', 'u2', 'u3', 'u4']) {
      device.db.run('INSERT INTO local_notes (user_id, body) VALUES (?, ?)', [id, `note ${id}`]);
    }
    for (const id of ['p1', 'p2', 'p4'])
      device.db.run('INSERT INTO local_post_notes (post_id) VALUES (?)', [id]);
    for (const id of [F1, F2])
      device.db.run('INSERT INTO local_file_tags (file_id) VALUES (?)', [idBytes(id)]);
    // Server: u1 and p1 change, u2 and p2 stay, u4 (with p4) and F2 vanish, u5 is new; u3 vanishes
    // too, but this device edits it before the snapshot is applied.
    server.serverWrite('user-1', [
      user('u1', 'new u1'),
      post('p1', 'u1', 'new title'),
      gone('posts', 'p4'),
      gone('users', 'u4'),
      gone('users', 'u3'),
      gone('files', F2),
      user('u5', 'new u5'),
    ]);
    whileDownloading(server, () => {
      device.db.run("UPDATE users SET name = 'local u3' WHERE id = 'u3'");
      device.db.run("UPDATE posts SET title = 'local p2' WHERE id = 'p2'");
      device.db.run("INSERT INTO users VALUES ('u6', 'local u6', 'u6@x')");
      device.db.run("INSERT INTO local_notes (user_id, body) VALUES ('u6', 'note u6')");
    });
    expect(await device.client.rebuild()).toMatchObject({ outcome: 'applied_snapshot' });

    expect(rows(device.db, 'SELECT id, name FROM users ORDER BY id')).toEqual([
      { id: 'u1', name: 'new u1' },
      { id: 'u2', name: 'old u2' },
      { id: 'u3', name: 'local u3' },
      { id: 'u5', name: 'new u5' },
      { id: 'u6', name: 'local u6' },
    ]);
    expect(rows(device.db, 'SELECT id, title FROM posts ORDER BY id')).toEqual([
      { id: 'p1', title: 'new title' },
      { id: 'p2', title: 'local p2' },
    ]);
    expect(rows(device.db, 'SELECT lower(hex(id)) AS id, size FROM files')).toEqual([
      { id: hexId(F1), size: 1 },
    ]);
    // The app's rows survive wherever their managed row does, and cascade away with vanished ones.
    expect(
      rows(device.db, 'SELECT user_id FROM local_notes ORDER BY user_id').map((r) => r['user_id']),
    ).toEqual(['u1', 'u2', 'u3', 'u6']);
    expect(rows(device.db, 'SELECT post_id FROM local_post_notes ORDER BY post_id')).toEqual([
      { post_id: 'p1' },
      { post_id: 'p2' },
    ]);
    expect(rows(device.db, 'SELECT lower(hex(file_id)) AS f FROM local_file_tags')).toEqual([
      { f: hexId(F1) },
    ]);
    // Nothing but the vanished keys was ever deleted.
    expect(rows(device.db, 'SELECT tbl, id FROM deleted_log ORDER BY tbl, id')).toEqual([
      { tbl: 'files', id: hexId(F2) },
      { tbl: 'posts', id: 'p4' },
      { tbl: 'users', id: 'u4' },
    ]);
    // Row state is the snapshot's (no entries for vanished keys); dirty intents are rebuilt as before.
    expect(
      rows(
        device.db,
        "SELECT key_text, row_version FROM _sync_row_state WHERE table_name = 'users' ORDER BY key_text",
      ),
    ).toEqual([
      { key_text: 'u1', row_version: 2 },
      { key_text: 'u2', row_version: 1 },
      { key_text: 'u5', row_version: 2 },
    ]);
    expect(scalar(device.db, 'SELECT COUNT(*) FROM _sync_row_state')).toBe(6);
    expect(
      rows(
        device.db,
        'SELECT table_name, key_json, op, base_row_version FROM _sync_dirty_rows ORDER BY key_json',
      ),
    ).toEqual([
      { table_name: 'posts', key_json: '{"id":"p2"}', op: 'UPDATE', base_row_version: 1 },
      { table_name: 'users', key_json: '{"id":"u3"}', op: 'INSERT', base_row_version: 1 },
      { table_name: 'users', key_json: '{"id":"u6"}', op: 'INSERT', base_row_version: 0 },
    ]);
    expect(scalar(device.db, "SELECT COUNT(*) FROM sqlite_temp_master WHERE name LIKE '_sync_%'")).toBe(0);
    await device.client.close();
  });

  it('keeps app rows through the automatic rebuild after history_pruned', async () => {
    const server = newServer();
    server.serverWrite('user-1', [user('u1', 'A'), user('u2', 'B')]);
    const device = await attachedDevice(server);
    device.db.run("INSERT INTO local_notes (user_id, body) VALUES ('u1', 'n1'), ('u2', 'n2')");
    server.serverWrite('user-1', [user('u1', 'A2')]);
    server.serverWrite('user-1', [gone('users', 'u2')]);
    server.scope('user-1').floor = 2;
    expect(await device.client.pullToStable()).toMatchObject({ outcome: 'applied_snapshot' });
    expect(rows(device.db, 'SELECT id, name FROM users')).toEqual([{ id: 'u1', name: 'A2' }]);
    expect(rows(device.db, 'SELECT user_id, body FROM local_notes')).toEqual([{ user_id: 'u1', body: 'n1' }]);
    await device.client.close();
  });

  it('falls back to emptying the tables when a snapshot moves UNIQUE values between keys', async () => {
    const server = newServer();
    server.serverWrite('user-1', [user('u1', 'A'), user('u2', 'B'), user('u3', 'C')]);
    const device = await attachedDevice(server);
    device.db.exec('CREATE UNIQUE INDEX users_email ON users(email)');
    // A swap: no order of in-place upserts can write it, and u3's address moves to a new key.
    server.serverWrite('user-1', [
      { table: 'users', key: 'u1', payload: { id: 'u1', name: 'A', email: 'u2@x' } },
      { table: 'users', key: 'u2', payload: { id: 'u2', name: 'B', email: 'u1@x' } },
      gone('users', 'u3'),
      { table: 'users', key: 'u4', payload: { id: 'u4', name: 'D', email: 'u3@x' } },
    ]);
    expect(await device.client.rebuild()).toMatchObject({ outcome: 'applied_snapshot' });
    expect(rows(device.db, 'SELECT id, email FROM users ORDER BY id')).toEqual([
      { id: 'u1', email: 'u2@x' },
      { id: 'u2', email: 'u1@x' },
      { id: 'u4', email: 'u3@x' },
    ]);
    expect(scalar(device.db, 'SELECT COUNT(*) FROM _sync_row_state')).toBe(3);
    expect(scalar(device.db, "SELECT COUNT(*) FROM sqlite_temp_master WHERE name LIKE '_sync_%'")).toBe(0);
    await device.client.close();
  });
  it('writes into tables empty before the snapshot with plain INSERTs and collects no keys', async () => {
    const server = newServer();
    const many = Array.from({ length: 300 }, (_, i) => user(`u${String(i).padStart(3, '0')}`, `N${i}`));
    server.serverWrite('user-1', many);
    const device = await newDevice(server);
    const inserts = (seen: string[], table: string) =>
      seen.filter((s) => s.startsWith(`INSERT INTO "${table}"`)).map((s) => s.endsWith('ON CONFLICT'));
    const initial = recordSql();
    try {
      await device.client.attach('user-1');
    } finally {
      initial.stop();
    }
    expect(inserts(initial.seen, 'users')).toEqual([false]);
    expect(initial.seen.some((s) => s.startsWith('CREATE TEMP TABLE'))).toBe(false);
    expect(scalar(device.db, 'SELECT COUNT(*) FROM users')).toBe(300);

    // posts is still empty when the rebuild starts: its rows take the fast path; users is not.
    server.serverWrite(
      'user-1',
      Array.from({ length: 300 }, (_, i) => post(`p${String(i).padStart(3, '0')}`, 'u000')),
    );
    const rebuild = recordSql();
    try {
      await device.client.rebuild();
    } finally {
      rebuild.stop();
    }
    expect(inserts(rebuild.seen, 'posts')).toEqual([false]);
    expect(inserts(rebuild.seen, 'users')).toEqual([true]);
    expect(rebuild.seen.filter((s) => s.startsWith('CREATE TEMP TABLE'))).toHaveLength(1);
    expect(scalar(device.db, 'SELECT COUNT(*) FROM posts')).toBe(300);
    expect(scalar(device.db, 'SELECT COUNT(*) FROM _sync_row_state')).toBe(600);
    await device.client.close();
  });
});
