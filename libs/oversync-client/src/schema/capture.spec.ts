import { isOversyncClientError } from '../errors/oversync-client.error.js';
import { OversyncClient } from '../oversync-client.js';
import { loadSqlJs, newDevice, newServer, rows, scalar } from '../testing/test-device.js';

const dirty = (db: Parameters<typeof rows>[0]) =>
  rows(
    db,
    'SELECT table_name, key_json, op, base_row_version, payload FROM _sync_dirty_rows ORDER BY dirty_ordinal',
  );

describe('change capture', () => {
  it('installs metadata tables and six triggers per table, with foreign keys on', async () => {
    const { db, client } = await newDevice(newServer());
    const triggers = rows(
      db,
      "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'users' ORDER BY name",
    );
    expect(triggers.map((t) => t['name'])).toEqual([
      'trg_users_ad',
      'trg_users_ai',
      'trg_users_au',
      'trg_users_bd_guard',
      'trg_users_bi_guard',
      'trg_users_bu_guard',
    ]);
    expect(scalar(db, 'PRAGMA foreign_keys')).toBe(1);
    expect(
      scalar(
        db,
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name LIKE '\\_sync\\_%' ESCAPE '\\'",
      ),
    ).toBe(9);
    await client.close();
  });

  it('resets a stale apply_mode on open and keeps unrelated _sync_ tables', async () => {
    const server = newServer();
    const first = await newDevice(server);
    first.db.run('CREATE TABLE _sync_audit_log (x)');
    first.db.run('UPDATE _sync_apply_state SET apply_mode = 1');
    await first.client.close();
    const again = new OversyncClient({
      db: first.db,
      baseUrl: 'http://x',
      getToken: () => 't',
      schema: 'business',
      tables: [
        { table: 'users', syncKeyColumn: 'id' },
        { table: 'posts', syncKeyColumn: 'id' },
        { table: 'files', syncKeyColumn: 'id' },
      ],
      fetch: server.fetch,
    });
    await again.open();
    expect(scalar(first.db, 'SELECT apply_mode FROM _sync_apply_state')).toBe(0);
    expect(scalar(first.db, "SELECT COUNT(*) FROM sqlite_master WHERE name = '_sync_audit_log'")).toBe(1);
    await again.close();
  });

  it('collapses INSERT → UPDATE into one INSERT with the latest payload, then DELETE', async () => {
    const server = newServer();
    const { db, client } = await newDevice(server);
    db.run("INSERT INTO users VALUES ('u1', 'A', 'a@x')");
    db.run("UPDATE users SET name = 'B' WHERE id = 'u1'");
    expect(dirty(db)).toEqual([
      {
        table_name: 'users',
        key_json: '{"id":"u1"}',
        op: 'INSERT',
        base_row_version: 0,
        payload: '{"id":"u1","name":"B","email":"a@x"}',
      },
    ]);
    db.run("DELETE FROM users WHERE id = 'u1'");
    expect(dirty(db)).toEqual([
      { table_name: 'users', key_json: '{"id":"u1"}', op: 'DELETE', base_row_version: 0, payload: null },
    ]);
    await client.attach('user-1');
    const before = server.requests.length;
    expect(await client.pushPending()).toEqual({ outcome: 'no_change' });
    expect(server.requests.length).toBe(before);
    expect(dirty(db)).toEqual([]);
    await client.close();
  });

  it('uses the synced row version as base for UPDATE and DELETE', async () => {
    const { db, client } = await newDevice(newServer());
    db.run(
      "INSERT INTO _sync_row_state (table_name, key_text, row_version, deleted) VALUES ('users', 'u1', 41, 0), ('users', 'u2', 12, 0)",
    );
    db.run('UPDATE _sync_apply_state SET apply_mode = 1');
    db.run("INSERT INTO users VALUES ('u1', 'A', 'a'), ('u2', 'B', 'b')");
    db.run('UPDATE _sync_apply_state SET apply_mode = 0');
    expect(dirty(db)).toEqual([]);
    db.run("UPDATE users SET name = 'A2' WHERE id = 'u1'");
    db.run("DELETE FROM users WHERE id = 'u2'");
    expect(
      dirty(db).map((d) => [d['key_json'], d['op'], d['base_row_version'], d['payload'] === null]),
    ).toEqual([
      ['{"id":"u1"}', 'UPDATE', 41, false],
      ['{"id":"u2"}', 'DELETE', 12, true],
    ]);
    await client.close();
  });

  it('captures key changes as DELETE(old) + INSERT(new) and cascades as deletes', async () => {
    const { db, client } = await newDevice(newServer());
    db.run("INSERT INTO users VALUES ('old-id', 'A', 'a')");
    db.run('DELETE FROM _sync_dirty_rows');
    db.run("UPDATE users SET id = 'new-id' WHERE id = 'old-id'");
    expect(dirty(db).map((d) => [d['key_json'], d['op']])).toEqual([
      ['{"id":"old-id"}', 'DELETE'],
      ['{"id":"new-id"}', 'INSERT'],
    ]);
    db.run("INSERT INTO posts VALUES ('p1', 'new-id', 'T', 1.5)");
    db.run('DELETE FROM _sync_dirty_rows');
    db.run("DELETE FROM users WHERE id = 'new-id'");
    expect(
      dirty(db)
        .map((d) => [d['table_name'], d['op']])
        .sort(),
    ).toEqual([
      ['posts', 'DELETE'],
      ['users', 'DELETE'],
    ]);
    await client.close();
  });

  it('captures BLOB UUID keys as 32 hex characters and BLOB data as hex', async () => {
    const { db, client } = await newDevice(newServer());
    const id = new Uint8Array([...Array(16).keys()]);
    db.run('INSERT INTO files VALUES (?, NULL, ?, 3)', [id, new Uint8Array([0x00, 0x11, 0x22, 0xff])]);
    expect(dirty(db)[0]).toMatchObject({
      key_json: '{"id":"000102030405060708090a0b0c0d0e0f"}',
      payload: '{"id":"000102030405060708090a0b0c0d0e0f","owner":null,"data":"001122ff","size":3}',
    });
    await client.close();
  });

  it('captures rows that existed before the first open, once', async () => {
    const SQL = await loadSqlJs();
    const server = newServer();
    const db = new SQL.Database();
    db.exec('CREATE TABLE users (id TEXT PRIMARY KEY, name TEXT, email TEXT)');
    db.run("INSERT INTO users VALUES ('u1', 'A', 'a'), ('u2', 'B', 'b')");
    const options = {
      db,
      baseUrl: 'http://x',
      getToken: () => 'user-1',
      schema: 'business',
      tables: [{ table: 'users', syncKeyColumn: 'id' }],
      fetch: server.fetch,
    };
    const client = new OversyncClient(options);
    await client.open();
    await client.open();
    expect(dirty(db).map((d) => [d['key_json'], d['op'], d['base_row_version']])).toEqual([
      ['{"id":"u1"}', 'INSERT', 0],
      ['{"id":"u2"}', 'INSERT', 0],
    ]);
    await client.close();
    const reopened = new OversyncClient(options);
    await reopened.open();
    expect(dirty(db)).toHaveLength(2);
    await reopened.close();
  });

  it('rejects tables that cannot be synced', async () => {
    const SQL = await loadSqlJs();
    const cases: [string, { table: string; syncKeyColumn: string }[], string][] = [
      [
        'CREATE TABLE t (id INTEGER PRIMARY KEY)',
        [{ table: 't', syncKeyColumn: 'id' }],
        'only TEXT keys and UUID-backed BLOB keys',
      ],
      [
        'CREATE TABLE t (id BIGINT PRIMARY KEY)',
        [{ table: 't', syncKeyColumn: 'id' }],
        'only TEXT keys and UUID-backed BLOB keys',
      ],
      [
        'CREATE TABLE t (id TEXT PRIMARY KEY)',
        [{ table: 'main.t', syncKeyColumn: 'id' }],
        'schema qualifier',
      ],
      ['CREATE TABLE t (id TEXT PRIMARY KEY)', [{ table: 't', syncKeyColumn: 'missing' }], 'does not exist'],
      [
        'CREATE TABLE t (a TEXT, b TEXT, PRIMARY KEY (a, b))',
        [{ table: 't', syncKeyColumn: 'a' }],
        'single PRIMARY KEY',
      ],
      [
        'CREATE TABLE users (id TEXT PRIMARY KEY); CREATE TABLE posts (id TEXT PRIMARY KEY, author_id TEXT REFERENCES users(id))',
        [{ table: 'posts', syncKeyColumn: 'id' }],
        'not FK-closed: posts.author_id -> users.id',
      ],
      [
        'CREATE TABLE p (a TEXT, b TEXT, id TEXT PRIMARY KEY, UNIQUE (a, b)); CREATE TABLE c (id TEXT PRIMARY KEY, x TEXT, y TEXT, FOREIGN KEY (x, y) REFERENCES p(a, b))',
        [
          { table: 'p', syncKeyColumn: 'id' },
          { table: 'c', syncKeyColumn: 'id' },
        ],
        'composite foreign keys',
      ],
    ];
    for (const [ddl, tables, message] of cases) {
      const db = new SQL.Database();
      db.exec(ddl);
      const client = new OversyncClient({
        db,
        baseUrl: 'http://x',
        getToken: () => 't',
        schema: 'business',
        tables,
        fetch: newServer().fetch,
      });
      const error = await client.open().catch((e: unknown) => e);
      expect(isOversyncClientError(error, 'invalid_config')).toBe(true);
      expect((error as Error).message).toContain(message);
      await client.close();
    }
    const db = new SQL.Database();
    db.exec('CREATE TABLE tree (id TEXT PRIMARY KEY, parent TEXT REFERENCES tree(id))');
    const selfRef = new OversyncClient({
      db,
      baseUrl: 'http://x',
      getToken: () => 't',
      schema: 'business',
      tables: [{ table: 'tree', syncKeyColumn: 'id' }],
      fetch: newServer().fetch,
    });
    await expect(selfRef.open()).resolves.toBeUndefined();
    await selfRef.close();
    const other = new OversyncClient({
      db,
      baseUrl: 'http://x',
      getToken: () => 't',
      schema: 'other',
      tables: [{ table: 'tree', syncKeyColumn: 'id' }],
      fetch: newServer().fetch,
    });
    await expect(other.open()).rejects.toThrow('exactly one configured schema');
  });
});
