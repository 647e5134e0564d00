import { isOversyncClientError } from '../errors/oversync-client.error.js';
import { newDevice, newServer, rows, scalar } from '../testing/test-device.js';

describe('pushPending', () => {
  it('pushes captured rows, verifies the committed bundle and replays it', async () => {
    const server = newServer();
    const { db, client } = await newDevice(server);
    await client.attach('user-1');
    db.run("INSERT INTO users VALUES ('u1', 'Ada', 'ada@example.com')");
    db.run("UPDATE users SET name = 'Ada L' WHERE id = 'u1'");

    expect(await client.pushPending()).toEqual({ outcome: 'committed' });

    const chunks = server.requests.filter((r) => r.path.endsWith('/chunks'));
    expect(chunks).toHaveLength(1);
    expect(chunks[0].body).toEqual({
      start_row_ordinal: 0,
      rows: [
        {
          schema: 'business',
          table: 'users',
          key: { id: 'u1' },
          op: 'INSERT',
          base_row_version: 0,
          payload: { id: 'u1', name: 'Ada L', email: 'ada@example.com' },
        },
      ],
    });
    expect(scalar(db, 'SELECT COUNT(*) FROM _sync_dirty_rows')).toBe(0);
    expect(scalar(db, 'SELECT COUNT(*) FROM _sync_outbox_rows')).toBe(0);
    expect(rows(db, 'SELECT row_version, deleted FROM _sync_row_state')).toEqual([
      { row_version: 1, deleted: 0 },
    ]);
    expect(scalar(db, 'SELECT next_source_bundle_id FROM _sync_source_state')).toBe(2);
    expect(client.lastBundleSeqSeen()).toBe(1);
    expect(server.count('DELETE /sync/push-sessions')).toBe(0);
    await client.close();
  });

  it('refuses to replay when the bundle hash does not verify', async () => {
    const server = newServer();
    const { db, client } = await newDevice(server);
    await client.attach('user-1');
    db.run("INSERT INTO users VALUES ('u1', 'Ada', 'a@x')");
    server.rewrite('GET /sync/committed-bundles/', (body) => {
      (body['rows'] as { payload: Record<string, unknown> }[])[0].payload['name'] = 'Tampered';
    });
    const error = await client.pushPending().catch((e: unknown) => e);
    expect(isOversyncClientError(error, 'protocol_violation')).toBe(true);
    expect(String((error as Error).message)).toContain('bundle_hash mismatch');
    expect(scalar(db, 'SELECT COUNT(*) FROM _sync_outbox_rows')).toBe(1);
    expect(scalar(db, 'SELECT COUNT(*) FROM _sync_dirty_rows')).toBe(0);
    expect(scalar(db, 'SELECT next_source_bundle_id FROM _sync_source_state')).toBe(1);
    expect(scalar(db, 'SELECT last_bundle_seq_seen FROM _sync_attachment_state')).toBe(0);
    await client.close();
  });
});

describe('pushPending chunking and order', () => {
  it('uploads 5 rows as chunks of 2, 2 and 1 in one session', async () => {
    const server = newServer();
    const { db, client } = await newDevice(server, { uploadChunkRows: 2 });
    await client.attach('user-1');
    for (let i = 1; i <= 5; i++) db.run('INSERT INTO users VALUES (?, ?, ?)', [`u${i}`, `N${i}`, null]);
    await client.pushPending();
    const chunks = server.requests.filter((r) => r.path.endsWith('/chunks'));
    expect(chunks.map((c) => (c.body as { rows: unknown[] }).rows.length)).toEqual([2, 2, 1]);
    expect(chunks.map((c) => (c.body as { start_row_ordinal: number }).start_row_ordinal)).toEqual([0, 2, 4]);
    expect(server.count('POST /sync/push-sessions')).toBe(5);
    expect(server.requests.filter((r) => r.path === '/sync/push-sessions')).toHaveLength(1);
    await client.close();
  });

  it('orders upserts parents first and deletes children first', async () => {
    const server = newServer();
    const { db, client } = await newDevice(server);
    await client.attach('user-1');
    db.run("INSERT INTO posts VALUES ('p1', NULL, 'T', 1)");
    db.run("INSERT INTO users VALUES ('u1', 'A', 'a')");
    db.run("UPDATE posts SET author_id = 'u1'");
    await client.pushPending();
    const firstRows = (
      server.requests.find((r) => r.path.endsWith('/chunks'))!.body as { rows: { table: string }[] }
    ).rows;
    expect(firstRows.map((r) => r.table)).toEqual(['users', 'posts']);
    db.run("DELETE FROM users WHERE id = 'u1'");
    await client.pushPending();
    const second = server.requests.filter((r) => r.path.endsWith('/chunks'))[1].body as {
      rows: { table: string; op: string }[];
    };
    expect(second.rows.map((r) => `${r.op} ${r.table}`)).toEqual(['DELETE posts', 'DELETE users']);
    await client.close();
  });

  it('round-trips every SQLite type, with UUID keys as dashed text and other BLOBs as base64', async () => {
    const server = newServer();
    const a = await newDevice(server);
    await a.client.attach('user-1');
    const fileId = Uint8Array.from([
      0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
    ]);
    a.db.run('INSERT INTO files VALUES (?, ?, ?, ?)', [
      fileId,
      fileId,
      Uint8Array.from([0x00, 0x11, 0x22, 0xff]),
      9007199254740991,
    ]);
    a.db.run("INSERT INTO users VALUES ('u1', NULL, 'x')");
    a.db.run("INSERT INTO posts VALUES ('p1', 'u1', 'a<b & c>d', 6.57111473696007)");
    a.db.run('INSERT INTO files VALUES (?, NULL, NULL, NULL)', [new Uint8Array(16).fill(1)]);
    await a.client.sync();
    const uploaded = server.requests.find((r) => r.path.endsWith('/chunks'))!.body as {
      rows: { table: string; key: unknown; payload: unknown }[];
    };
    expect(
      uploaded.rows.find((r) => r.table === 'files' && (r.payload as { size: unknown }).size !== null),
    ).toMatchObject({
      key: { id: '00112233-4455-6677-8899-aabbccddeeff' },
      payload: {
        id: '00112233-4455-6677-8899-aabbccddeeff',
        owner: '00112233-4455-6677-8899-aabbccddeeff',
        data: 'ABEi/w==',
      },
    });
    // No spurious requeue after the replay (REAL values compare equal).
    expect(scalar(a.db, 'SELECT COUNT(*) FROM _sync_dirty_rows')).toBe(0);

    const b = await newDevice(server);
    await b.client.attach('user-1');
    const dump = (db: typeof a.db) =>
      rows(
        db,
        'SELECT hex(id) AS id, hex(owner) AS owner, hex(data) AS data, typeof(data) AS t, size FROM files ORDER BY id',
      )
        .concat(rows(db, 'SELECT id, author_id, title, score, typeof(score) AS t FROM posts'))
        .concat(rows(db, 'SELECT id, name, typeof(name) AS t, email FROM users'));
    expect(dump(b.db)).toEqual(dump(a.db));
    expect(scalar(b.db, 'SELECT score FROM posts')).toBe(6.57111473696007);
    await a.client.close();
    await b.client.close();
  });
});

describe('edits made while a push is in flight', () => {
  async function synced() {
    const server = newServer();
    const device = await newDevice(server);
    await device.client.attach('user-1');
    device.db.run("INSERT INTO users VALUES ('u1', 'Zero', 'z')");
    await device.client.pushPending();
    return { server, ...device };
  }

  function duringUpload(server: ReturnType<typeof newServer>, write: () => void): void {
    let done = false;
    server.intercept((req) => {
      if (!done && req.path.endsWith('/chunks')) {
        done = true;
        write();
      }
      return undefined;
    });
  }

  const dirtyOf = (db: Parameters<typeof rows>[0]) =>
    rows(db, 'SELECT key_json, op, base_row_version FROM _sync_dirty_rows ORDER BY dirty_ordinal');

  it('update → update keeps the newer local value, rebased onto the committed version', async () => {
    const { server, db, client } = await synced();
    db.run("UPDATE users SET name = 'First' WHERE id = 'u1'");
    duringUpload(server, () => db.run("UPDATE users SET name = 'Second' WHERE id = 'u1'"));
    expect(await client.pushPending()).toEqual({ outcome: 'committed' });
    expect(scalar(db, "SELECT name FROM users WHERE id = 'u1'")).toBe('Second');
    expect(dirtyOf(db)).toEqual([{ key_json: '{"id":"u1"}', op: 'UPDATE', base_row_version: 2 }]);
    await client.sync();
    expect(server.scope('user-1').rows.get('users\u0000u1')!.payload).toMatchObject({ name: 'Second' });
    await client.close();
  });

  it('update → delete requeues a DELETE on the committed version', async () => {
    const { server, db, client } = await synced();
    db.run("UPDATE users SET name = 'First' WHERE id = 'u1'");
    duringUpload(server, () => db.run("DELETE FROM users WHERE id = 'u1'"));
    await client.pushPending();
    expect(dirtyOf(db)).toEqual([{ key_json: '{"id":"u1"}', op: 'DELETE', base_row_version: 2 }]);
    expect(rows(db, 'SELECT row_version, deleted FROM _sync_row_state')).toEqual([
      { row_version: 2, deleted: 0 },
    ]);
    await client.sync();
    expect(server.scope('user-1').rows.get('users\u0000u1')!.payload).toBeNull();
    await client.close();
  });

  it('delete → recreate requeues an INSERT over the tombstone', async () => {
    const { server, db, client } = await synced();
    db.run("DELETE FROM users WHERE id = 'u1'");
    duringUpload(server, () => db.run("INSERT INTO users VALUES ('u1', 'Back', 'b')"));
    await client.pushPending();
    expect(dirtyOf(db)).toEqual([{ key_json: '{"id":"u1"}', op: 'INSERT', base_row_version: 2 }]);
    expect(rows(db, 'SELECT row_version, deleted FROM _sync_row_state')).toEqual([
      { row_version: 2, deleted: 1 },
    ]);
    await client.sync();
    expect(server.scope('user-1').rows.get('users\u0000u1')!.payload).toMatchObject({ name: 'Back' });
    await client.close();
  });

  it('insert → update and brand-new keys stay dirty and reach the server', async () => {
    const { server, db, client } = await synced();
    db.run("INSERT INTO users VALUES ('u2', 'New', 'n')");
    duringUpload(server, () => {
      db.run("UPDATE users SET name = 'Newer' WHERE id = 'u2'");
      db.run("INSERT INTO users VALUES ('u3', 'Third', 't')");
    });
    await client.pushPending();
    expect(dirtyOf(db)).toEqual([
      { key_json: '{"id":"u2"}', op: 'UPDATE', base_row_version: 2 },
      { key_json: '{"id":"u3"}', op: 'INSERT', base_row_version: 0 },
    ]);
    expect((await client.sync()).remoteOutcome).toBe('already_at_target');
    const serverRows = server.scope('user-1').rows;
    expect(serverRows.get('users\u0000u2')!.payload).toMatchObject({ name: 'Newer' });
    expect(serverRows.get('users\u0000u3')!.payload).toMatchObject({ name: 'Third' });
    expect(scalar(db, 'SELECT COUNT(*) FROM _sync_dirty_rows')).toBe(0);
    await client.close();
  });

  it('edits made while the committed rows are fetched survive too', async () => {
    const { server, db, client } = await synced();
    db.run("UPDATE users SET name = 'First' WHERE id = 'u1'");
    let done = false;
    server.intercept((req) => {
      if (!done && req.path.startsWith('/sync/committed-bundles/')) {
        done = true;
        db.run("UPDATE users SET name = 'During replay' WHERE id = 'u1'");
      }
      return undefined;
    });
    await client.sync();
    expect(scalar(db, "SELECT name FROM users WHERE id = 'u1'")).toBe('During replay');
    expect(server.scope('user-1').rows.get('users\u0000u1')!.payload).toMatchObject({
      name: 'During replay',
    });
    await client.close();
  });
});
