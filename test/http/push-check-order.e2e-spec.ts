/**
 * Push paths whose checks and writes share one statement: which error wins when several apply,
 * and that a refused request changes nothing (create, chunk and commit over real HTTP).
 */
import { ScopeManager } from '@oversync/nestjs';
import { sql } from 'kysely';
import { createOversyncTestApp, type OversyncTestApp } from '../support/oversync-app.js';
import {
  commitSession,
  createSession,
  dbRows,
  insertUser,
  newId,
  pushOk,
  readyUser,
  stageRows,
  stagedRows,
  updateUser,
  uploadChunk,
  userPushSessions,
  expirePushSession,
} from '../support/push-builders.js';

const TTL = 300;
const REPLAYS =
  'SELECT (CASE WHEN is_called THEN last_value ELSE 0 END)::text AS n FROM sync.accepted_push_replay_seq';

describe('push checks that share a statement with their writes', () => {
  let t: OversyncTestApp;
  let schema: string;
  const ready = () => readyUser(t.baseUrl);
  const sessions = (user: string) => userPushSessions(t.db.url, user);
  const staged = (pushId: string) => stagedRows(t.db.url, pushId);
  const expire = (pushId: string) => expirePushSession(t.db.url, pushId);
  const replays = async () => Number((await dbRows<{ n: string }>(t.db.url, REPLAYS))[0].n);
  /** A server-originated write that takes the next source_bundle_id of `writer`. */
  const serverWrite = (user: string) =>
    t
      .get(ScopeManager)
      .execWrite(user, { writerId: 'writer' }, (trx) =>
        sql`INSERT INTO business.users (id, name, email) VALUES (${newId()}::uuid, 'Server', 's@x.io')`.execute(
          trx,
        ),
      );

  beforeAll(async () => {
    t = await createOversyncTestApp({ listen: true, options: { limits: { pushSessionTtlSeconds: TTL } } });
    schema = t.schema;
  });
  afterAll(async () => {
    await t.close();
  });

  describe('create', () => {
    it('replaces an expired staging session of the same tuple (purged and replaced at once)', async () => {
      const { user, c } = await ready();
      const old = (await createSession(c, 1, 2)).json.push_id as string;
      expect((await uploadChunk(c, old, 0, [insertUser(schema, newId(), 'Partial')])).status).toBe(200);
      await expire(old);
      const reply = await createSession(c, 1, 2);
      expect(reply.status).toBe(200);
      expect(reply.json.status).toBe('staging');
      const [row] = await sessions(user);
      expect(await sessions(user)).toHaveLength(1);
      expect(row).toMatchObject({ push_id: reply.json.push_id, source_bundle_id: 1, planned: 2, next: 0 });
      expect(row.ttl_left as number).toBeGreaterThan(TTL - 5);
      expect(await staged(old)).toEqual([]);
    });

    it('replays a tuple a server write committed, counts it once and keeps the open session', async () => {
      const { user, c } = await ready();
      const pushId = await stageRows(c, 1, [insertUser(schema, newId(), 'Client')]);
      await serverWrite(user);
      const before = await replays();
      const reply = await createSession(c, 1, 1);
      expect(reply.status).toBe(200);
      expect(reply.json).toMatchObject({
        status: 'already_committed',
        bundle_seq: 1,
        source_id: 'writer',
        source_bundle_id: 1,
        row_count: 1,
      });
      expect(await replays()).toBe(before + 1);
      // The replay did not replace the session: its commit still answers for the taken id.
      expect((await sessions(user)).map((s) => s.push_id)).toEqual([pushId]);
      expect(await staged(pushId)).toHaveLength(1);
      expect((await commitSession(c, pushId)).json.error).toBe('source_sequence_changed');
    });

    it('neither replays nor opens a session out of sequence, and purges nothing then', async () => {
      const other = await ready();
      const stale = (await createSession(other.c, 1, 1)).json.push_id as string;
      await expire(stale);
      const { user, c } = await ready();
      const before = await replays();
      const reply = await createSession(c, 2, 1);
      expect(reply.status).toBe(409);
      expect(reply.json.error).toBe('source_sequence_out_of_order');
      expect(await sessions(user)).toEqual([]);
      expect(await replays()).toBe(before);
      // The refused create rolled back, purge included.
      expect((await sessions(other.user)).map((s) => s.push_id)).toEqual([stale]);
    });
    it('answers a malformed initialization_id on an initialized scope like a well-formed one', async () => {
      const { c } = await ready();
      // No retained tuple: 400, as for any initialization_id once the scope is initialized.
      const refused = await createSession(c, 1, 1, 'not-a-uuid');
      expect(refused.status).toBe(400);
      expect(refused.json.error).toBe('push_session_invalid');
      // A retained tuple: the lost-response retry of a seeding push replays it.
      await pushOk(c, 1, [insertUser(schema, newId(), 'Committed')]);
      const replay = await createSession(c, 1, 1, 'not-a-uuid');
      expect(replay.status).toBe(200);
      expect(replay.json.status).toBe('already_committed');
    });
  });

  describe('chunk', () => {
    it('answers 403 before 410 for another user’s expired session and stages nothing', async () => {
      const owner = await ready();
      const pushId = (await createSession(owner.c, 1, 1)).json.push_id as string;
      await expire(pushId);
      const intruder = await ready();
      const reply = await uploadChunk(intruder.c, pushId, 0, [insertUser(schema, newId(), 'Intruder')]);
      expect(reply.status).toBe(403);
      expect(reply.json.error).toBe('push_session_forbidden');
      expect(await staged(pushId)).toEqual([]);
    });

    it('answers 410 before out-of-order for an expired session and leaves it as it was', async () => {
      const { user, c } = await ready();
      const pushId = (await createSession(c, 1, 2)).json.push_id as string;
      expect((await uploadChunk(c, pushId, 0, [insertUser(schema, newId(), 'First')])).status).toBe(200);
      await expire(pushId);
      const reply = await uploadChunk(c, pushId, 0, [insertUser(schema, newId(), 'Again')]);
      expect(reply.status).toBe(410);
      expect(reply.json.error).toBe('push_session_expired');
      const [row] = await sessions(user);
      expect(row).toMatchObject({ next: 1 });
      expect(row.ttl_left as number).toBeLessThan(0);
      expect(await staged(pushId)).toHaveLength(1);
    });

    it('leaves position, TTL and rows untouched when a chunk is out of order or too long', async () => {
      const { user, c } = await ready();
      const pushId = (await createSession(c, 1, 2)).json.push_id as string;
      expect((await uploadChunk(c, pushId, 0, [insertUser(schema, newId(), 'First')])).status).toBe(200);
      await dbRows(
        t.db.url,
        "UPDATE sync.push_sessions SET expires_at = clock_timestamp() + interval '60 seconds' WHERE push_id = $1",
        [pushId],
      );
      const early = await uploadChunk(c, pushId, 0, [insertUser(schema, newId(), 'Early')]);
      expect(early.json.error).toBe('push_chunk_out_of_order');
      const long = await uploadChunk(c, pushId, 1, [
        insertUser(schema, newId(), 'Two'),
        insertUser(schema, newId(), 'Three'),
      ]);
      expect(long.json.error).toBe('push_chunk_invalid');
      const [row] = await sessions(user);
      expect(row).toMatchObject({ next: 1 });
      expect(row.ttl_left as number).toBeLessThan(61);
      expect((await staged(pushId)).map((r) => r.ord)).toEqual([0]);
    });
  });

  describe('commit', () => {
    it('reports incomplete staging before a conflict among the staged rows', async () => {
      const { c } = await ready();
      const x = newId();
      await pushOk(c, 1, [insertUser(schema, x, 'Alice')]);
      const pushId = (await createSession(c, 2, 2)).json.push_id as string;
      await uploadChunk(c, pushId, 0, [updateUser(schema, x, 999, { name: 'Stale' })]);
      const reply = await commitSession(c, pushId);
      expect(reply.status).toBe(400);
      expect(reply.json.error).toBe('push_commit_invalid');
    });

    it('reports a changed source sequence before a conflict among the staged rows', async () => {
      const { user, c } = await ready();
      const x = newId();
      await pushOk(c, 1, [insertUser(schema, x, 'Alice')]);
      const pushId = await stageRows(c, 2, [updateUser(schema, x, 999, { name: 'Stale' })]);
      await serverWrite(user);
      const reply = await commitSession(c, pushId);
      expect(reply.status).toBe(409);
      expect(reply.json.error).toBe('source_sequence_changed');
    });

    it('keeps a conflicting session with its rows, and ends a committed one with its rows', async () => {
      const { user, c } = await ready();
      const x = newId();
      await pushOk(c, 1, [insertUser(schema, x, 'Alice')]);
      const conflicting = await stageRows(c, 2, [updateUser(schema, x, 999, { name: 'Stale' })]);
      expect((await commitSession(c, conflicting)).json.error).toBe('push_conflict');
      expect((await sessions(user)).map((s) => s.push_id)).toEqual([conflicting]);
      expect(await staged(conflicting)).toHaveLength(1);

      const fresh = await stageRows(c, 2, [updateUser(schema, x, 1, { name: 'Alice 2' })]);
      expect(await staged(conflicting)).toEqual([]);
      expect((await commitSession(c, fresh)).status).toBe(200);
      expect(await sessions(user)).toEqual([]);
      expect(await staged(fresh)).toEqual([]);
    });
  });
});
