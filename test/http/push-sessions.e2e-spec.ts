/**
 * Push-session create over real HTTP: validation order, the scope-state gate, sequencing, replay
 * (`already_committed`) and hard replace (scenarios B8, C8–C10, D7, D9, D13, D15, D16).
 */
import { createOversyncTestApp, type OversyncTestApp } from '../support/oversync-app.js';
import {
  connect,
  createSession,
  dbRows,
  initializeEmpty,
  insertUser,
  newId,
  newUser,
  pushOk,
  scopeState,
  uploadChunk,
  userPushSessions,
  expirePushSession,
} from '../support/push-builders.js';
import { syncCall, syncClient } from '../support/sync-http.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const TTL = 300;

describe('POST /sync/push-sessions', () => {
  let t: OversyncTestApp;
  let schema: string;
  const client = (user: string, source = 'writer') => syncClient(t.baseUrl, user, source);
  const sessions = (user: string) => userPushSessions(t.db.url, user);
  const expire = (pushId: string) => expirePushSession(t.db.url, pushId);

  beforeAll(async () => {
    t = await createOversyncTestApp({ listen: true, options: { limits: { pushSessionTtlSeconds: TTL } } });
    schema = t.schema;
  });
  afterAll(async () => {
    await t.close();
  });

  describe('create', () => {
    it('opens a staging session without next_expected_row_ordinal and stores it for the header source', async () => {
      const user = newUser();
      const c = client(user);
      await initializeEmpty(c);
      const reply = await syncCall(t.baseUrl, {
        path: '/sync/push-sessions',
        user,
        source: 'writer',
        body: { source_id: 'wrong-source', source_bundle_id: 1, planned_row_count: 3 },
      });
      expect(reply.status).toBe(200);
      expect(Object.keys(reply.json)).toEqual(['push_id', 'status', 'planned_row_count']);
      expect(reply.json).toMatchObject({ status: 'staging', planned_row_count: 3 });
      expect(reply.json.push_id).toMatch(UUID);
      const [row] = await sessions(user);
      expect(row).toMatchObject({
        push_id: reply.json.push_id,
        source_id: 'writer',
        source_bundle_id: 1,
        planned: 3,
        next: 0,
        initialization_id: null,
      });
      expect(row.ttl_left as number).toBeGreaterThan(TTL - 5);
      expect(row.ttl_left as number).toBeLessThanOrEqual(TTL);
    });

    it.each([
      ['source_bundle_id 0', { source_bundle_id: 0, planned_row_count: 1 }, 'source_bundle_id must be > 0'],
      [
        'negative source_bundle_id',
        { source_bundle_id: -3, planned_row_count: 1 },
        'source_bundle_id must be > 0',
      ],
      ['planned_row_count 0', { source_bundle_id: 1, planned_row_count: 0 }, 'planned_row_count must be > 0'],
      ['an empty object', {}, 'source_bundle_id must be > 0'],
      ['null fields', { source_bundle_id: null, planned_row_count: 1 }, 'source_bundle_id must be > 0'],
    ])(
      'rejects %s with 400 push_session_invalid before any scope check (B8)',
      async (_name, body, message) => {
        const user = newUser();
        const reply = await client(user)({ method: 'POST', path: '/sync/push-sessions', body });
        expect(reply.status).toBe(400);
        expect(reply.json).toEqual({ error: 'push_session_invalid', message });
        expect(await scopeState(t.db.url, user)).toBeUndefined();
      },
    );

    it.each([
      ['malformed JSON', '{"source_bundle_id":'],
      ['an empty body', ''],
      ['a string id', '{"source_bundle_id":"1","planned_row_count":1}'],
      ['a fractional count', '{"source_bundle_id":1,"planned_row_count":1.5}'],
      ['a numeric initialization_id', '{"source_bundle_id":1,"planned_row_count":1,"initialization_id":7}'],
      ['an array', '[1]'],
    ])('rejects %s with 400 invalid_request (B4)', async (_name, body) => {
      const reply = await syncCall(t.baseUrl, {
        method: 'POST',
        path: '/sync/push-sessions',
        user: newUser(),
        source: 's',
        body,
      });
      expect(reply.status).toBe(400);
      expect(reply.text).toBe(
        '{"error":"invalid_request","message":"Failed to parse push session request"}\n',
      );
    });

    it('refuses an uninitialized scope with 409 scope_uninitialized and leaves nothing behind (C10)', async () => {
      const user = newUser();
      const reply = await createSession(client(user), 1, 1);
      expect(reply.status).toBe(409);
      expect(reply.json.error).toBe('scope_uninitialized');
      expect(reply.json.message).toContain(user);
      expect(await scopeState(t.db.url, user)).toBeUndefined();
      expect(await sessions(user)).toEqual([]);
    });

    it('answers 410 initialization_expired for an id sent after the lease lapsed, and rolls the expiry back (C8)', async () => {
      const user = newUser();
      const c = client(user, 'device-a');
      const lease = await connect(c, true);
      await dbRows(
        t.db.url,
        `UPDATE sync.scope_state SET lease_expires_at = clock_timestamp() - interval '1 second'
          WHERE user_pk = (SELECT user_pk FROM sync.user_state WHERE user_id = $1)`,
        [user],
      );
      const reply = await createSession(c, 1, 1, lease.json.initialization_id as string);
      expect(reply.status).toBe(410);
      expect(reply.json).toEqual({
        error: 'initialization_expired',
        message: 'initialization lease is no longer active',
      });
      // Lazy expiry happened inside the failed transaction, so it was rolled back, as in go-oversync.
      expect(await scopeState(t.db.url, user)).toMatchObject({
        state_code: 1,
        initializer_source_id: 'device-a',
      });
    });

    it('enforces the initialization_id rules of the scope state (C9)', async () => {
      const user = newUser();
      const owner = client(user, 'device-a');
      const lease = await connect(owner, true);
      const id = lease.json.initialization_id as string;

      const missing = await createSession(owner, 1, 1);
      expect(missing.status).toBe(400);
      expect(missing.json).toEqual({
        error: 'push_session_invalid',
        message: 'initialization_id is required while the scope is initializing',
      });
      const missingOther = await createSession(client(user, 'device-b'), 1, 1);
      expect(missingOther.json.error).toBe('push_session_invalid');

      const otherSource = await createSession(client(user, 'device-b'), 1, 1, id);
      expect(otherSource.status).toBe(409);
      expect(otherSource.json).toEqual({
        error: 'initialization_stale',
        message: 'source does not own the active initialization lease',
      });
      const wrongId = await createSession(owner, 1, 1, newId());
      expect(wrongId.status).toBe(409);
      expect(wrongId.json).toEqual({
        error: 'initialization_stale',
        message: 'initialization_id does not match the active initialization lease',
      });

      const before = (await scopeState(t.db.url, user))!.lease_expires_at as Date;
      const ok = await createSession(owner, 1, 1, `  ${id}  `);
      expect(ok.json.status).toBe('staging');
      expect((await sessions(user))[0]).toMatchObject({ initialization_id: id, source_id: 'device-a' });
      expect(((await scopeState(t.db.url, user))!.lease_expires_at as Date).getTime()).toBeGreaterThan(
        before.getTime(),
      );

      const initialized = newUser();
      await initializeEmpty(client(initialized));
      const present = await createSession(client(initialized), 1, 1, id);
      expect(present.status).toBe(400);
      expect(present.json).toEqual({
        error: 'push_session_invalid',
        message: 'initialization_id must be absent once the scope is initialized',
      });
    });

    it('requires contiguous source_bundle_ids per source, starting at 1 (D13)', async () => {
      const user = newUser();
      const c = client(user);
      await initializeEmpty(c);
      const gap = await createSession(c, 2, 1);
      expect(gap.status).toBe(409);
      expect(gap.json).toEqual({
        error: 'source_sequence_out_of_order',
        message: `source writer for user ${user} expected next source_bundle_id 1, got 2`,
      });
      await pushOk(c, 1, [insertUser(schema, newId(), 'Ada')]);
      const skip = await createSession(c, 3, 1);
      expect(skip.json.message).toBe(
        `source writer for user ${user} expected next source_bundle_id 2, got 3`,
      );
      expect((await createSession(c, 2, 1)).json.status).toBe('staging');
      expect((await createSession(client(user, 'reader'), 1, 1)).json.status).toBe('staging');
    });

    it('hard-replaces the staging session of the same tuple: the old id and its rows are gone (D7)', async () => {
      const user = newUser();
      const c = client(user);
      await initializeEmpty(c);
      const first = await createSession(c, 1, 2);
      const p1 = first.json.push_id as string;
      expect((await uploadChunk(c, p1, 0, [insertUser(schema, newId(), 'Partial')])).status).toBe(200);
      const second = await createSession(c, 1, 2);
      const p2 = second.json.push_id as string;
      expect(p2).not.toBe(p1);
      const stale = await uploadChunk(c, p1, 1, [insertUser(schema, newId(), 'Late')]);
      expect(stale.status).toBe(404);
      expect(stale.json).toEqual({
        error: 'push_session_not_found',
        message: `push session ${p1} was not found`,
      });
      expect(await dbRows(t.db.url, 'SELECT 1 FROM sync.push_session_rows WHERE push_id = $1', [p1])).toEqual(
        [],
      );
      expect((await sessions(user)).map((s) => s.push_id)).toEqual([p2]);
    });

    it('purges expired sessions of every user when a session is created', async () => {
      const other = newUser();
      await initializeEmpty(client(other));
      const stale = (await createSession(client(other), 1, 2)).json.push_id as string;
      expect(
        (await uploadChunk(client(other), stale, 0, [insertUser(schema, newId(), 'Stale')])).status,
      ).toBe(200);
      await expire(stale);
      const user = newUser();
      await initializeEmpty(client(user));
      await createSession(client(user), 1, 1);
      expect(await dbRows(t.db.url, 'SELECT 1 FROM sync.push_sessions WHERE push_id = $1', [stale])).toEqual(
        [],
      );
      // Staged rows go with their session (they have no foreign key to cascade through).
      expect(
        await dbRows(t.db.url, 'SELECT 1 FROM sync.push_session_rows WHERE push_id = $1', [stale]),
      ).toEqual([]);
    });

    it('answers 405 for other methods and 401 without a user', async () => {
      const wrong = await client(newUser())({ method: 'GET', path: '/sync/push-sessions' });
      expect(wrong.status).toBe(405);
      expect(wrong.json).toEqual({ error: 'method_not_allowed', message: 'Only POST method is allowed' });
      const anonymous = await syncCall(t.baseUrl, {
        path: '/sync/push-sessions',
        source: 's',
        body: { source_bundle_id: 1 },
      });
      expect(anonymous.status).toBe(401);
      expect(anonymous.json.error).toBe('authentication_failed');
    });
  });
});
