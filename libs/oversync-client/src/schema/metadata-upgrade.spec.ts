import { type Database } from 'sql.js';

import { newDevice, newServer, restart, rows, scalar } from '../testing/test-device.js';

const user = (id: string, name: string) => ({
  table: 'users',
  key: id,
  payload: { id, name, email: `${id}@x` },
});

/** Rewrites a current database into the layout-1 metadata an earlier client wrote. */
function downgradeToLayout1(db: Database): void {
  db.exec(`
    CREATE TEMP TABLE rs_copy AS SELECT * FROM _sync_row_state;
    DROP TABLE _sync_row_state;
    CREATE TABLE _sync_row_state (
      schema_name TEXT NOT NULL,
      table_name TEXT NOT NULL,
      key_json TEXT NOT NULL,
      row_version INTEGER NOT NULL,
      deleted INTEGER NOT NULL DEFAULT 0,
      updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
      PRIMARY KEY (schema_name, table_name, key_json)
    );
    INSERT INTO _sync_row_state (schema_name, table_name, key_json, row_version, deleted)
      SELECT 'business', table_name, key_json, row_version, deleted FROM rs_copy;
    DROP TABLE rs_copy;
  `);
  const stmt = db.prepare("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'");
  const old: [string, string][] = [];
  while (stmt.step()) {
    const [name, sql] = stmt.get() as [string, string];
    old.push([
      name,
      sql.replaceAll('WHERE rs.table_name = ', "WHERE rs.schema_name = 'business' AND rs.table_name = "),
    ]);
  }
  stmt.free();
  for (const [name, sql] of old) db.exec(`DROP TRIGGER "${name}"; ${sql}`);
}

const columns = (db: Database) =>
  rows(db, "SELECT name FROM pragma_table_info('_sync_row_state') ORDER BY cid").map((r) => r['name']);

describe('metadata upgrade', () => {
  it('upgrades layout-1 row state in place on open, keeping versions and tombstones', async () => {
    const server = newServer();
    server.serverWrite('user-1', [user('u1', 'A'), user('u2', 'B')]);
    const device = await newDevice(server);
    await device.client.attach('user-1');
    server.serverWrite('user-1', [{ table: 'users', key: 'u2', payload: null }]);
    await device.client.pullToStable();
    await device.client.close();
    downgradeToLayout1(device.db);
    expect(columns(device.db)).toContain('schema_name');
    await device.persister.save(device.db.export());

    const next = await restart(device, server);
    expect(columns(next.db)).toEqual(['table_name', 'key_json', 'row_version', 'deleted']);
    expect(
      rows(next.db, 'SELECT key_json, row_version, deleted FROM _sync_row_state ORDER BY key_json'),
    ).toEqual([
      { key_json: '{"id":"u1"}', row_version: 1, deleted: 0 },
      { key_json: '{"id":"u2"}', row_version: 2, deleted: 1 },
    ]);
    expect(
      scalar(
        next.db,
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger' AND sql LIKE '%rs.schema_name%'",
      ),
    ).toBe(0);
    // Capture and sync carry on from the upgraded versions.
    next.db.run("UPDATE users SET name = 'A2' WHERE id = 'u1'");
    next.db.run("INSERT INTO users VALUES ('u2', 'again', 'u2@x')");
    expect(
      rows(next.db, 'SELECT key_json, op, base_row_version FROM _sync_dirty_rows ORDER BY key_json'),
    ).toEqual([
      { key_json: '{"id":"u1"}', op: 'UPDATE', base_row_version: 1 },
      { key_json: '{"id":"u2"}', op: 'INSERT', base_row_version: 2 },
    ]);
    await next.client.attach('user-1');
    expect(await next.client.pushPending()).toEqual({ outcome: 'committed' });
    expect(server.scope('user-1').rows.get('users\u0000u1')!.payload).toMatchObject({ name: 'A2' });
    expect(scalar(next.db, 'SELECT row_version FROM _sync_row_state WHERE key_json = \'{"id":"u1"}\'')).toBe(
      3,
    );
    await next.client.close();
  });

  it('leaves a current database untouched', async () => {
    const server = newServer();
    server.serverWrite('user-1', [user('u1', 'A')]);
    const device = await newDevice(server);
    await device.client.attach('user-1');
    const before = rows(device.db, 'SELECT type, name, sql FROM sqlite_master ORDER BY type, name');
    await device.client.close();
    await device.persister.save(device.db.export());
    const next = await restart(device, server);
    expect(rows(next.db, 'SELECT type, name, sql FROM sqlite_master ORDER BY type, name')).toEqual(before);
    expect(scalar(next.db, 'SELECT COUNT(*) FROM _sync_row_state')).toBe(1);
    await next.client.close();
  });
});
