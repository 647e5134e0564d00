/**
 * Idempotency of push create over real HTTP: `already_committed` replays with identical metadata,
 * the retained floor, retired sources and the seeding-push replay we add over go-oversync
 * (scenarios D9, D15, D16; wire-protocol §14.16).
 */
import { createOversyncTestApp, type OversyncTestApp } from '../support/oversync-app.js';
import {
  bundleCount,
  commitSession,
  connect,
  createSession,
  dbRows,
  deleteSession,
  initializeEmpty,
  insertUser,
  newId,
  newUser,
  pushOk,
  stageRows,
  userPushSessions,
} from '../support/push-builders.js';
import { syncClient } from '../support/sync-http.js';

const TTL = 300;
const REPLAYS =
  'SELECT (CASE WHEN is_called THEN last_value ELSE 0 END)::text AS n FROM sync.accepted_push_replay_seq';

describe('POST /sync/push-sessions replay', () => {
  let t: OversyncTestApp;
  let schema: string;
  const client = (user: string, source = 'writer') => syncClient(t.baseUrl, user, source);
  const sessions = (user: string) => userPushSessions(t.db.url, user);

  beforeAll(async () => {
    t = await createOversyncTestApp({ listen: true, options: { limits: { pushSessionTtlSeconds: TTL } } });
    schema = t.schema;
  });
  afterAll(async () => {
    await t.close();
  });

  it('replays a committed tuple as already_committed with identical metadata; commit and delete then 404 (D9)', async () => {
    const user = newUser();
    const c = client(user);
    await initializeEmpty(c);
    const pushId = await stageRows(c, 1, [
      insertUser(schema, newId(), 'Ada'),
      insertUser(schema, newId(), 'Grace'),
    ]);
    const committed = await commitSession(c, pushId);
    expect(committed.status).toBe(200);

    const again = await commitSession(c, pushId);
    expect(again.status).toBe(404);
    expect(again.json).toEqual({
      error: 'push_session_not_found',
      message: `push session ${pushId} was not found`,
    });
    expect((await deleteSession(c, pushId)).status).toBe(404);

    const [replays] = await dbRows<{ n: string }>(t.db.url, REPLAYS);
    const replay = await createSession(c, 1, 2);
    expect(replay.status).toBe(200);
    expect(Object.keys(replay.json)).toEqual([
      'status',
      'bundle_seq',
      'source_id',
      'source_bundle_id',
      'row_count',
      'bundle_hash',
    ]);
    expect(replay.json).toEqual({ status: 'already_committed', ...committed.json });
    expect(await bundleCount(t.db.url, user)).toBe(1);
    expect(await sessions(user)).toEqual([]);
    const [after] = await dbRows<{ n: string }>(t.db.url, REPLAYS);
    expect(Number(after.n)).toBe(Number(replays.n) + 1);
  });

  it('answers history_pruned for a committed tuple at or below the retained floor (D15)', async () => {
    const user = newUser();
    const c = client(user);
    await initializeEmpty(c);
    await pushOk(c, 1, [insertUser(schema, newId(), 'One')]);
    const second = await pushOk(c, 2, [insertUser(schema, newId(), 'Two')]);
    await dbRows(t.db.url, 'UPDATE sync.user_state SET retained_bundle_floor = 1 WHERE user_id = $1', [user]);
    const pruned = await createSession(c, 1, 1);
    expect(pruned.status).toBe(409);
    expect(pruned.json).toEqual({
      error: 'history_pruned',
      message: `source tuple (writer, 1) for user ${user} is older than retained duplicate history; max committed source_bundle_id is 2`,
    });
    expect(await createSession(c, 2, 1)).toMatchObject({
      json: { status: 'already_committed', ...second },
    });
  });

  it('refuses a retired source with the source_retired body but still replays its retained tuples (D16)', async () => {
    const user = newUser();
    const c = client(user);
    await initializeEmpty(c);
    const first = await pushOk(c, 1, [insertUser(schema, newId(), 'Ada')]);
    await dbRows(
      t.db.url,
      `UPDATE sync.source_state SET state = 'retired', replaced_by_source_id = 'writer-2', retirement_reason = 'history_pruned'
        WHERE source_id = 'writer' AND user_pk = (SELECT user_pk FROM sync.user_state WHERE user_id = $1)`,
      [user],
    );
    expect((await createSession(c, 1, 1)).json).toEqual({ status: 'already_committed', ...first });
    const refused = await createSession(c, 2, 1);
    expect(refused.status).toBe(409);
    expect(refused.text).toBe(
      `{"error":"source_retired","message":"source writer for user ${user} was retired and replaced by writer-2","source_id":"writer","replaced_by_source_id":"writer-2"}\n`,
    );
  });

  it('replays a committed seeding push retried with its initialization_id (better than go-oversync, §14.16)', async () => {
    const user = newUser();
    const c = client(user, 'device-a');
    const lease = await connect(c, true);
    const id = lease.json.initialization_id as string;
    const seeded = await commitSession(c, await stageRows(c, 1, [insertUser(schema, newId(), 'Seed')], id));
    expect(seeded.status).toBe(200);
    expect((await createSession(c, 1, 1, id)).json).toEqual({
      status: 'already_committed',
      ...seeded.json,
    });
    expect((await createSession(c, 2, 1, id)).json.error).toBe('push_session_invalid');
  });
});
