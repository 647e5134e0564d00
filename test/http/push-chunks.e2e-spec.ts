/**
 * `POST /sync/push-sessions/{id}/chunks` over real HTTP: staging in the database, chunk order and
 * planned size (D5), normalisation, bytea conversion and the seeding-lease checks (C7).
 */
import { createOversyncTestApp, type OversyncTestApp } from '../support/oversync-app.js';
import {
  commitSession,
  connect,
  createSession,
  dbRows,
  fetchCommittedRows,
  insertUser,
  newId,
  newUser,
  scopeState,
  uploadChunk,
  stagedRows as stagedRowsOf,
  stagingSession,
} from '../support/push-builders.js';
import { syncClient } from '../support/sync-http.js';

const MAX_CHUNK = 1000;

describe('POST /sync/push-sessions/{push_id}/chunks', () => {
  let t: OversyncTestApp;
  let schema: string;
  const client = (user: string, source = 'writer') => syncClient(t.baseUrl, user, source);
  /** An initialized user with a fresh staging session of `planned` rows. */
  const session = (planned = 1) => stagingSession(t.baseUrl, planned);
  const stagedRows = (pushId: string) => stagedRowsOf(t.db.url, pushId);

  beforeAll(async () => {
    t = await createOversyncTestApp({
      listen: true,
      options: { limits: { maxRowsPerPushChunk: MAX_CHUNK } },
    });
    schema = t.schema;
  });
  afterAll(async () => {
    await t.close();
  });

  it('stages rows at start+i, answers both fields and advances the session', async () => {
    const { c, pushId } = await session(3);
    const a = newId();
    const b = newId();
    const first = await uploadChunk(c, pushId, 0, [
      insertUser(schema, a, 'Ada'),
      insertUser(schema, b, 'Bob'),
    ]);
    expect(first.status).toBe(200);
    expect(first.text).toBe(`{"push_id":"${pushId}","next_expected_row_ordinal":2}\n`);
    const c3 = newId();
    const second = await uploadChunk(c, pushId, 2, [
      { schema, table: 'users', key: { id: c3 }, op: 'DELETE', base_row_version: 4 },
    ]);
    expect(second.json).toEqual({ push_id: pushId, next_expected_row_ordinal: 3 });
    const rows = await stagedRows(pushId);
    expect(rows.map((r) => [r.ord, r.key_hex, r.op_code, r.base])).toEqual([
      [0, a.replace(/-/g, ''), 1, 0],
      [1, b.replace(/-/g, ''), 1, 0],
      [2, c3.replace(/-/g, ''), 3, 4],
    ]);
    // Staged payloads are JSON text for the apply; only their values matter, not key order.
    expect(JSON.parse(rows[0].payload as string)).toEqual({ email: 'ada@example.com', id: a, name: 'Ada' });
    expect(rows[2].payload).toBeNull();
    const [s] = await dbRows(
      t.db.url,
      'SELECT next_expected_row_ordinal::int AS next FROM sync.push_sessions WHERE push_id = $1',
      [pushId],
    );
    expect(s).toEqual({ next: 3 });
  });

  it('rejects a re-sent chunk as out of order and a chunk beyond planned_row_count (D5)', async () => {
    const { c, pushId } = await session(2);
    await uploadChunk(c, pushId, 0, [insertUser(schema, newId(), 'One')]);
    const again = await uploadChunk(c, pushId, 0, [insertUser(schema, newId(), 'One')]);
    expect(again.status).toBe(409);
    expect(again.json).toEqual({
      error: 'push_chunk_out_of_order',
      message: `push session ${pushId} expected start_row_ordinal 1, got 0`,
    });
    const ahead = await uploadChunk(c, pushId, 2, [insertUser(schema, newId(), 'Three')]);
    expect(ahead.json.message).toBe(`push session ${pushId} expected start_row_ordinal 1, got 2`);
    const beyond = await uploadChunk(c, pushId, 1, [
      insertUser(schema, newId(), 'Two'),
      insertUser(schema, newId(), 'Three'),
    ]);
    expect(beyond.status).toBe(400);
    expect(beyond.json).toEqual({ error: 'push_chunk_invalid', message: 'chunk exceeds planned_row_count' });
    expect(await stagedRows(pushId)).toHaveLength(1);
  });

  it('normalises schema, table, op and payload column case, and injects a missing key column', async () => {
    const { c, pushId } = await session(1);
    const rowId = newId();
    const reply = await uploadChunk(c, pushId, 0, [
      {
        schema: ' Business ',
        table: 'USERS',
        key: { id: rowId, extra: 1 },
        op: ' insert ',
        base_row_version: 0,
        payload: { Name: 'Ada', EMAIL: 'a@x.io' },
      },
    ]);
    expect(reply.status).toBe(200);
    expect(JSON.parse((await stagedRows(pushId))[0].payload as string)).toEqual({
      email: 'a@x.io',
      id: rowId,
      name: 'Ada',
    });
    const committed = await commitSession(c, pushId);
    expect(committed.status).toBe(200);
    const [row] = await dbRows(t.db.url, `SELECT name, email FROM ${schema}.users WHERE id = $1`, [rowId]);
    expect(row).toEqual({ name: 'Ada', email: 'a@x.io' });
  });

  it('stages bytea as \\x hex and serves it back as standard base64', async () => {
    const { user, c, pushId } = await session(1);
    const fileId = newId();
    await uploadChunk(c, pushId, 0, [
      {
        schema,
        table: 'files',
        key: { id: fileId },
        op: 'INSERT',
        base_row_version: 0,
        payload: { name: 'f', data: 'AAEC/w==' },
      },
    ]);
    expect(JSON.parse((await stagedRows(pushId))[0].payload as string)).toEqual({
      data: '\\x000102ff',
      id: fileId,
      name: 'f',
    });
    const committed = await commitSession(c, pushId);
    const [stored] = await dbRows(
      t.db.url,
      `SELECT encode(data, 'hex') AS hex FROM ${schema}.files WHERE id = $1 AND _sync_scope_id = $2`,
      [fileId, user],
    );
    expect(stored).toEqual({ hex: '000102ff' });
    const { rows } = await fetchCommittedRows(c, committed.json.bundle_seq as number);
    expect(rows[0].payload).toEqual({ id: fileId, name: 'f', data: 'AAEC/w==' });
  });

  it('rejects an upload after the seeding lease lapsed as initialization_stale and keeps the scope untouched (C7)', async () => {
    const user = newUser();
    const c = client(user, 'device-a');
    const lease = await connect(c, true);
    const pushId = (await createSession(c, 1, 1, lease.json.initialization_id as string)).json
      .push_id as string;
    await dbRows(
      t.db.url,
      `UPDATE sync.scope_state SET lease_expires_at = clock_timestamp() - interval '1 second'
        WHERE user_pk = (SELECT user_pk FROM sync.user_state WHERE user_id = $1)`,
      [user],
    );
    const reply = await uploadChunk(c, pushId, 0, [insertUser(schema, newId(), 'Late Seed')]);
    expect(reply.status).toBe(409);
    expect(reply.json).toEqual({ error: 'initialization_stale', message: 'scope is no longer initializing' });
    expect(await stagedRows(pushId)).toEqual([]);
    expect(await scopeState(t.db.url, user)).toMatchObject({
      state_code: 1,
      initializer_source_id: 'device-a',
    });
  });

  it('refreshes the seeding lease on every chunk', async () => {
    const user = newUser();
    const c = client(user, 'device-a');
    const lease = await connect(c, true);
    const pushId = (await createSession(c, 1, 1, lease.json.initialization_id as string)).json
      .push_id as string;
    await dbRows(
      t.db.url,
      `UPDATE sync.scope_state SET lease_expires_at = clock_timestamp() + interval '3 seconds'
        WHERE user_pk = (SELECT user_pk FROM sync.user_state WHERE user_id = $1)`,
      [user],
    );
    expect((await uploadChunk(c, pushId, 0, [insertUser(schema, newId(), 'Seed')])).status).toBe(200);
    const state = await scopeState(t.db.url, user);
    expect((state!.lease_expires_at as Date).getTime()).toBeGreaterThan(Date.now() + 60_000);
  });
});
