/**
 * Push-session delete, TTL expiry and ownership over real HTTP: 204/404/403/410 on chunk, commit
 * and delete, TTL refresh, push id parsing (scenarios D10–D12).
 */
import { createOversyncTestApp, type OversyncTestApp } from '../support/oversync-app.js';
import {
  commitSession,
  createSession,
  dbRows,
  deleteSession,
  initializeEmpty,
  insertUser,
  newId,
  newUser,
  uploadChunk,
  userPushSessions,
  expirePushSession,
} from '../support/push-builders.js';
import { syncClient } from '../support/sync-http.js';

const TTL = 300;

describe('push session lifecycle', () => {
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

  describe('delete, expiry and ownership', () => {
    it('discards a staging session with 204 and an empty body; the tuple can start again (D12)', async () => {
      const user = newUser();
      const c = client(user);
      await initializeEmpty(c);
      const pushId = (await createSession(c, 1, 2)).json.push_id as string;
      await uploadChunk(c, pushId, 0, [insertUser(schema, newId(), 'Gone')]);
      const reply = await deleteSession(c, pushId);
      expect(reply.status).toBe(204);
      expect(reply.text).toBe('');
      expect(
        await dbRows(t.db.url, 'SELECT 1 FROM sync.push_session_rows WHERE push_id = $1', [pushId]),
      ).toEqual([]);
      expect((await uploadChunk(c, pushId, 1, [insertUser(schema, newId(), 'X')])).status).toBe(404);
      expect((await commitSession(c, pushId)).status).toBe(404);
      expect((await createSession(c, 1, 1)).json.status).toBe('staging');
    });

    it('answers 410 push_session_expired on chunk, commit and delete of an expired session (D10)', async () => {
      const user = newUser();
      const c = client(user);
      await initializeEmpty(c);
      const pushId = (await createSession(c, 1, 1)).json.push_id as string;
      await expire(pushId);
      const body = {
        error: 'push_session_expired',
        message: `push session ${pushId} has expired; start a new push session`,
      };
      for (const reply of [
        await uploadChunk(c, pushId, 0, [insertUser(schema, newId(), 'Late')]),
        await commitSession(c, pushId),
        await deleteSession(c, pushId),
      ]) {
        expect(reply.status).toBe(410);
        expect(reply.json).toEqual(body);
      }
      expect(await sessions(user)).toHaveLength(1);
    });

    it('refreshes the session TTL on every chunk (D10)', async () => {
      const user = newUser();
      const c = client(user);
      await initializeEmpty(c);
      const pushId = (await createSession(c, 1, 2)).json.push_id as string;
      await dbRows(
        t.db.url,
        "UPDATE sync.push_sessions SET expires_at = clock_timestamp() + interval '2 seconds' WHERE push_id = $1",
        [pushId],
      );
      await uploadChunk(c, pushId, 0, [insertUser(schema, newId(), 'Fresh')]);
      expect((await sessions(user))[0].ttl_left as number).toBeGreaterThan(TTL - 5);
    });

    it('answers 404 for unknown and malformed ids and 403 for another user’s session (D11)', async () => {
      const owner = newUser();
      await initializeEmpty(client(owner));
      const pushId = (await createSession(client(owner), 1, 1)).json.push_id as string;
      const intruder = client(newUser(), 'writer');
      const row = [insertUser(schema, newId(), 'Intruder')];
      for (const id of [newId(), 'not-a-uuid', '12345']) {
        for (const reply of [
          await uploadChunk(intruder, id, 0, row),
          await commitSession(intruder, id),
          await deleteSession(intruder, id),
        ]) {
          expect(reply.status).toBe(404);
          expect(reply.json).toEqual({
            error: 'push_session_not_found',
            message: `push session ${id} was not found`,
          });
        }
      }
      for (const reply of [
        await uploadChunk(intruder, pushId, 0, row),
        await commitSession(intruder, pushId),
        await deleteSession(intruder, pushId),
      ]) {
        expect(reply.status).toBe(403);
        expect(reply.json).toEqual({
          error: 'push_session_forbidden',
          message: `push session ${pushId} does not belong to the authenticated user`,
        });
      }
      expect(await sessions(owner)).toHaveLength(1);
    });

    it('accepts the push id in any case and echoes it as sent (go-oversync echoes the path value)', async () => {
      const user = newUser();
      const c = client(user);
      await initializeEmpty(c);
      const pushId = (await createSession(c, 1, 1)).json.push_id as string;
      const reply = await uploadChunk(c, pushId.toUpperCase(), 0, [insertUser(schema, newId(), 'Upper')]);
      expect(reply.text).toBe(`{"push_id":"${pushId.toUpperCase()}","next_expected_row_ordinal":1}\n`);
    });

    it('answers 405 on the session path for methods other than DELETE', async () => {
      const reply = await client(newUser())({ method: 'GET', path: `/sync/push-sessions/${newId()}` });
      expect(reply.status).toBe(405);
      expect(reply.json).toEqual({ error: 'method_not_allowed', message: 'Only DELETE method is allowed' });
    });
  });
});
