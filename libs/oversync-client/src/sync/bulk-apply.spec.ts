import { SqlJsAdapter } from '../db/sql-js.adapter.js';
import { loadTableSpecs } from '../schema/table-spec.js';
import { loadSqlJs, newDevice, newServer, rows, scalar } from '../testing/test-device.js';
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
      rows(device.db, 'SELECT key_json, row_version, deleted FROM _sync_row_state ORDER BY key_json'),
    ).toEqual([
      { key_json: '{"id":"p1"}', row_version: 2, deleted: 0 },
      { key_json: '{"id":"u1"}', row_version: 2, deleted: 1 },
      { key_json: '{"id":"u2"}', row_version: 1, deleted: 0 },
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
