/**
 * Races on the push paths that share one statement between checks and writes: a commit racing a
 * discard, committed-rows reads racing the prune of their bundle, two users' creates sweeping one
 * expired session, and two chunks at one position. Each round ends in an allowed outcome, and the
 * database is checked after every round.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { computeBundleHash, type BundleRow } from '@oversync/protocol';
import { createOversyncTestApp, type OversyncTestApp } from '../support/oversync-app.js';
import {
  commitSession,
  createSession,
  dbRows,
  deleteSession,
  fetchCommittedRows,
  insertUser,
  newId,
  pushOk,
  pushSessionExists,
  readyUser,
  scopeUsers,
  stageRows,
  stagedRows,
  uploadChunk,
  userPushSessions,
  expirePushSession,
} from '../support/push-builders.js';
import type { SyncReply } from '../support/sync-http.js';

/** Retention window and prune batch: each commit past the window prunes exactly one bundle. */
const RETAINED = 2;

describe('push races', () => {
  let t: OversyncTestApp;
  let schema: string;
  const ready = () => readyUser(t.baseUrl);
  const staged = (pushId: string) => stagedRows(t.db.url, pushId);
  const sessions = (user: string) => userPushSessions(t.db.url, user);
  const expire = (pushId: string) => expirePushSession(t.db.url, pushId);
  /** Staged rows of any user whose session no longer exists. */
  const orphanRows = async () =>
    (
      await dbRows<{ n: number }>(
        t.db.url,
        `SELECT count(*)::int AS n FROM sync.push_session_rows r
          WHERE NOT EXISTS (SELECT 1 FROM sync.push_sessions s WHERE s.push_id = r.push_id)`,
      )
    )[0].n;
  /** The user's retained bundles with their logged and stored row counts, and the floor. */
  const retained = async (user: string) => {
    const [state] = await dbRows<{ floor: number; pruned_rows: number }>(
      t.db.url,
      `SELECT retained_bundle_floor::int AS floor,
              (SELECT count(*)::int FROM sync.bundle_rows r
                WHERE r.user_pk = u.user_pk AND r.bundle_seq <= u.retained_bundle_floor) AS pruned_rows
         FROM sync.user_state u WHERE user_id = $1`,
      [user],
    );
    const bundles = await dbRows<{ seq: number; logged: number; stored: number }>(
      t.db.url,
      `SELECT b.bundle_seq::int AS seq, b.row_count::int AS logged,
              (SELECT count(*)::int FROM sync.bundle_rows r
                WHERE r.user_pk = b.user_pk AND r.bundle_seq = b.bundle_seq) AS stored
         FROM sync.bundle_log b JOIN sync.user_state u USING (user_pk) WHERE u.user_id = $1 ORDER BY 1`,
      [user],
    );
    return { ...state, bundles };
  };
  const names = (tag: string, n = 3) => Array.from({ length: n }, (_, i) => `${tag}-${i}`);
  const inserts = (tag: string, n = 3) => names(tag, n).map((name) => insertUser(schema, newId(), name));
  const outcome = (reply: SyncReply) =>
    `${reply.status} ${(reply.json?.error as string | undefined) ?? ''}`.trim();

  beforeAll(async () => {
    t = await createOversyncTestApp({
      listen: true,
      options: { retention: { retainedBundlesPerUser: RETAINED, pruneBatchSize: 1 } },
    });
    schema = t.schema;
  });
  afterAll(async () => {
    await t.close();
  });

  it('lets exactly one of a commit and a discard of one staged session win, and never half', async () => {
    for (let round = 0; round < 20; round++) {
      const { user, c } = await ready();
      const pushId = await stageRows(c, 1, inserts(`R${round}`));
      // The discard leaves 0–9 ms after the commit (0: in the same tick), so it wins the session
      // lock, waits on the committing transaction, or comes after it.
      const lag = round % 10;
      const [commit, discard] = await Promise.all([
        commitSession(c, pushId),
        lag === 0 ? deleteSession(c, pushId) : sleep(lag).then(() => deleteSession(c, pushId)),
      ]);
      const pair = `commit ${outcome(commit)} / discard ${outcome(discard)}`;
      expect([
        'commit 200 / discard 404 push_session_not_found',
        'commit 404 push_session_not_found / discard 204',
      ]).toContain(pair);
      const committed = commit.status === 200;

      expect(await pushSessionExists(t.db.url, pushId)).toBe(false);
      expect(await staged(pushId)).toEqual([]);
      expect(await orphanRows()).toBe(0);
      const { bundles } = await retained(user);
      expect(bundles).toEqual(committed ? [{ seq: 1, logged: 3, stored: 3 }] : []);
      expect((await scopeUsers(t.db.url, schema, user)).map((u) => u.name)).toEqual(
        committed ? names(`R${round}`) : [],
      );
      if (committed) {
        const { rows } = await fetchCommittedRows(c, 1);
        expect(rows).toHaveLength(3);
        expect(computeBundleHash(rows)).toBe(commit.json.bundle_hash);
      }
    }
  });

  it('serves a bundle being pruned either whole or as history_pruned, never in part', async () => {
    const { user, c } = await ready();
    const hashes = new Map<number, string>();
    for (const seq of [1, 2]) {
      hashes.set(seq, (await pushOk(c, seq, inserts(`B${seq}`))).bundle_hash as string);
    }
    const read = (seq: number) => c({ path: `/sync/committed-bundles/${seq}/rows` });
    /** A served page must be the whole bundle as committed; a refusal must be history_pruned. */
    const check = (reply: SyncReply, seq: number) => {
      if (reply.status === 200) {
        const rows = reply.json.rows as BundleRow[];
        expect(reply.json).toMatchObject({
          bundle_seq: seq,
          source_id: 'writer',
          source_bundle_id: seq,
          row_count: 3,
          bundle_hash: hashes.get(seq),
          next_row_ordinal: 2,
          has_more: false,
        });
        expect(rows.map((r) => r.payload?.name)).toEqual(names(`B${seq}`));
        expect(computeBundleHash(rows)).toBe(reply.json.bundle_hash);
        return 'whole';
      }
      expect({ status: reply.status, body: reply.json }).toEqual({
        status: 409,
        body: {
          error: 'history_pruned',
          message: `requested checkpoint ${seq} is older than retained history floor ${seq} for user ${user}`,
        },
      });
      return 'pruned';
    };

    for (let k = 1; k <= 8; k++) {
      const next = k + RETAINED;
      const pushId = await stageRows(c, next, inserts(`B${next}`));
      let settled = false;
      const commit = commitSession(c, pushId).finally(() => {
        settled = true;
      });
      // Readers keep reading bundle k until the commit that prunes it has answered.
      const reader = async () => {
        const replies: SyncReply[] = [];
        do replies.push(await read(k));
        while (!settled);
        return replies;
      };
      const [committed, ...loops] = await Promise.all([commit, reader(), reader(), reader()]);
      expect(committed.status).toBe(200);
      expect(committed.json.bundle_seq).toBe(next);
      hashes.set(next, committed.json.bundle_hash as string);
      for (const reply of loops.flat()) check(reply, k);
      expect(check(await read(k), k)).toBe('pruned');
      expect(check(await read(k + 1), k + 1)).toBe('whole');

      const state = await retained(user);
      expect(state.floor).toBe(k);
      expect(state.pruned_rows).toBe(0);
      expect(state.bundles).toEqual([
        { seq: k + 1, logged: 3, stored: 3 },
        { seq: next, logged: 3, stored: 3 },
      ]);
    }
  });

  it('lets two users’ creates sweep one expired session at once', async () => {
    for (let round = 0; round < 20; round++) {
      const a = await ready();
      const b = await ready();
      const stale = await ready();
      // Enough staged rows that the first sweep holds the session's row lock for a while.
      const staleId = (await createSession(stale.c, 1, 200)).json.push_id as string;
      expect((await uploadChunk(stale.c, staleId, 0, inserts(`S${round}`, 100))).status).toBe(200);
      expect(await staged(staleId)).toHaveLength(100);
      await expire(staleId);

      const replies = await Promise.all([createSession(a.c, 1, 1), createSession(b.c, 1, 1)]);
      expect(replies.map((r) => [r.status, r.json.status])).toEqual([
        [200, 'staging'],
        [200, 'staging'],
      ]);
      expect(await pushSessionExists(t.db.url, staleId)).toBe(false);
      expect(await staged(staleId)).toEqual([]);
      expect(await orphanRows()).toBe(0);
      expect((await sessions(a.user)).map((s) => s.push_id)).toEqual([replies[0].json.push_id]);
      expect((await sessions(b.user)).map((s) => s.push_id)).toEqual([replies[1].json.push_id]);
    }
  });

  it('stages exactly one of two chunks sent at the same start_row_ordinal at once', async () => {
    for (let round = 0; round < 10; round++) {
      const { user, c } = await ready();
      const pushId = (await createSession(c, 1, 4)).json.push_id as string;
      const chunks = [inserts(`A${round}`, 2), inserts(`B${round}`, 2)];
      const replies = await Promise.all(chunks.map((rows) => uploadChunk(c, pushId, 0, rows)));
      expect(replies.map(outcome).sort()).toEqual(['200', '409 push_chunk_out_of_order']);
      const won = replies.findIndex((r) => r.status === 200);
      expect(replies[won].json).toEqual({ push_id: pushId, next_expected_row_ordinal: 2 });
      expect(replies[1 - won].json.message).toBe(
        `push session ${pushId} expected start_row_ordinal 2, got 0`,
      );

      const rows = await staged(pushId);
      expect(rows.map((r) => r.ord)).toEqual([0, 1]);
      expect(rows.map((r) => (JSON.parse(r.payload as string) as { name: string }).name)).toEqual(
        chunks[won].map((r) => r.payload?.name),
      );
      expect((await sessions(user)).map((s) => s.next)).toEqual([2]);
    }
  });
});
