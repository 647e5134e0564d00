import { type JsonObject } from '@oversync/protocol';
import { type Database } from 'sql.js';

import { SqlJsAdapter } from '../db/sql-js.adapter.js';
import { isOversyncClientError } from '../errors/oversync-client.error.js';
import { loadTableSpecs } from '../schema/table-spec.js';
import { loadSqlJs, newDevice, newServer, rows, scalar } from '../testing/test-device.js';
import { SUSPEND_TRIGGERS_AT } from './bulk-writer.js';
import { IntentStore } from './intent.store.js';
import { localPayloadToWire, wirePayloadToSql } from './row-codec.js';

const user = (id: string, name: string) => ({
  table: 'users',
  key: id,
  payload: { id, name, email: `${id}@x` },
});
const post = (id: string, author: string) => ({
  table: 'posts',
  key: id,
  payload: { id, author_id: author, title: `T ${id}`, score: 1.5 },
});
const manyUsers = (count: number) =>
  Array.from({ length: count }, (_, i) => user(`u${String(i).padStart(4, '0')}`, `N${i}`));
const triggers = (db: Database) =>
  rows(db, "SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'trigger' ORDER BY name");

describe('bulk apply of pulls and snapshots', () => {
  it('applies runs in bundle order, so a cascade never removes a row written after it', async () => {
    const server = newServer();
    server.serverWrite('user-1', [user('u1', 'A'), user('u2', 'B'), post('p1', 'u1')]);
    const device = await newDevice(server);
    await device.client.attach('user-1');
    // The delete of u1 cascades to p1 locally; p1 is re-parented later in the same bundle.
    server.serverWrite('user-1', [{ table: 'users', key: 'u1', payload: null }, post('p1', 'u2')]);
    expect(await device.client.pullToStable()).toEqual({ outcome: 'applied_incremental' });
    expect(rows(device.db, 'SELECT id, author_id FROM posts')).toEqual([{ id: 'p1', author_id: 'u2' }]);
    expect(rows(device.db, 'SELECT id FROM users')).toEqual([{ id: 'u2' }]);
    expect(
      rows(device.db, 'SELECT key_text, row_version, deleted FROM _sync_row_state ORDER BY key_text'),
    ).toEqual([
      { key_text: 'p1', row_version: 2, deleted: 0 },
      { key_text: 'u1', row_version: 2, deleted: 1 },
      { key_text: 'u2', row_version: 1, deleted: 0 },
    ]);
    await device.client.close();
  });

  it('writes more rows than one multi-row statement holds, in pulls and snapshots', async () => {
    const server = newServer();
    const device = await newDevice(server);
    await device.client.attach('user-1');
    const many = Array.from({ length: 1234 }, (_, i) => user(`u${String(i).padStart(4, '0')}`, `N${i}`));
    server.serverWrite('user-1', many);
    await device.client.pullToStable();
    expect(scalar(device.db, 'SELECT COUNT(*) FROM users')).toBe(1234);
    expect(scalar(device.db, 'SELECT COUNT(*) FROM _sync_row_state')).toBe(1234);
    expect(scalar(device.db, 'SELECT COUNT(*) FROM _sync_dirty_rows')).toBe(0);
    const peer = await newDevice(server, { snapshotChunkRows: 500 });
    await peer.client.attach('user-1');
    expect(rows(peer.db, 'SELECT * FROM users ORDER BY id')).toEqual(
      rows(device.db, 'SELECT * FROM users ORDER BY id'),
    );
    expect(scalar(peer.db, 'SELECT COUNT(*) FROM _sync_row_state WHERE row_version = 1')).toBe(1234);
    await device.client.close();
    await peer.client.close();
  });

  it('applies pulls and snapshots identically with and without the sql.js module (fast binder)', async () => {
    const server = newServer();
    // Deletes, re-inserts, unicode, NULLs and REAL values in one large bundle, then a snapshot.
    server.serverWrite('user-1', [...manyUsers(700), post('p1', 'u0001')]);
    server.serverWrite('user-1', [
      { table: 'users', key: 'u0002', payload: null },
      user('u0003', 'Zoë 😀'),
      { table: 'posts', key: 'p2', payload: { id: 'p2', author_id: 'u0004', title: null, score: -0.25 } },
    ]);
    const fast = await newDevice(server);
    const slow = await newDevice(server, { sqlJs: undefined });
    for (const device of [fast, slow]) {
      await device.client.attach('user-1');
      await device.client.pullToStable();
    }
    const snapshot = await newDevice(server, { snapshotChunkRows: 300 });
    await snapshot.client.attach('user-1');
    const state = (db: Database) => ({
      users: rows(db, 'SELECT * FROM users ORDER BY id'),
      posts: rows(db, 'SELECT *, typeof(score) AS t FROM posts ORDER BY id'),
      rowState: rows(db, 'SELECT * FROM _sync_row_state WHERE deleted = 0 ORDER BY table_name, key_text'),
    });
    expect(state(fast.db)).toEqual(state(slow.db));
    expect(state(snapshot.db)).toEqual(state(slow.db));
    expect(state(slow.db).users).toHaveLength(699);
    expect(rows(slow.db, "SELECT name FROM users WHERE id = 'u0003'")).toEqual([{ name: 'Zoë 😀' }]);
    for (const device of [fast, slow, snapshot]) await device.client.close();
  });

  it('inserts a large run into an empty table and upserts one into a table that has rows', async () => {
    const server = newServer();
    const device = await newDevice(server);
    await device.client.attach('user-1');
    // Empty users table: plain INSERTs; then the same keys again: the conflict clause is needed.
    server.serverWrite('user-1', manyUsers(600));
    await device.client.pullToStable();
    server.serverWrite(
      'user-1',
      manyUsers(600).map((u) => user(u.key, `${u.payload.name} v2`)),
    );
    await device.client.pullToStable();
    expect(scalar(device.db, "SELECT COUNT(*) FROM users WHERE name LIKE '% v2'")).toBe(600);
    expect(scalar(device.db, 'SELECT COUNT(*) FROM _sync_row_state WHERE row_version = 2')).toBe(600);
    await device.client.close();
  });

  it('suspends capture triggers during a large apply and reinstalls them byte for byte', async () => {
    const server = newServer();
    const device = await newDevice(server);
    await device.client.attach('user-1');
    const installed = triggers(device.db);
    expect(installed.filter((t) => t['tbl_name'] === 'users')).toHaveLength(6);
    server.serverWrite('user-1', manyUsers(SUSPEND_TRIGGERS_AT + 44));
    await device.client.pullToStable();
    expect(triggers(device.db)).toEqual(installed);
    // Capture works again on the applied rows, based on the versions the bulk path wrote.
    device.db.run("UPDATE users SET name = 'Local' WHERE id = 'u0007'");
    device.db.run("DELETE FROM users WHERE id = 'u0008'");
    expect(
      rows(device.db, 'SELECT key_json, op, base_row_version FROM _sync_dirty_rows ORDER BY key_json'),
    ).toEqual([
      { key_json: '{"id":"u0007"}', op: 'UPDATE', base_row_version: 1 },
      { key_json: '{"id":"u0008"}', op: 'DELETE', base_row_version: 1 },
    ]);
    // A snapshot (one large batch per table) does the same.
    const peer = await newDevice(server, { snapshotChunkRows: 100 });
    await peer.client.attach('user-1');
    expect(scalar(peer.db, 'SELECT COUNT(*) FROM users')).toBe(SUSPEND_TRIGGERS_AT + 44);
    expect(triggers(peer.db)).toEqual(installed);
    peer.db.run("INSERT INTO users VALUES ('fresh', 'F', 'f@x')");
    expect(rows(peer.db, 'SELECT key_json, op FROM _sync_dirty_rows')).toEqual([
      { key_json: '{"id":"fresh"}', op: 'INSERT' },
    ]);
    await device.client.close();
    await peer.client.close();
  });

  it('rolls back the trigger suspension with the rest of a failed large apply', async () => {
    const server = newServer();
    const device = await newDevice(server);
    await device.client.attach('user-1');
    const installed = triggers(device.db);
    // The users run is written (triggers dropped) before the broken posts row fails to decode.
    server.serverWrite('user-1', [...manyUsers(SUSPEND_TRIGGERS_AT + 10), post('p1', 'u0001')]);
    server.rewrite('GET /sync/pull', (body) => {
      const bundles = body['bundles'] as { rows: { table: string; payload: Record<string, unknown> }[] }[];
      delete bundles[0].rows.find((r) => r.table === 'posts')!.payload['title'];
    });
    const error = await device.client.pullToStable().catch((e: unknown) => e);
    expect(isOversyncClientError(error, 'invalid_row')).toBe(true);
    expect(scalar(device.db, 'SELECT COUNT(*) FROM users')).toBe(0);
    expect(scalar(device.db, 'SELECT COUNT(*) FROM _sync_row_state')).toBe(0);
    expect(device.client.lastBundleSeqSeen()).toBe(0);
    expect(triggers(device.db)).toEqual(installed);
    device.db.run("INSERT INTO users VALUES ('local', 'L', 'l@x')");
    expect(scalar(device.db, 'SELECT COUNT(*) FROM _sync_dirty_rows')).toBe(1);
    await device.client.close();
  });

  it('fails a snapshot whose rows do not decode before touching local data, and ends the session', async () => {
    const server = newServer();
    server.serverWrite('user-1', manyUsers(12));
    server.rewrite('GET /sync/snapshot-sessions/', (body) => {
      const page = body['rows'] as { payload: Record<string, unknown> }[];
      if (page.length > 0) page[page.length - 1].payload['extra'] = 1;
    });
    const device = await newDevice(server, { snapshotChunkRows: 5 });
    device.db.run("INSERT INTO users VALUES ('anon', 'A', 'a@x')");
    const error = await device.client.attach('user-1').catch((e: unknown) => e);
    expect(isOversyncClientError(error, 'invalid_row')).toBe(true);
    expect(rows(device.db, 'SELECT id FROM users')).toEqual([{ id: 'anon' }]);
    expect(server.requests.filter((r) => r.method === 'DELETE')).toHaveLength(1);
    await device.client.close();
  });

  it('falls back to a snapshot when a pull from checkpoint 0 starts above the retention floor', async () => {
    const server = newServer();
    const device = await newDevice(server);
    await device.client.attach('user-1');
    for (let i = 1; i <= 6; i++) server.serverWrite('user-1', [user(`u${i}`, `N${i}`)]);
    server.scope('user-1').floor = 3;
    expect(await device.client.pullToStable()).toEqual({
      outcome: 'applied_snapshot',
      restore: { bundleSeq: 6, rowCount: 6 },
    });
    expect(scalar(device.db, 'SELECT COUNT(*) FROM users')).toBe(6);
    await device.client.close();
  });

  it('prefetches snapshot chunks and still follows a server that caps them lower', async () => {
    const server = newServer();
    server.serverWrite(
      'user-1',
      Array.from({ length: 10 }, (_, i) => user(`u${i}`, `N${i}`)),
    );
    const remove = server.intercept((req) => {
      if (req.method !== 'GET' || !req.path.startsWith('/sync/snapshot-sessions/')) return undefined;
      const query = new URLSearchParams(req.query);
      query.set('max_rows', '2');
      return server.handle({ ...req, query });
    });
    const device = await newDevice(server, { snapshotChunkRows: 3 });
    await device.client.attach('user-1');
    remove();
    expect(scalar(device.db, 'SELECT COUNT(*) FROM users')).toBe(10);
    const offsets = server.requests
      .filter((r) => r.method === 'GET' && r.path.startsWith('/sync/snapshot-sessions/'))
      .map((r) => Number(r.query.get('after_row_ordinal')));
    expect(offsets).toEqual(expect.arrayContaining([0, 2, 4, 6, 8]));
    await device.client.close();
  });
});

describe('encoding helpers used by the bulk path', () => {
  it('renders key_json byte-identical to SQLite json_object, fast path or not', async () => {
    const SQL = await loadSqlJs();
    const adapter = new SqlJsAdapter(new SQL.Database());
    const store = new IntentStore(adapter, 'business');
    const samples = ['u1', 'naïve 日本', 'a"b', 'back\\slash', 'tab\there', 'nl\n', '\u007f', '<&>', ''];
    for (const text of samples) {
      expect(store.localKeyJson('id', text)).toBe(adapter.scalar('SELECT json_object(?, ?)', ['id', text]));
    }
    adapter.db.close();
  });

  it('keeps JSON-declared columns as JSON text locally and embedded JSON on the wire', async () => {
    const SQL = await loadSqlJs();
    const adapter = new SqlJsAdapter(new SQL.Database());
    adapter.exec('CREATE TABLE docs (id TEXT PRIMARY KEY, meta JSON, note TEXT)');
    const [table] = loadTableSpecs(adapter, [{ table: 'docs', syncKeyColumn: 'id' }]);
    expect(wirePayloadToSql(table, { id: 'd1', meta: { tags: ['a'] }, note: '{"x":1}' })).toEqual([
      'd1',
      '{"tags":["a"]}',
      '{"x":1}',
    ]);
    expect(wirePayloadToSql(table, { id: 'd2', meta: 'plain', note: null })).toEqual(['d2', '"plain"', null]);
    expect(localPayloadToWire(table, { id: 'd1', meta: '{"tags":["a"]}', note: '{"x":1}' })).toEqual({
      id: 'd1',
      meta: { tags: ['a'] },
      note: '{"x":1}',
    });
    expect(localPayloadToWire(table, { id: 'd3', meta: 'not json', note: null })).toMatchObject({
      meta: 'not json',
    });
    adapter.db.close();
  });

  it('never takes an inherited property for a column value (a column named "constructor")', async () => {
    const SQL = await loadSqlJs();
    const adapter = new SqlJsAdapter(new SQL.Database());
    adapter.exec('CREATE TABLE odd (id TEXT PRIMARY KEY, "constructor" TEXT)');
    const [table] = loadTableSpecs(adapter, [{ table: 'odd', syncKeyColumn: 'id' }]);
    expect(wirePayloadToSql(table, { id: 'o1', constructor: 'c' })).toEqual(['o1', 'c']);
    // A payload without the column (and with one unknown key instead) is refused, not filled with
    // Object.prototype.constructor.
    let error: unknown;
    try {
      wirePayloadToSql(table, JSON.parse('{"id":"o2","other":1}') as JsonObject);
    } catch (e) {
      error = e;
    }
    expect(isOversyncClientError(error) && error.code).toBe('invalid_row');
    adapter.db.close();
  });

  it('keeps cached statements usable across exports', async () => {
    const SQL = await loadSqlJs();
    const adapter = new SqlJsAdapter(new SQL.Database());
    adapter.exec('CREATE TABLE t (v INTEGER)');
    adapter.run('INSERT INTO t VALUES (?)', [1]);
    adapter.export();
    adapter.run('INSERT INTO t VALUES (?)', [2]);
    expect(adapter.all('SELECT v FROM t ORDER BY v')).toEqual([{ v: 1 }, { v: 2 }]);
    // A cached read leaves no open cursor behind: a transaction can still commit.
    expect(adapter.get('SELECT v FROM t ORDER BY v')).toEqual({ v: 1 });
    adapter.transaction(() => adapter.run('DELETE FROM t'));
    expect(adapter.count('SELECT COUNT(*) FROM t')).toBe(0);
    adapter.db.close();
  });
});
