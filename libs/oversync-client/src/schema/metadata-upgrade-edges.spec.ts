import { type Database } from 'sql.js';

import { newDevice, newServer, restart, rows, scalar } from '../testing/test-device.js';

/**
 * Rewrites a current database into the layout-2 metadata an earlier client wrote: `_sync_row_state`
 * keyed by `key_json` (`{"id": <key text>}`, as that client's `json_object` built it), and capture
 * triggers that probe it by `key_json`.
 */
function downgradeToLayout2(db: Database): void {
  db.exec(`
    CREATE TEMP TABLE rs_copy AS SELECT * FROM _sync_row_state;
    DROP TABLE _sync_row_state;
    CREATE TABLE _sync_row_state (
      table_name TEXT NOT NULL,
      key_json TEXT NOT NULL,
      row_version INTEGER NOT NULL,
      deleted INTEGER NOT NULL DEFAULT 0,
      PRIMARY KEY (table_name, key_json)
    ) WITHOUT ROWID;
    INSERT INTO _sync_row_state (table_name, key_json, row_version, deleted)
      SELECT table_name, json_object('id', key_text), row_version, deleted FROM rs_copy;
    DROP TABLE rs_copy;
  `);
  const stmt = db.prepare("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'");
  const old: [string, string][] = [];
  while (stmt.step()) {
    const [name, sql] = stmt.get() as [string, string];
    old.push([
      name,
      sql.replace(
        /rs\.key_text = (CAST\([^)]*\)|lower\(hex\([^)]*\)\))/g,
        "rs.key_json = json_object('id', $1)",
      ),
    ]);
  }
  stmt.free();
  for (const [name, sql] of old) db.exec(`DROP TRIGGER "${name}"; ${sql}`);
}

const ODD_KEYS = [
  'it\'s "quoted"',
  'back\\slash\\',
  'ünï© 😀 \u2028',
  '',
  '007',
  '1e5',
  ' padded ',
  '{"id":"nested"}',
  'x'.repeat(5000),
];

describe('metadata upgrade edges', () => {
  it.each([1, 3])(
    'opens a layout-2 database whose row state holds one key under an old (version %i) and a new key column name',
    async (oldVersion) => {
      // An earlier app version keyed `users` by another column name: layout 2 kept its row states
      // under `{"user_id": …}` next to the current `{"id": …}` ones. Both are the same key text.
      const server = newServer();
      server.serverWrite('user-1', [
        { table: 'users', key: 'u1', payload: { id: 'u1', name: 'A', email: 'a' } },
      ]);
      server.serverWrite('user-1', [
        { table: 'users', key: 'u1', payload: { id: 'u1', name: 'B', email: 'b' } },
      ]);
      const device = await newDevice(server);
      await device.client.attach('user-1');
      await device.client.close();
      downgradeToLayout2(device.db);
      device.db.run(
        'INSERT INTO _sync_row_state (table_name, key_json, row_version, deleted) VALUES (\'users\', \'{"user_id":"u1"}\', ?, 0)',
        [oldVersion],
      );
      await device.persister.save(device.db.export());

      const next = await restart(device, server);
      // The newer version of the key wins, whichever name it was stored under.
      expect(
        rows(
          next.db,
          "SELECT key_text, row_version, deleted FROM _sync_row_state WHERE table_name = 'users'",
        ),
      ).toEqual([{ key_text: 'u1', row_version: Math.max(oldVersion, 2), deleted: 0 }]);
      next.db.run("UPDATE users SET name = 'C' WHERE id = 'u1'");
      expect(scalar(next.db, 'SELECT base_row_version FROM _sync_dirty_rows')).toBe(Math.max(oldVersion, 2));
      await next.client.close();
    },
  );

  it('upgrades UUID BLOB keys to their 32 hex characters, and capture finds their versions', async () => {
    const server = newServer();
    const id = '0190a3c4-5b6d-7e8f-9a0b-1c2d3e4f5a6b';
    server.serverWrite('user-1', [
      { table: 'files', key: id, payload: { id, owner: null, data: 'AAEC', size: 3 } },
    ]);
    const device = await newDevice(server);
    await device.client.attach('user-1');
    await device.client.close();
    downgradeToLayout2(device.db);
    await device.persister.save(device.db.export());

    const next = await restart(device, server);
    expect(
      rows(next.db, "SELECT key_text, row_version FROM _sync_row_state WHERE table_name = 'files'"),
    ).toEqual([{ key_text: id.replaceAll('-', ''), row_version: 1 }]);
    next.db.run('UPDATE files SET size = 4');
    expect(rows(next.db, 'SELECT op, base_row_version FROM _sync_dirty_rows')).toEqual([
      { op: 'UPDATE', base_row_version: 1 },
    ]);
    await next.client.attach('user-1');
    expect(await next.client.pushPending()).toEqual({ outcome: 'committed' });
    expect(scalar(next.db, "SELECT row_version FROM _sync_row_state WHERE table_name = 'files'")).toBe(2);
    await next.client.close();
  });

  it('upgrades TEXT keys with quotes, backslashes, unicode, empty, numeric-looking and long text unchanged', async () => {
    const server = newServer();
    server.serverWrite(
      'user-1',
      ODD_KEYS.map((key) => ({ table: 'users', key, payload: { id: key, name: 'n', email: null } })),
    );
    const device = await newDevice(server);
    await device.client.attach('user-1');
    await device.client.close();
    downgradeToLayout2(device.db);
    await device.persister.save(device.db.export());

    const next = await restart(device, server);
    const texts = rows(next.db, 'SELECT key_text FROM _sync_row_state').map((r) => r['key_text']);
    expect(texts.sort()).toEqual([...ODD_KEYS].sort());
    expect(scalar(next.db, "SELECT typeof(key_text) FROM _sync_row_state WHERE key_text = '007'")).toBe(
      'text',
    );
    next.db.run("UPDATE users SET name = 'changed'");
    expect(
      scalar(next.db, "SELECT COUNT(*) FROM _sync_dirty_rows WHERE op = 'UPDATE' AND base_row_version = 1"),
    ).toBe(ODD_KEYS.length);
    await next.client.attach('user-1');
    expect(await next.client.pushPending()).toEqual({ outcome: 'committed' });
    expect(scalar(next.db, 'SELECT COUNT(*) FROM _sync_row_state WHERE row_version = 2')).toBe(
      ODD_KEYS.length,
    );
    await next.client.close();
  });

  it('keeps a dirty row with an odd TEXT key when a pull brings a newer server version of it', async () => {
    const server = newServer();
    server.serverWrite(
      'user-1',
      ODD_KEYS.map((key) => ({ table: 'users', key, payload: { id: key, name: 'server-1', email: null } })),
    );
    const device = await newDevice(server);
    await device.client.attach('user-1');
    device.db.run("UPDATE users SET name = 'mine'");
    server.serverWrite(
      'user-1',
      ODD_KEYS.map((key) => ({ table: 'users', key, payload: { id: key, name: 'server-2', email: null } })),
    );
    device.client.setUploadsPaused(true);
    await device.client.sync();
    expect(scalar(device.db, "SELECT COUNT(*) FROM users WHERE name = 'mine'")).toBe(ODD_KEYS.length);
    expect(scalar(device.db, 'SELECT COUNT(*) FROM _sync_row_state WHERE row_version = 2')).toBe(
      ODD_KEYS.length,
    );
    await device.client.close();
  });

  it('upgrades a database with a frozen outbox and dirty rows, then commits both', async () => {
    const server = newServer();
    server.serverWrite('user-1', [
      { table: 'users', key: 'u1', payload: { id: 'u1', name: 'A', email: null } },
      { table: 'users', key: 'u2', payload: { id: 'u2', name: 'B', email: null } },
    ]);
    const device = await newDevice(server);
    await device.client.attach('user-1');
    device.db.run("UPDATE users SET name = 'A2' WHERE id = 'u1'");
    // The upload fails after the freeze: the outbox stays prepared.
    const restore = server.intercept((req) =>
      req.path.includes('/chunks')
        ? new Response('{"error":"boom","message":"down"}', { status: 503 })
        : undefined,
    );
    await expect(device.client.pushPending()).rejects.toThrow();
    restore();
    expect(scalar(device.db, 'SELECT COUNT(*) FROM _sync_outbox_rows')).toBe(1);
    device.db.run("DELETE FROM users WHERE id = 'u2'");
    await device.client.close();
    downgradeToLayout2(device.db);
    await device.persister.save(device.db.export());

    const next = await restart(device, server);
    expect(rows(next.db, 'SELECT op, base_row_version FROM _sync_dirty_rows')).toEqual([
      { op: 'DELETE', base_row_version: 1 },
    ]);
    await next.client.attach('user-1');
    expect(await next.client.pushPending()).toEqual({ outcome: 'committed' });
    expect(await next.client.pushPending()).toEqual({ outcome: 'committed' });
    expect(
      rows(next.db, 'SELECT key_text, row_version, deleted FROM _sync_row_state ORDER BY key_text'),
    ).toEqual([
      { key_text: 'u1', row_version: 2, deleted: 0 },
      { key_text: 'u2', row_version: 3, deleted: 1 },
    ]);
    await next.client.close();
  });

  it('keeps layout 2 when open() fails after the upgrade step, and upgrades on the next open', async () => {
    const server = newServer();
    server.serverWrite('user-1', [
      { table: 'users', key: 'u1', payload: { id: 'u1', name: 'A', email: null } },
    ]);
    const device = await newDevice(server);
    await device.client.attach('user-1');
    await device.client.close();
    downgradeToLayout2(device.db);
    await device.persister.save(device.db.export());

    const broken = await restart(device, server, {
      noOpen: true,
      tables: [
        { table: 'users', syncKeyColumn: 'id' },
        { table: 'missing', syncKeyColumn: 'id' },
      ],
    });
    await expect(broken.client.open()).rejects.toThrow(/missing/);
    const cols = rows(broken.db, "SELECT name FROM pragma_table_info('_sync_row_state')").map(
      (r) => r['name'],
    );
    expect(cols).toContain('key_json');
    expect(
      scalar(broken.db, "SELECT COUNT(*) FROM temp.sqlite_master WHERE name = '_sync_row_state_upgrade'"),
    ).toBe(0);
    await broken.client.close();

    const next = await restart(device, server);
    expect(rows(next.db, 'SELECT key_text, row_version FROM _sync_row_state')).toEqual([
      { key_text: 'u1', row_version: 1 },
    ]);
    await next.client.close();
  });

  it('keeps the row state of a table that is no longer configured through the upgrade', async () => {
    const server = newServer();
    server.serverWrite('user-1', [
      { table: 'users', key: 'u1', payload: { id: 'u1', name: 'A', email: null } },
      { table: 'posts', key: 'p1', payload: { id: 'p1', author_id: 'u1', title: 't', score: 1 } },
    ]);
    const device = await newDevice(server);
    await device.client.attach('user-1');
    await device.client.close();
    downgradeToLayout2(device.db);
    await device.persister.save(device.db.export());

    const next = await restart(device, server, {
      tables: [
        { table: 'users', syncKeyColumn: 'id' },
        { table: 'files', syncKeyColumn: 'id' },
      ],
    });
    expect(rows(next.db, 'SELECT table_name, key_text FROM _sync_row_state ORDER BY table_name')).toEqual([
      { table_name: 'posts', key_text: 'p1' },
      { table_name: 'users', key_text: 'u1' },
    ]);
    await next.client.close();
  });
});
