import { type Database } from 'sql.js';

import { newDevice, newServer, restart, rows, scalar } from '../testing/test-device.js';

const user = (id: string, name: string) => ({
  table: 'users',
  key: id,
  payload: { id, name, email: `${id}@x` },
});

/**
 * Rewrites a current database into the metadata an earlier client wrote: layout 2 keyed
 * `_sync_row_state` by `key_json`; layout 1 also repeated `schema_name` and `updated_at`.
 */
function downgrade(db: Database, layout: 1 | 2): void {
  const extra = layout === 1 ? 'schema_name TEXT NOT NULL, ' : '';
  const extraTail =
    layout === 1 ? ", updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))" : '';
  db.exec(`
    CREATE TEMP TABLE rs_copy AS SELECT * FROM _sync_row_state;
    DROP TABLE _sync_row_state;
    CREATE TABLE _sync_row_state (
      ${extra}table_name TEXT NOT NULL,
      key_json TEXT NOT NULL,
      row_version INTEGER NOT NULL,
      deleted INTEGER NOT NULL DEFAULT 0${extraTail},
      PRIMARY KEY (${layout === 1 ? 'schema_name, ' : ''}table_name, key_json)
    )${layout === 2 ? ' WITHOUT ROWID' : ''};
    INSERT INTO _sync_row_state (${layout === 1 ? 'schema_name, ' : ''}table_name, key_json, row_version, deleted)
      SELECT ${layout === 1 ? "'business', " : ''}table_name, json_object('id', key_text), row_version, deleted FROM rs_copy;
    DROP TABLE rs_copy;
  `);
  const stmt = db.prepare("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'");
  const old: [string, string][] = [];
  while (stmt.step()) {
    const [name, sql] = stmt.get() as [string, string];
    const byKeyJson = sql.replace(/rs\.key_text = (CAST\([^)]*\))/g, "rs.key_json = json_object('id', $1)");
    old.push([
      name,
      layout === 1
        ? byKeyJson.replaceAll(
            'WHERE rs.table_name = ',
            "WHERE rs.schema_name = 'business' AND rs.table_name = ",
          )
        : byKeyJson,
    ]);
  }
  stmt.free();
  for (const [name, sql] of old) db.exec(`DROP TRIGGER "${name}"; ${sql}`);
}

const columns = (db: Database) =>
  rows(db, "SELECT name FROM pragma_table_info('_sync_row_state') ORDER BY cid").map((r) => r['name']);

describe('metadata upgrade', () => {
  it.each([1, 2] as const)(
    'upgrades layout-%i row state in place on open, keeping versions and tombstones',
    async (layout) => {
      const server = newServer();
      server.serverWrite('user-1', [user('u1', 'A'), user('u2', 'B')]);
      const device = await newDevice(server);
      await device.client.attach('user-1');
      server.serverWrite('user-1', [{ table: 'users', key: 'u2', payload: null }]);
      await device.client.pullToStable();
      await device.client.close();
      downgrade(device.db, layout);
      expect(columns(device.db)).toContain('key_json');
      expect(
        scalar(device.db, "SELECT COUNT(*) FROM sqlite_master WHERE sql LIKE '%rs.key_json%'"),
      ).toBeGreaterThan(0);
      await device.persister.save(device.db.export());

      const next = await restart(device, server);
      expect(columns(next.db)).toEqual(['table_name', 'key_text', 'row_version', 'deleted']);
      expect(
        rows(next.db, 'SELECT key_text, row_version, deleted FROM _sync_row_state ORDER BY key_text'),
      ).toEqual([
        { key_text: 'u1', row_version: 1, deleted: 0 },
        { key_text: 'u2', row_version: 2, deleted: 1 },
      ]);
      expect(
        scalar(
          next.db,
          "SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger' AND (sql LIKE '%rs.schema_name%' OR sql LIKE '%rs.key_json%')",
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
      expect(scalar(next.db, "SELECT row_version FROM _sync_row_state WHERE key_text = 'u1'")).toBe(3);
      await next.client.close();
    },
  );

  it("adds the outbox's replay flag to an earlier client's database and pushes its frozen bundle", async () => {
    const server = newServer();
    const device = await newDevice(server);
    await device.client.attach('user-1');
    device.db.run("INSERT INTO users VALUES ('u1', 'A', 'a@x')");
    await device.client.close();
    device.db.exec('ALTER TABLE _sync_outbox_bundle DROP COLUMN remote_already_committed');
    await device.persister.save(device.db.export());

    const next = await restart(device, server);
    expect(rows(next.db, 'SELECT state, remote_already_committed AS flag FROM _sync_outbox_bundle')).toEqual([
      { state: 'none', flag: 0 },
    ]);
    await next.client.attach('user-1');
    expect(await next.client.pushPending()).toEqual({ outcome: 'committed' });
    expect(scalar(next.db, 'SELECT COUNT(*) FROM _sync_dirty_rows')).toBe(0);
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
