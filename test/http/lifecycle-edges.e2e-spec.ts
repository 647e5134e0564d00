/**
 * Edge cases of the scope lifecycle and source sequencing over real HTTP: lease expiry at
 * the boundary (a request that waits for the scope lock while the lease lapses), concurrent first
 * connects and rotations, a retired source on every route, replays after pruning and the decoding
 * of `source_replacement`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { createOversyncTestApp, type OversyncTestApp } from '../support/oversync-app.js';
import {
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
  scopeState,
  stageRows,
  uploadChunk,
  setScopeLease,
} from '../support/push-builders.js';
import { syncCall, syncClient, type SyncReply } from '../support/sync-http.js';

const LEASE_TTL = 120;

describe('scope lifecycle and source sequencing', () => {
  let t: OversyncTestApp;
  let schema: string;
  const client = (user: string, source: string) => syncClient(t.baseUrl, user, source);
  const setLease = (user: string, expr: string) => setScopeLease(t.db.url, user, expr);
  const sources = async (user: string) =>
    dbRows<Record<string, unknown>>(
      t.db.url,
      `SELECT source_id, state, max_committed_source_bundle_id::int AS max, replaced_by_source_id AS replaced_by
         FROM sync.source_state s JOIN sync.user_state u USING (user_pk) WHERE u.user_id = $1 ORDER BY source_id`,
      [user],
    );
  const rotate = (user: string, header: string, replacement: Record<string, unknown>) =>
    client(
      user,
      header,
    )({
      method: 'POST',
      path: '/sync/snapshot-sessions',
      body: { source_replacement: replacement },
    });
  const snapshotCount = async (user: string) =>
    (
      await dbRows<{ n: number }>(
        t.db.url,
        `SELECT count(*)::int AS n FROM sync.snapshot_sessions s JOIN sync.user_state u USING (user_pk) WHERE u.user_id = $1`,
        [user],
      )
    )[0].n;

  /**
   * Sends `request` while another connection holds the user's scope lock (the advisory lock every
   * scope transaction takes), keeps the lock for `holdMs`, then releases it and returns the reply.
   * The request's transaction therefore starts before `holdMs` and gets the lock only after it.
   */
  async function afterScopeLockWait(user: string, holdMs: number, request: () => Promise<SyncReply>) {
    const blocker = new pg.Client({ connectionString: t.db.url });
    await blocker.connect();
    try {
      await blocker.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [user]);
      const pending = request();
      pending.catch(() => undefined);
      await sleep(holdMs);
      await blocker.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [user]);
      return await pending;
    } finally {
      await blocker.end();
    }
  }

  beforeAll(async () => {
    t = await createOversyncTestApp({
      listen: true,
      options: { limits: { initializationLeaseTtlSeconds: LEASE_TTL } },
    });
    schema = t.schema;
  });
  afterAll(async () => {
    await t.close();
  });

  describe('lease expiry at the boundary', () => {
    // go-oversync compares the lease with the clock after it got the scope lock
    // (expireInitializationLeaseIfNeeded / requireActiveInitializationLease use time.Now()), not
    // with the time the waiting transaction began.

    it('a connect that waited for the scope lock while the lease lapsed initializes instead of retry_later with a past lease', async () => {
      const user = newUser();
      expect((await connect(client(user, 'device-a'), true)).json.resolution).toBe('initialize_local');
      await setLease(user, "clock_timestamp() + interval '1 second'");
      const reply = await afterScopeLockWait(user, 1800, () => connect(client(user, 'device-b'), true));
      expect(reply.status).toBe(200);
      // Today: {"resolution":"retry_later","lease_expires_at":<already past>,"retry_after_seconds":1}.
      expect(reply.json.resolution).toBe('initialize_local');
      expect(await scopeState(t.db.url, user)).toMatchObject({
        state_code: 1,
        initializer_source_id: 'device-b',
      });
    });

    it('a seeding push create that got the scope lock after the lease ended is 410 initialization_expired, not a revived lease', async () => {
      const user = newUser();
      const owner = client(user, 'device-a');
      const id = (await connect(owner, true)).json.initialization_id as string;
      await setLease(user, "clock_timestamp() + interval '1 second'");
      const reply = await afterScopeLockWait(user, 1800, () => createSession(owner, 1, 1, id));
      // Today: 200 staging, and the lapsed lease is extended by another TTL.
      expect({ status: reply.status, json: reply.json }).toEqual({
        status: 410,
        json: { error: 'initialization_expired', message: 'initialization lease is no longer active' },
      });
      expect(await scopeState(t.db.url, user)).toMatchObject({
        state_code: 1,
        initializer_source_id: 'device-a',
      });
    });

    it('a seeding commit that got the scope lock after the lease ended is 409 initialization_stale and seeds nothing', async () => {
      const user = newUser();
      const owner = client(user, 'device-a');
      const id = (await connect(owner, true)).json.initialization_id as string;
      const pushId = await stageRows(owner, 1, [insertUser(schema, newId(), 'Seed')], id);
      await setLease(user, "clock_timestamp() + interval '1 second'");
      const reply = await afterScopeLockWait(user, 1800, () => commitSession(owner, pushId));
      // Today: 200, the rows are applied and the scope becomes INITIALIZED after its lease lapsed.
      expect({ status: reply.status, json: reply.json }).toEqual({
        status: 409,
        json: { error: 'initialization_stale', message: 'scope is no longer initializing' },
      });
      expect((await scopeState(t.db.url, user))?.state_code).not.toBe(2);
    });
  });

  describe('concurrency', () => {
    it('gives exactly one of two simultaneous first connects the lease; the other retries later', async () => {
      const user = newUser();
      const [a, b] = await Promise.all([
        connect(client(user, 'device-a'), true),
        connect(client(user, 'device-b'), true),
      ]);
      const resolutions = [a.json.resolution, b.json.resolution].sort();
      expect(resolutions).toEqual(['initialize_local', 'retry_later']);
      const winner = a.json.resolution === 'initialize_local' ? a : b;
      const loser = winner === a ? b : a;
      expect(loser.json.lease_expires_at).toBe(winner.json.lease_expires_at);
    });

    it('answers two identical rotations sent at once with 200 each and one reservation', async () => {
      const user = newUser();
      await initializeEmpty(client(user, 'old'));
      await pushOk(client(user, 'old'), 1, [insertUser(schema, newId(), 'Ada')]);
      const body = { previous_source_id: 'old', new_source_id: 'new', reason: 'history_pruned' };
      const replies = await Promise.all([rotate(user, 'old', body), rotate(user, 'old', body)]);
      expect(replies.map((r) => r.status)).toEqual([200, 200]);
      expect(await sources(user)).toEqual([
        { source_id: 'new', state: 'reserved', max: 0, replaced_by: '' },
        { source_id: 'old', state: 'retired', max: 1, replaced_by: 'new' },
      ]);
    });

    it('lets one of two rotations to different replacements win; the other names the winner', async () => {
      const user = newUser();
      await initializeEmpty(client(user, 'old'));
      const replies = await Promise.all([
        rotate(user, 'old', { previous_source_id: 'old', new_source_id: 'new-1', reason: 'history_pruned' }),
        rotate(user, 'old', { previous_source_id: 'old', new_source_id: 'new-2', reason: 'history_pruned' }),
      ]);
      const ok = replies.filter((r) => r.status === 200);
      const refused = replies.filter((r) => r.status !== 200);
      expect(ok).toHaveLength(1);
      expect(refused).toHaveLength(1);
      const winner = (await sources(user)).find((s) => s.source_id === 'old')!.replaced_by as string;
      expect(refused[0].status).toBe(409);
      expect(refused[0].json).toEqual({
        error: 'source_retired',
        message: `source old for user ${user} was retired and replaced by ${winner}`,
        source_id: 'old',
        replaced_by_source_id: winner,
      });
      expect(await snapshotCount(user)).toBe(1);
    });
  });

  describe('a retired source on every route', () => {
    it('is refused only where it would write (create beyond its watermark, commit), as go-oversync does', async () => {
      const user = newUser();
      const old = client(user, 'old');
      await initializeEmpty(old);
      const first = await pushOk(old, 1, [insertUser(schema, newId(), 'One')]);
      // A session opened before the rotation, staged after it.
      const another = (await createSession(old, 2, 1)).json.push_id as string;
      const rotated = await rotate(user, 'old', {
        previous_source_id: 'old',
        new_source_id: 'new',
        reason: 'source_retired',
      });
      expect(rotated.status).toBe(200);

      // connect: the scope is initialized, the source is not looked at.
      expect((await connect(old, true)).json).toEqual({ resolution: 'remote_authoritative' });
      // create: replay of a retained tuple, source_retired beyond it.
      expect((await createSession(old, 1, 1)).json).toEqual({ status: 'already_committed', ...first });
      const retired = {
        error: 'source_retired',
        message: `source old for user ${user} was retired and replaced by new`,
        source_id: 'old',
        replaced_by_source_id: 'new',
      };
      for (const id of [2, 3]) {
        const refused = await createSession(old, id, 1);
        expect(refused.status).toBe(409);
        expect(refused.json).toEqual(retired);
      }
      // chunk: no source check; commit: source_retired, also under the replacement's header.
      expect((await uploadChunk(old, another, 0, [insertUser(schema, newId(), 'Late')])).status).toBe(200);
      const commit = await commitSession(old, another);
      expect(commit.status).toBe(409);
      expect(commit.json).toEqual(retired);
      const viaNew = await commitSession(client(user, 'new'), another);
      expect(viaNew.json).toEqual(retired);
      // delete, pull, committed rows and a keep-source snapshot still work.
      expect((await deleteSession(old, another)).status).toBe(204);
      expect((await old({ path: '/sync/pull?after_bundle_seq=0' })).status).toBe(200);
      expect((await old({ path: '/sync/committed-bundles/1/rows' })).status).toBe(200);
      expect((await old({ method: 'POST', path: '/sync/snapshot-sessions' })).status).toBe(200);
      // The replacement starts at 1.
      expect(
        (await pushOk(client(user, 'new'), 1, [insertUser(schema, newId(), 'New')])).source_bundle_id,
      ).toBe(1);
    });

    it('answers source_retired before history_pruned for a retired source whose tuple was pruned', async () => {
      const user = newUser();
      const old = client(user, 'old');
      await initializeEmpty(old);
      await pushOk(old, 1, [insertUser(schema, newId(), 'One')]);
      await pushOk(old, 2, [insertUser(schema, newId(), 'Two')]);
      await dbRows(t.db.url, 'UPDATE sync.user_state SET retained_bundle_floor = 1 WHERE user_id = $1', [
        user,
      ]);
      await rotate(user, 'old', {
        previous_source_id: 'old',
        new_source_id: 'new',
        reason: 'history_pruned',
      });
      const pruned = await createSession(old, 1, 1);
      expect(pruned.status).toBe(409);
      expect(pruned.json.error).toBe('source_retired');
      expect((await createSession(old, 2, 1)).json.status).toBe('already_committed');
    });
  });

  describe('source_replacement decoding', () => {
    it.each([['constructor'], ['toString'], ['hasOwnProperty'], ['__proto__']])(
      'rejects an unknown source_replacement field named %s like any unknown field (go-oversync: DisallowUnknownFields)',
      async (field) => {
        const user = newUser();
        await initializeEmpty(client(user, 'dev'));
        const body = `{"source_replacement":{"previous_source_id":"dev","new_source_id":"dev-2","reason":"history_pruned","${field}":"x"}}`;
        const reply = await syncCall(t.baseUrl, {
          method: 'POST',
          path: '/sync/snapshot-sessions',
          user,
          source: 'dev',
          body,
        });
        expect({ status: reply.status, json: reply.json }).toEqual({
          status: 400,
          json: { error: 'snapshot_session_invalid', message: 'Failed to parse snapshot session request' },
        });
        expect(await sources(user)).toEqual([]);
      },
    );
  });

  describe('body field names (go-oversync decodes with encoding/json: case-insensitive names)', () => {
    it('reads has_local_pending_rows spelled in another case, as encoding/json does', async () => {
      const user = newUser();
      const reply = await syncCall(t.baseUrl, {
        method: 'POST',
        path: '/sync/connect',
        user,
        source: 'device-a',
        body: '{"Has_Local_Pending_Rows":true}',
      });
      expect(reply.json.resolution).toBe('initialize_local');
    });

    it('reads push create, chunk and row fields in any case; key and payload names stay as sent', async () => {
      const user = newUser();
      const c = client(user, 'device-a');
      await initializeEmpty(c);
      const id = newId();
      const created = await c({
        method: 'POST',
        path: '/sync/push-sessions',
        body: { Source_Bundle_Id: 1, PLANNED_ROW_COUNT: 1 },
      });
      expect(created.json).toMatchObject({ status: 'staging' });
      const pushId = created.json.push_id as string;
      const chunk = await c({
        method: 'POST',
        path: `/sync/push-sessions/${pushId}/chunks`,
        body: {
          Start_Row_Ordinal: 0,
          Rows: [
            {
              Schema: schema,
              TABLE: 'users',
              Key: { id },
              oP: 'INSERT',
              Base_Row_Version: 0,
              Payload: { id, name: 'Folded', email: 'f@example.com' },
            },
          ],
        },
      });
      expect(chunk.json).toEqual({ push_id: pushId, next_expected_row_ordinal: 1 });
      expect((await commitSession(c, pushId)).json.row_count).toBe(1);
      // The key map is Go's map[string]any: its names are not folded.
      const upper = newId();
      const second = await createSession(c, 2, 1);
      const bad = await uploadChunk(c, second.json.push_id as string, 0, [
        {
          schema,
          table: 'users',
          key: { ID: upper },
          op: 'INSERT',
          base_row_version: 0,
          payload: { id: upper },
        },
      ]);
      expect(bad.json).toEqual({
        error: 'push_chunk_invalid',
        message: `row key for ${schema}.users must include "id"`,
      });
    });

    it('reads source_replacement fields in any case before refusing unknown ones', async () => {
      const user = newUser();
      await initializeEmpty(client(user, 'dev'));
      const reply = await client(
        user,
        'dev',
      )({
        method: 'POST',
        path: '/sync/snapshot-sessions',
        body: {
          Source_Replacement: { PREVIOUS_SOURCE_ID: 'dev', New_Source_Id: 'dev-2', Reason: 'history_pruned' },
        },
      });
      expect(reply.status).toBe(200);
      expect((await sources(user)).map((r) => r.source_id)).toEqual(['dev', 'dev-2']);
    });
  });

  describe('seeding push and lease ownership', () => {
    it('refuses the old seeding session after the lease moved to another source, and keeps the new owner’s lease', async () => {
      const user = newUser();
      const a = client(user, 'device-a');
      const lease = await connect(a, true);
      const pushId = await stageRows(
        a,
        1,
        [insertUser(schema, newId(), 'A')],
        lease.json.initialization_id as string,
      );
      await setLease(user, "clock_timestamp() - interval '1 second'");
      const b = await connect(client(user, 'device-b'), true);
      expect(b.json.resolution).toBe('initialize_local');
      const reply = await commitSession(a, pushId);
      expect(reply.status).toBe(409);
      expect(reply.json).toEqual({
        error: 'initialization_stale',
        message: 'source does not own the active initialization lease',
      });
      expect(await scopeState(t.db.url, user)).toMatchObject({
        state_code: 1,
        initializer_source_id: 'device-b',
        initialization_id: b.json.initialization_id,
      });
    });
  });
});

describe('rotated rebuild is atomic with the snapshot', () => {
  let t: OversyncTestApp;
  beforeAll(async () => {
    t = await createOversyncTestApp({ listen: true, options: { limits: { maxRowsPerSnapshotSession: 1 } } });
  });
  afterAll(async () => {
    await t.close();
  });

  it('leaves both sources untouched when the snapshot exceeds its row cap (500)', async () => {
    const user = newUser();
    const old = syncClient(t.baseUrl, user, 'old');
    await initializeEmpty(old);
    await pushOk(old, 1, [insertUser(t.schema, newId(), 'One'), insertUser(t.schema, newId(), 'Two')]);
    const reply = await old({
      method: 'POST',
      path: '/sync/snapshot-sessions',
      body: {
        source_replacement: { previous_source_id: 'old', new_source_id: 'new', reason: 'history_pruned' },
      },
    });
    expect(reply.status).toBe(500);
    expect(reply.json.error).toBe('snapshot_session_create_failed');
    const rows = await dbRows(
      t.db.url,
      `SELECT source_id, state FROM sync.source_state s JOIN sync.user_state u USING (user_pk) WHERE u.user_id = $1`,
      [user],
    );
    expect(rows).toEqual([{ source_id: 'old', state: 'active' }]);
    // The source keeps pushing.
    expect((await pushOk(old, 2, [insertUser(t.schema, newId(), 'Three')])).source_bundle_id).toBe(2);
  });
});
