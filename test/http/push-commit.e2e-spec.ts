/**
 * `POST /sync/push-sessions/{id}/commit` over real HTTP: the atomic commit, staging checks,
 * seeding sessions, source re-checks and the committed after-image (scenarios C2, C7, D1, D2, D4,
 * D6, D14, D16, D25).
 */
import { ScopeManager } from '@oversync/nestjs';
import { sql } from 'kysely';
import { createOversyncTestApp, type OversyncTestApp } from '../support/oversync-app.js';
import {
  bundleCount,
  commitSession,
  connect,
  createSession,
  dbRows,
  deleteRow,
  fetchCommittedRows,
  insertUser,
  newId,
  newUser,
  pushOk,
  pushRows,
  scopeState,
  stageRows,
  updateUser,
  uploadChunk,
  pushSessionExists,
  readyUser,
  scopeUsers,
} from '../support/push-builders.js';
import { syncClient } from '../support/sync-http.js';

describe('POST /sync/push-sessions/{push_id}/commit', () => {
  let t: OversyncTestApp;
  let schema: string;
  const client = (user: string, source = 'writer') => syncClient(t.baseUrl, user, source);
  const ready = (source = 'writer') => readyUser(t.baseUrl, source);
  const usersOf = (user: string) => scopeUsers(t.db.url, schema, user);
  const sessionExists = (pushId: string) => pushSessionExists(t.db.url, pushId);

  beforeAll(async () => {
    t = await createOversyncTestApp({ listen: true });
    schema = t.schema;
  });
  afterAll(async () => {
    await t.close();
  });

  it('keeps staged rows invisible until commit, then commits them as one bundle (D1)', async () => {
    const { user, c } = await ready();
    const id = newId();
    const pushId = await stageRows(c, 1, [insertUser(schema, id, 'Ada')]);
    expect(await usersOf(user)).toEqual([]);
    expect(await bundleCount(t.db.url, user)).toBe(0);
    const reply = await commitSession(c, pushId);
    expect(reply.status).toBe(200);
    expect(Object.keys(reply.json)).toEqual([
      'bundle_seq',
      'source_id',
      'source_bundle_id',
      'row_count',
      'bundle_hash',
    ]);
    expect(reply.json).toMatchObject({
      bundle_seq: 1,
      source_id: 'writer',
      source_bundle_id: 1,
      row_count: 1,
    });
    expect(reply.json.bundle_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(await usersOf(user)).toEqual([{ id, name: 'Ada', email: 'ada@example.com' }]);
    expect(await bundleCount(t.db.url, user)).toBe(1);
    expect(await sessionExists(pushId)).toBe(false);
    expect(
      await dbRows(t.db.url, 'SELECT 1 FROM sync.push_session_rows WHERE push_id = $1', [pushId]),
    ).toEqual([]);
    const [source] = await dbRows(
      t.db.url,
      `SELECT state, max_committed_source_bundle_id::int AS max FROM sync.source_state s JOIN sync.user_state u USING (user_pk)
        WHERE u.user_id = $1 AND s.source_id = 'writer'`,
      [user],
    );
    expect(source).toEqual({ state: 'active', max: 1 });
  });

  it('serves the server after-image: defaults filled in, no hidden scope column (D25)', async () => {
    const { c } = await ready();
    const id = newId();
    const commit = await pushOk(c, 1, [insertUser(schema, id, 'Ada')]);
    const { rows } = await fetchCommittedRows(c, commit.bundle_seq as number);
    expect(Object.keys(rows[0].payload!).sort()).toEqual(['created_at', 'email', 'id', 'name', 'updated_at']);
    expect(rows[0].payload!.created_at).toMatch(/^\d{4}-\d{2}-\d{2}T.*\+00:00$/);
  });

  it('keeps upload order for inserts, updates and deletes (D2)', async () => {
    const { c } = await ready();
    const high = 'ffffffff-ffff-ffff-ffff-ffffffffffff';
    const low = '00000000-0000-0000-0000-000000000001';
    const seq1 = await pushOk(c, 1, [insertUser(schema, high, 'Grace'), insertUser(schema, low, 'Ada')]);
    const seq2 = await pushOk(c, 2, [
      updateUser(schema, high, 1, { name: 'Grace 2' }),
      updateUser(schema, low, 1, { name: 'Ada 2' }),
    ]);
    const seq3 = await pushOk(c, 3, [
      deleteRow(schema, 'users', high, 2),
      deleteRow(schema, 'users', low, 2),
    ]);
    for (const [commit, op] of [
      [seq1, 'INSERT'],
      [seq2, 'UPDATE'],
      [seq3, 'DELETE'],
    ] as const) {
      const { rows, pages } = await fetchCommittedRows(c, commit.bundle_seq as number);
      expect(rows.map((r) => [r.key.id, r.op])).toEqual([
        [high, op],
        [low, op],
      ]);
      expect(pages[0]).toMatchObject({ next_row_ordinal: 1, has_more: false });
    }
  });

  it('answers push_commit_invalid for incomplete staging and keeps the session (D6)', async () => {
    const { c } = await ready();
    const pushId = (await createSession(c, 1, 2)).json.push_id as string;
    await uploadChunk(c, pushId, 0, [insertUser(schema, newId(), 'Only')]);
    const reply = await commitSession(c, pushId);
    expect(reply.status).toBe(400);
    expect(reply.json).toEqual({
      error: 'push_commit_invalid',
      message: 'staged row count 1 does not match planned_row_count 2',
    });
    expect(await sessionExists(pushId)).toBe(true);
  });

  it('answers push_commit_invalid for non-contiguous staged ordinals (D6, via tampering)', async () => {
    const { c } = await ready();
    const pushId = (await createSession(c, 1, 2)).json.push_id as string;
    await uploadChunk(c, pushId, 0, [insertUser(schema, newId(), 'A'), insertUser(schema, newId(), 'B')]);
    await dbRows(
      t.db.url,
      'UPDATE sync.push_session_rows SET row_ordinal = 7 WHERE push_id = $1 AND row_ordinal = 1',
      [pushId],
    );
    const reply = await commitSession(c, pushId);
    expect(reply.json).toEqual({
      error: 'push_commit_invalid',
      message: 'staged rows are not contiguous at row_ordinal 1',
    });
  });

  it('rejects the same row staged in two chunks (D4)', async () => {
    const { user, c } = await ready();
    const id = newId();
    const pushId = (await createSession(c, 1, 2)).json.push_id as string;
    await uploadChunk(c, pushId, 0, [insertUser(schema, id, 'First')]);
    await uploadChunk(c, pushId, 1, [updateUser(schema, id, 0, { name: 'Second' })]);
    const reply = await commitSession(c, pushId);
    expect(reply.status).toBe(400);
    expect(reply.json).toEqual({
      error: 'push_commit_invalid',
      message: `duplicate target row in staged push session: ${schema}.users ${id}`,
    });
    expect(await usersOf(user)).toEqual([]);
  });

  it('reports the first staging problem in upload order: a duplicate before a later gap', async () => {
    const { c } = await ready();
    const id = newId();
    const pushId = (await createSession(c, 1, 3)).json.push_id as string;
    await uploadChunk(c, pushId, 0, [insertUser(schema, id, 'First')]);
    await uploadChunk(c, pushId, 1, [updateUser(schema, id, 0, { name: 'Again' })]);
    await uploadChunk(c, pushId, 2, [insertUser(schema, newId(), 'Last')]);
    await dbRows(
      t.db.url,
      'UPDATE sync.push_session_rows SET row_ordinal = 9 WHERE push_id = $1 AND row_ordinal = 2',
      [pushId],
    );
    expect((await commitSession(c, pushId)).json).toEqual({
      error: 'push_commit_invalid',
      message: `duplicate target row in staged push session: ${schema}.users ${id}`,
    });
    // With the duplicate gone, the gap is what remains.
    await dbRows(t.db.url, 'DELETE FROM sync.push_session_rows WHERE push_id = $1 AND row_ordinal = 1', [
      pushId,
    ]);
    await dbRows(
      t.db.url,
      "INSERT INTO sync.push_session_rows (push_id, row_ordinal, table_id, key_bytes, op_code, base_bundle_seq, payload_apply) SELECT push_id, 1, table_id, key_bytes || '\\x00'::bytea, op_code, base_bundle_seq, payload_apply FROM sync.push_session_rows WHERE push_id = $1 AND row_ordinal = 0",
      [pushId],
    );
    expect((await commitSession(c, pushId)).json).toEqual({
      error: 'push_commit_invalid',
      message: 'staged rows are not contiguous at row_ordinal 2',
    });
  });

  it('accepts a column added after start-up and refuses one dropped since', async () => {
    const { user, c } = await ready();
    await dbRows(t.db.url, `ALTER TABLE ${schema}.users ADD COLUMN nickname text`);
    try {
      const id = newId();
      expect((await pushRows(c, 1, [insertUser(schema, id, 'Ada', { nickname: 'ace' })])).status).toBe(200);
      expect(
        await dbRows(t.db.url, `SELECT nickname FROM ${schema}.users WHERE _sync_scope_id = $1`, [user]),
      ).toEqual([{ nickname: 'ace' }]);
    } finally {
      await dbRows(t.db.url, `ALTER TABLE ${schema}.users DROP COLUMN nickname`);
    }
    const pushId = (await createSession(c, 2, 1)).json.push_id as string;
    const reply = await uploadChunk(c, pushId, 0, [insertUser(schema, newId(), 'Bo', { nickname: 'b' })]);
    expect(reply.status).toBe(400);
    expect(reply.json).toEqual({
      error: 'push_chunk_invalid',
      message: `payload column ${schema}.users.nickname does not exist`,
    });
  });

  it('validates a chunk against a column retyped to bytea since the last chunk, not the columns read before', async () => {
    // The server keeps the columns it read for earlier chunks; a chunk validated against them
    // would stage base64 text as the bytes of its letters. The staging statement notices the
    // change and the chunk is validated again against the columns as they are now.
    const { user, c } = await ready();
    await dbRows(t.db.url, `ALTER TABLE ${schema}.users ADD COLUMN badge text`);
    try {
      expect((await pushRows(c, 1, [insertUser(schema, newId(), 'Ada', { badge: 'text' })])).status).toBe(
        200,
      );
      await dbRows(t.db.url, `ALTER TABLE ${schema}.users ALTER COLUMN badge TYPE bytea USING badge::bytea`);
      const id = newId();
      expect((await pushRows(c, 2, [insertUser(schema, id, 'Bo', { badge: 'aGk=' })])).status).toBe(200);
      expect(
        await dbRows(
          t.db.url,
          `SELECT encode(badge, 'escape') AS badge FROM ${schema}.users WHERE _sync_scope_id = $1 AND id = $2`,
          [user, id],
        ),
      ).toEqual([{ badge: 'hi' }]);
    } finally {
      await dbRows(t.db.url, `ALTER TABLE ${schema}.users DROP COLUMN badge`);
    }
  });

  it('refuses a column dropped since the last chunk before looking up the session', async () => {
    const { c } = await ready();
    await dbRows(t.db.url, `ALTER TABLE ${schema}.users ADD COLUMN motto text`);
    expect((await pushRows(c, 1, [insertUser(schema, newId(), 'Ada', { motto: 'go' })])).status).toBe(200);
    await dbRows(t.db.url, `ALTER TABLE ${schema}.users DROP COLUMN motto`);
    // An unknown session: the chunk's own fault is answered first, as go-oversync orders its checks.
    const reply = await uploadChunk(c, '00000000-0000-4000-8000-000000000000', 0, [
      insertUser(schema, newId(), 'Bo', { motto: 'stop' }),
    ]);
    expect(reply.status).toBe(400);
    expect(reply.json).toEqual({
      error: 'push_chunk_invalid',
      message: `payload column ${schema}.users.motto does not exist`,
    });
  });

  it('commits a seeding session and moves the scope to INITIALIZED (C2)', async () => {
    const user = newUser();
    const c = client(user, 'device-a');
    const lease = await connect(c, true);
    const reply = await pushRows(
      c,
      1,
      [insertUser(schema, newId(), 'Seed')],
      lease.json.initialization_id as string,
    );
    expect(reply.json).toMatchObject({ bundle_seq: 1, source_id: 'device-a' });
    expect(await scopeState(t.db.url, user)).toMatchObject({
      state_code: 2,
      initialized_by_source_id: 'device-a',
      initialization_id: null,
      lease_expires_at: null,
    });
    expect((await connect(client(user, 'device-b'), true)).json).toEqual({
      resolution: 'remote_authoritative',
    });
  });

  it('refuses a seeding commit after the lease lapsed and writes nothing (C7)', async () => {
    const user = newUser();
    const c = client(user, 'device-a');
    const lease = await connect(c, true);
    const pushId = await stageRows(
      c,
      1,
      [insertUser(schema, newId(), 'Late')],
      lease.json.initialization_id as string,
    );
    await dbRows(
      t.db.url,
      `UPDATE sync.scope_state SET lease_expires_at = clock_timestamp() - interval '1 second'
        WHERE user_pk = (SELECT user_pk FROM sync.user_state WHERE user_id = $1)`,
      [user],
    );
    const reply = await commitSession(c, pushId);
    expect(reply.status).toBe(409);
    expect(reply.json).toEqual({ error: 'initialization_stale', message: 'scope is no longer initializing' });
    expect(await usersOf(user)).toEqual([]);
    expect(await scopeState(t.db.url, user)).toMatchObject({ state_code: 1 });
  });

  it('answers source_sequence_changed when a server write took the staged id first (D14)', async () => {
    const { user, c } = await ready();
    const pushId = await stageRows(c, 1, [insertUser(schema, newId(), 'Client')]);
    await t
      .get(ScopeManager)
      .execWrite(user, { writerId: 'writer' }, (trx) =>
        sql`INSERT INTO business.users (id, name, email) VALUES (${newId()}::uuid, 'Server', 's@x.io')`.execute(
          trx,
        ),
      );
    const reply = await commitSession(c, pushId);
    expect(reply.status).toBe(409);
    expect(reply.json).toEqual({
      error: 'source_sequence_changed',
      message: `source writer for user ${user} changed expected next source_bundle_id from staged 1 to 2 before commit`,
    });
    expect((await usersOf(user)).map((u) => u.name)).toEqual(['Server']);
    expect(await sessionExists(pushId)).toBe(true);
  });

  it('fails a stale commit closed after the source was retired (D16)', async () => {
    const { user, c } = await ready();
    await pushOk(c, 1, [insertUser(schema, newId(), 'Ada')]);
    const pushId = await stageRows(c, 2, [insertUser(schema, newId(), 'Stale')]);
    await dbRows(
      t.db.url,
      `UPDATE sync.source_state SET state = 'retired', replaced_by_source_id = 'writer-2', retirement_reason = 'history_pruned'
        WHERE source_id = 'writer' AND user_pk = (SELECT user_pk FROM sync.user_state WHERE user_id = $1)`,
      [user],
    );
    const reply = await commitSession(c, pushId);
    expect(reply.status).toBe(409);
    expect(reply.json).toEqual({
      error: 'source_retired',
      message: `source writer for user ${user} was retired and replaced by writer-2`,
      source_id: 'writer',
      replaced_by_source_id: 'writer-2',
    });
    expect(await bundleCount(t.db.url, user)).toBe(1);
  });

  it('answers 405 for other methods on the commit route', async () => {
    const reply = await client(newUser())({ method: 'GET', path: `/sync/push-sessions/${newId()}/commit` });
    expect(reply.status).toBe(405);
    expect(reply.json).toEqual({ error: 'method_not_allowed', message: 'Only POST method is allowed' });
  });
});
