/**
 * Foreign keys, ordering and value fidelity against the real server (scenarios N1, N2, N5, O2,
 * O4–O6, F8, F14, G10, G14): whole FK graphs travel in one bundle, deletes cascade on every
 * device, and typed values, BLOB UUID keys and text keys round-trip through push, pull and hydrate.
 */
import {
  closeDevice,
  failure,
  openDevice,
  sqliteCount,
  sqliteRows,
  type Device,
  type DeviceOptions,
} from '../support/client-devices.js';
import { FaultyFetch } from '../support/client-faults.js';
import { uuid, uuidBytes, userId } from '../support/client-schema.js';
import {
  deviceTable,
  lit,
  pgRows,
  rawSql,
  serverTable,
  startClientServer,
  type ClientServer,
} from '../support/client-server.js';

describe('client FK graphs and typed values (real server)', () => {
  let server: ClientServer;
  const open: Device[] = [];

  const device = async (user: string, options: Partial<DeviceOptions> = {}) => {
    const d = await openDevice({ baseUrl: server.baseUrl, userId: user, ...options });
    open.push(d);
    return d;
  };
  const sameAsServer = async (d: Device, tables: string[]) => {
    for (const table of tables)
      expect(deviceTable(d.db, table)).toEqual(await serverTable(server.pool, table, d.userId));
  };
  type ChunkBody = { rows: Array<{ table: string; op: string }> };
  const uploaded = (faults: FaultyFetch) =>
    faults.of('chunk').flatMap((c) => (c.body as ChunkBody).rows.map((r) => `${r.op} ${r.table}`));

  beforeAll(async () => {
    server = await startClientServer();
  });
  afterAll(async () => {
    for (const d of open) await closeDevice(d).catch(() => undefined);
    await server.close();
  });

  it('N1/N2/F8: an FK graph commits as one bundle, parents first, and is deleted children first', async () => {
    const user = userId('n1');
    const faults = new FaultyFetch();
    const d1 = await device(user, { fetch: faults.fetch });
    const [ada, post, root, child] = [uuid(), uuid(), uuid(), uuid()];
    // Children before parents inside one transaction: SQLite defers the FKs to COMMIT.
    d1.db.exec(`BEGIN;
      INSERT INTO posts (id, title, content, author_id) VALUES ('${post}', 'Hello', 'c', '${ada}');
      INSERT INTO categories (id, name, parent_id) VALUES ('${child}', 'child', '${root}');
      INSERT INTO users (id, name, email) VALUES ('${ada}', 'Ada', 'ada@x');
      INSERT INTO categories (id, name, parent_id) VALUES ('${root}', 'root', NULL);
      COMMIT;`);
    await d1.client.pushPending();
    expect(uploaded(faults)).toEqual([
      'INSERT users',
      'INSERT posts',
      'INSERT categories',
      'INSERT categories',
    ]);
    const d2 = await device(user);
    const d3 = await device(user);
    await sameAsServer(d3, ['users', 'posts', 'categories']);
    d2.db.run("UPDATE categories SET name = 'edited' WHERE id = ?", [child]);
    expect(await failure(d2.client.pullToStable())).toMatchObject({ code: 'dirty_state_rejected' });
    expect(d2.client.lastBundleSeqSeen()).toBe(1);
    d1.db.exec(
      `BEGIN; DELETE FROM categories WHERE id = '${root}'; DELETE FROM users WHERE id = '${ada}'; COMMIT;`,
    );
    await d1.client.pushPending();
    // Reverse apply order: categories (independent, listed last) go first, then posts before users.
    expect(uploaded(faults).slice(4)).toEqual([
      'DELETE categories',
      'DELETE categories',
      'DELETE posts',
      'DELETE users',
    ]);
    const before = d3.client.lastBundleSeqSeen();
    await d3.client.pullToStable();
    expect(d3.client.lastBundleSeqSeen()).toBe(before + 1);
    for (const table of ['users', 'posts', 'categories']) expect(sqliteCount(d3.db, table)).toBe(0);
    const live = await pgRows(
      server.pool,
      'SELECT COUNT(*)::int AS n FROM sync.row_state r JOIN sync.user_state u USING (user_pk) WHERE u.user_id = $1 AND NOT r.deleted',
      [user],
    );
    expect(live).toEqual([{ n: 0 }]);
  });

  it('G10/G14: a large FK-connected hydrate uses several chunks; children may precede parents', async () => {
    const user = userId('g10');
    const a = await device(user);
    // The child's key sorts before its parent's, so the snapshot serves it first.
    const parent = 'ffffffff-0000-4000-8000-000000000000';
    const childId = '00000000-0000-4000-8000-000000000000';
    a.db.exec(`BEGIN;
      INSERT INTO categories (id, name, parent_id) VALUES ('${childId}', 'child', '${parent}');
      INSERT INTO categories (id, name, parent_id) VALUES ('${parent}', 'parent', NULL);
      COMMIT;`);
    for (let u = 0; u < 3; u++) {
      const author = uuid();
      a.db.run('INSERT INTO users (id, name, email) VALUES (?, ?, ?)', [author, `U${u}`, 'u@x']);
      for (let p = 0; p < 10; p++)
        a.db.run('INSERT INTO posts (id, title, content, author_id) VALUES (?, ?, ?, ?)', [
          uuid(),
          `P${p}`,
          'c',
          author,
        ]);
    }
    await a.client.pushPending();
    const faults = new FaultyFetch();
    const b = await device(user, { fetch: faults.fetch, snapshotChunkRows: 10 });
    expect(faults.count('snapshot-create')).toBe(1);
    expect(faults.count('snapshot-chunk')).toBe(4);
    expect([sqliteCount(b.db, 'users'), sqliteCount(b.db, 'posts'), sqliteCount(b.db, 'categories')]).toEqual(
      [3, 30, 2],
    );
    await sameAsServer(b, ['users', 'posts', 'categories']);
  });

  it('N5/O4: files with BLOB UUID keys and binary data round-trip, and deletes reach PostgreSQL', async () => {
    const user = userId('n5');
    const faults = new FaultyFetch();
    const d = await device(user, { fetch: faults.fetch });
    const contents = [
      Buffer.from('This is the content of document 1'),
      Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46]),
      Buffer.from('{"kind":"json"}'),
      Buffer.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
    ];
    const ids = contents.map(() => uuid());
    contents.forEach((data, i) =>
      d.db.run('INSERT INTO files (id, name, data) VALUES (?, ?, ?)', [uuidBytes(ids[i]), `file ${i}`, data]),
    );
    await d.client.pushPending();
    const first = faults.of('chunk')[0]?.body as {
      rows: Array<{ key: unknown; payload: Record<string, unknown> }>;
    };
    expect(first.rows[1]).toMatchObject({
      key: { id: ids[1] },
      payload: { id: ids[1], data: '/9j/4AAQSkZJRg==' },
    });
    d.db.run('DELETE FROM files WHERE id = ?', [uuidBytes(ids[0])]);
    await d.client.pushPending();
    const stored = await pgRows<{ id: string; data: Buffer }>(
      server.pool,
      'SELECT id::text AS id, data FROM business.files WHERE _sync_scope_id = $1 ORDER BY name',
      [user],
    );
    expect(stored.map((r) => [r.id, Buffer.from(r.data).toString('hex')])).toEqual(
      [1, 2, 3].map((i) => [ids[i], contents[i].toString('hex')]),
    );
    const peer = await device(user);
    await sameAsServer(peer, ['files']);
    await sameAsServer(d, ['files']);
  });

  it('O2/O5: typed rows keep NULLs, integers, REALs, BLOBs, instants, numerics, JSON and booleans', async () => {
    const user = userId('o2');
    const seed = await device(user);
    const [nullId, richId, serverId] = [uuid(), uuid(), uuid()];
    seed.db.run(
      'INSERT INTO typed_rows (id, name, note, count_value, enabled_flag, rating, data, created_at, amount, tags, active) VALUES (?,?,?,?,?,?,?,?,?,?,?), (?,?,?,?,?,?,?,?,?,?,?)',
      [
        nullId,
        'Typed Null',
        null,
        null,
        0,
        null,
        null,
        null,
        null,
        null,
        null,
        richId,
        'Typed Rich',
        'second-device',
        42,
        1,
        6.57111473696007,
        Uint8Array.from([0xca, 0xfe, 0xba, 0xbe]),
        '2026-03-24T18:42:11Z',
        12.5,
        '{"tags":["a","b"],"n":1}',
        1,
      ],
    );
    await seed.client.pushPending();
    await server.write(
      user,
      rawSql(
        `INSERT INTO business.typed_rows (_sync_scope_id, id, name, note, count_value, enabled_flag, rating, data, created_at, amount, tags, active)
         VALUES (${lit(user)}, '${serverId}', 'Peer Typed Row', 'peer-from-server', NULL, 1, 2.5, NULL, '2026-03-24T10:42:11-08:00', 1.25, '["x", 2, null]', false)`,
      ),
    );
    const active = await device(user, { attach: false });
    await seed.client.pullToStable();
    await active.client.attach(user);
    const view = (d: Device) =>
      sqliteRows(
        d.db,
        'SELECT name, note, count_value, enabled_flag, rating, CASE WHEN data IS NULL THEN NULL ELSE hex(data) END AS data, created_at, amount, tags, active FROM typed_rows ORDER BY name',
      ).map((r) => ({
        ...r,
        created_at: r['created_at'] === null ? null : new Date(String(r['created_at'])).toISOString(),
      }));
    const expected = [
      {
        name: 'Peer Typed Row',
        note: 'peer-from-server',
        count_value: null,
        enabled_flag: 1,
        rating: 2.5,
        data: null,
        created_at: '2026-03-24T18:42:11.000Z',
        amount: 1.25,
        tags: '["x",2,null]',
        active: 0,
      },
      {
        name: 'Typed Null',
        note: null,
        count_value: null,
        enabled_flag: 0,
        rating: null,
        data: null,
        created_at: null,
        amount: null,
        tags: null,
        active: null,
      },
      {
        name: 'Typed Rich',
        note: 'second-device',
        count_value: 42,
        enabled_flag: 1,
        rating: 6.57111473696007,
        data: 'CAFEBABE',
        created_at: '2026-03-24T18:42:11.000Z',
        amount: 12.5,
        tags: '{"n":1,"tags":["a","b"]}',
        active: 1,
      },
    ];
    expect(view(active)).toEqual(expected);
    expect(view(seed)).toEqual(expected);
    expect(sqliteCount(seed.db, '_sync_dirty_rows')).toBe(0);
    const pgTyped = await pgRows(
      server.pool,
      'SELECT name, rating, tags, active, amount::text AS amount FROM business.typed_rows WHERE _sync_scope_id = $1 ORDER BY name',
      [user],
    );
    expect(pgTyped[2]).toEqual({
      name: 'Typed Rich',
      rating: 6.57111473696007,
      tags: { tags: ['a', 'b'], n: 1 },
      active: true,
      amount: '12.5',
    });
  });

  it('O6/F14: text sync keys round-trip through push and pull', async () => {
    const user = userId('o6');
    const d = await device(user);
    d.db.run("INSERT INTO docs (doc_id, body) VALUES ('doc-1', 'Hello text key'), ('naïve <&>', 'escaped')");
    await d.client.pushPending();
    await server.write(
      user,
      rawSql(
        `INSERT INTO business.docs (_sync_scope_id, doc_id, body) VALUES (${lit(user)}, 'doc-2', 'from server')`,
      ),
    );
    await d.client.pullToStable();
    expect(
      sqliteRows(d.db, "SELECT row_version, deleted FROM _sync_row_state WHERE key_text = 'doc-2'"),
    ).toEqual([{ row_version: 2, deleted: 0 }]);
    await sameAsServer(d, ['docs']);
    expect(deviceTable(d.db, 'docs').map((r) => r['doc_id'])).toEqual(['doc-1', 'doc-2', 'naïve <&>']);
  });
});
