/**
 * Server races under genuinely parallel requests (real Nest app, real PostgreSQL), each followed by
 * an invariant check of sync.bundle_log, sync.row_state and the business table. push-races covers
 * commit vs discard, prune vs one committed-rows page, two sweeps and two chunks at one position.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Injectable } from '@nestjs/common';
import { computeBundleHash, type Bundle, type BundleRow, type SnapshotRow } from '@oversync/protocol';
import { ScopeManager, ScopeWrite, ScopeWriteContext } from '@oversync/nestjs';
import { sql, type Kysely } from 'kysely';
import { createOversyncTestApp, type OversyncTestApp } from '../support/oversync-app.js';
import {
  commitSession,
  connect,
  createSession,
  dbRows,
  deleteSession,
  newUser,
  readyUser,
  stageRows,
  uploadChunk,
} from '../support/push-builders.js';
import { syncClient, type SyncReply } from '../support/sync-http.js';

/** Bundles kept per user; with a prune batch of 1 the floor trails the latest bundle by exactly this. */
const RETAINED = 3;

/** A `docs` row (text key) to push. */
const doc = (id: string) => ({
  ...{ schema: 'business', table: 'docs', key: { doc_id: id }, op: 'INSERT', base_row_version: 0 },
  payload: { doc_id: id, body: id },
});
/** Starts `run` after `ms` ms: varies which side of a race reaches PostgreSQL first (nothing is timed). */
const lagged = <T>(ms: number, run: () => Promise<T>): Promise<T> => (ms === 0 ? run() : sleep(ms).then(run));
/** Runs `a` and `b` at once, one of them 0–7 ms late (alternating per round), after `offset` ms each. */
function race<A, B>(round: number, [a, b]: [() => Promise<A>, () => Promise<B>], offset = [0, 0]) {
  const [la, lb] = round % 2 === 0 ? [round % 8, 0] : [0, round % 8];
  return Promise.all([lagged(la + offset[0], a), lagged(lb + offset[1], b)] as const);
}
const outcome = (r: SyncReply) => `${r.status} ${(r.json?.error as string | undefined) ?? ''}`.trim();

/** Adds 1 to the scope's counter doc and creates doc `<prefix>-<new value>`; returns the value. */
async function bumpCounter(trx: Kysely<unknown>, user: string, prefix: string): Promise<number> {
  const { rows } = await sql<{ body: string }>`UPDATE business.docs SET body = (body::int + 1)::text
     WHERE _sync_scope_id = ${user} AND doc_id = 'counter' RETURNING body`.execute(trx);
  await sql`INSERT INTO business.docs (doc_id, body) VALUES (${`${prefix}-${rows[0].body}`}, 'x')`.execute(
    trx,
  );
  return Number(rows[0].body);
}

/** A host service with a @ScopeWrite method. */
@Injectable()
class CounterWriter {
  constructor(private readonly scope: ScopeWriteContext) {}

  @ScopeWrite({ writerId: 'decorated', scopeId: (userId: string) => userId })
  bump(userId: string): Promise<number> {
    return bumpCounter(this.scope.trx, userId, 's');
  }
}

describe('server concurrency review', () => {
  let t: OversyncTestApp;
  const db = <T = Record<string, unknown>>(text: string, values: unknown[] = []) =>
    dbRows<T>(t.db.url, text, values);
  const client = (user: string, source: string) => syncClient(t.baseUrl, user, source);

  /**
   * The invariants every race must leave, read in one statement: retained bundles exactly
   * floor+1..latest (the window) with all their rows, none below the floor, no row version beyond
   * latest, live row_state and business rows one to one, no staged rows without their session.
   */
  const checkScope = async (user: string) => {
    const [s] = await db<{ floor: number; latest: number } & Record<string, unknown>>(
      `SELECT u.retained_bundle_floor::int AS floor, u.next_bundle_seq::int - 1 AS latest,
              ARRAY(SELECT bundle_seq::int FROM sync.bundle_log WHERE user_pk = u.user_pk ORDER BY 1) AS logs,
              (SELECT count(*)::int FROM sync.bundle_log b WHERE b.user_pk = u.user_pk AND b.row_count <>
                 (SELECT count(*) FROM sync.bundle_rows r WHERE r.user_pk = b.user_pk AND r.bundle_seq = b.bundle_seq)) AS torn,
              (SELECT count(*)::int FROM sync.bundle_rows r WHERE r.user_pk = u.user_pk
                  AND r.bundle_seq <= u.retained_bundle_floor) AS below_floor,
              (SELECT count(*)::int FROM sync.row_state r WHERE r.user_pk = u.user_pk
                  AND r.bundle_seq >= u.next_bundle_seq) AS future,
              (SELECT count(*)::int FROM sync.row_state r WHERE r.user_pk = u.user_pk AND NOT deleted) AS live,
              (SELECT count(*)::int FROM business.docs WHERE _sync_scope_id = $1) AS business,
              (SELECT count(*)::int FROM business.docs b JOIN sync.row_state r ON r.user_pk = u.user_pk AND NOT r.deleted
                  AND r.key_bytes = convert_to(b.doc_id, 'UTF8')
                  AND r.table_id = (SELECT table_id FROM sync.table_catalog WHERE table_name = 'docs')
                WHERE b._sync_scope_id = $1) AS matched,
              (SELECT count(*)::int FROM sync.push_session_rows r
                WHERE NOT EXISTS (SELECT 1 FROM sync.push_sessions p WHERE p.push_id = r.push_id)) AS orphans
         FROM sync.user_state u WHERE u.user_id = $1`,
      [user],
    );
    const window = Math.min(RETAINED, s.latest);
    expect(s).toEqual({
      ...s,
      floor: s.latest - window,
      logs: Array.from({ length: window }, (_, i) => s.latest - window + 1 + i),
      ...{ torn: 0, below_floor: 0, future: 0, live: s.business, matched: s.business, orphans: 0 },
    });
    return { floor: s.floor, latest: s.latest };
  };
  const ids = (text: string, user: string) =>
    db<{ id: string }>(text, [user]).then((r) => r.map((x) => x.id));
  const docIds = (user: string) =>
    ids(`SELECT doc_id AS id FROM business.docs WHERE _sync_scope_id = $1 ORDER BY 1`, user);
  const sessionsOf = (user: string) =>
    ids(
      `SELECT push_id::text AS id FROM sync.push_sessions JOIN sync.user_state u USING (user_pk) WHERE user_id = $1`,
      user,
    );
  /** A server write of one doc into a scope: `ok <autoInitialized>` or the error's class name. */
  const serverWrite = (user: string, id: string) =>
    t
      .get(ScopeManager)
      .execWrite(user, { writerId: 'srv' }, (trx) =>
        sql`INSERT INTO business.docs VALUES (${user}, ${id}, 'x')`.execute(trx),
      )
      .then(
        (r) => `ok ${String(r.autoInitialized)}`,
        (e: Error) => e.constructor.name,
      );

  beforeAll(async () => {
    t = await createOversyncTestApp({
      listen: true,
      providers: [CounterWriter],
      options: { retention: { retainedBundlesPerUser: RETAINED, pruneBatchSize: 1 } },
    });
  });
  afterAll(async () => {
    await t.close();
  });

  it('commits one source tuple pushed from two connections at once exactly once', async () => {
    for (let round = 0; round < 25; round++) {
      const { user, c } = await ready();
      const flow = async (tag: string) => {
        const created = await createSession(c, 1, 2);
        if (created.json.status === 'already_committed') return { tag, end: 'replayed', reply: created };
        const pushId = created.json.push_id as string;
        const chunk = await uploadChunk(c, pushId, 0, [doc(`${tag}-a`), doc(`${tag}-b`)]);
        if (chunk.status !== 200) return { tag, end: `chunk ${outcome(chunk)}`, reply: chunk };
        const commit = await commitSession(c, pushId);
        return { tag, end: `commit ${outcome(commit)}`, reply: commit };
      };
      const results = await race(round, [() => flow('A'), () => flow('B')]);
      const winners = results.filter((r) => r.end === 'commit 200');
      expect(winners).toHaveLength(1);
      const loser = results.find((r) => r !== winners[0])!;
      expect(['replayed', 'chunk 404 push_session_not_found', 'commit 404 push_session_not_found']).toContain(
        loser.end,
      );
      const win = winners[0].reply.json;
      expect(win).toMatchObject({ bundle_seq: 1, source_id: 'writer', source_bundle_id: 1, row_count: 2 });
      if (loser.end === 'replayed') expect(loser.reply.json.bundle_hash).toBe(win.bundle_hash);
      // A retry by the loser replays the winner's bundle.
      const retry = await createSession(c, 1, 2);
      expect(retry.json).toMatchObject({
        status: 'already_committed',
        bundle_seq: 1,
        bundle_hash: win.bundle_hash,
      });
      expect(await docIds(user)).toEqual([`${winners[0].tag}-a`, `${winners[0].tag}-b`]);
      expect(await sessionsOf(user)).toEqual([]);
      await checkScope(user);
    }
  });

  it('ends a chunk racing a discard, two commits of one session, and a commit racing expiry whole', async () => {
    const expire = (pushId: string) =>
      db(
        `UPDATE sync.push_sessions SET expires_at = clock_timestamp() - interval '1 second' WHERE push_id = $1`,
        [pushId],
      );
    for (let round = 0; round < 25; round++) {
      const { user, c } = await ready();
      const pushId = (await createSession(c, 1, 2)).json.push_id as string;
      const chunk2 = () => uploadChunk(c, pushId, 0, [doc('x1'), doc('x2')]);
      const [chunk, discard] = await race(round, [chunk2, () => deleteSession(c, pushId)], [0, 2]);
      expect(['200 / 204', '404 push_session_not_found / 204']).toContain(
        `${outcome(chunk)} / ${outcome(discard)}`,
      );
      expect(await sessionsOf(user)).toEqual([]);
      await checkScope(user);

      // A client retrying its commit on a second connection while the first is still running.
      const once = await stageRows(c, 1, [doc('w1')]);
      const twice = await race(round, [() => commitSession(c, once), () => commitSession(c, once)]);
      expect(twice.map(outcome).sort()).toEqual(['200', '404 push_session_not_found']);
      expect(await docIds(user)).toEqual(['w1']);

      const staged = await stageRows(c, 2, [doc('y1'), doc('y2')]);
      const [commit] = await race(round, [() => commitSession(c, staged), () => expire(staged)]);
      expect(['200', '410 push_session_expired']).toContain(outcome(commit));
      const committed = commit.status === 200;
      expect(await docIds(user)).toEqual(committed ? ['w1', 'y1', 'y2'] : ['w1']);
      expect(await sessionsOf(user)).toHaveLength(committed ? 0 : 1);
      // Another user's create sweeps the expired session with its staged rows.
      await createSession((await ready()).c, 1, 1);
      expect(await sessionsOf(user)).toEqual([]);
      await checkScope(user);
    }
  });

  it('orders execWrite, @ScopeWrite and push commits gaplessly by commit; snapshots meanwhile are exact', async () => {
    for (let round = 0; round < 2; round++) {
      const user = newUser();
      const manager = t.get(ScopeManager);
      const setup = await manager.execWrite(user, { writerId: 'setup' }, (trx) =>
        sql`INSERT INTO business.docs (doc_id, body) VALUES ('counter', '1')`.execute(trx),
      );
      expect(setup).toMatchObject({ autoInitialized: true, bundle: { bundle_seq: 1 } });
      /** Every counter bump: its bundle (null: read from row_state later), value and created doc. */
      const bumps: Array<{ seq: number | null; counter: number; id: string }> = [];
      const pushed: Array<{ seq: number; ids: string[] }> = [];
      const snapshots: Array<{ seq: number; rows: SnapshotRow[] }> = [];
      const failures: string[] = [];
      const ok = (reply: SyncReply, what: string) =>
        reply.status === 200 || !failures.push(`${what} ${outcome(reply)}`);
      let writing = true;
      const execLoop = async (w: number) => {
        for (let i = 0; i < 6; i++) {
          const { bundle, result } = await manager.execWrite(user, { writerId: `exec-${w}` }, (trx) =>
            bumpCounter(trx, user, 'e'),
          );
          bumps.push({ seq: bundle.bundle_seq, counter: result, id: `e-${result}` });
        }
      };
      const decoratedLoop = async () => {
        for (let i = 0; i < 6; i++) {
          const counter = await t.get(CounterWriter).bump(user);
          bumps.push({ seq: null, counter, id: `s-${counter}` });
        }
      };
      const pushLoop = async (device: string) => {
        const c = client(user, device);
        for (let n = 1; n <= 5; n++) {
          const ids = [`p-${device}-${n}-a`, `p-${device}-${n}-b`];
          const reply = await commitSession(c, await stageRows(c, n, ids.map(doc)));
          if (ok(reply, 'push')) pushed.push({ seq: reply.json.bundle_seq as number, ids });
        }
      };
      const snapshotLoop = async () => {
        const c = client(user, 'reader');
        while (writing) {
          const created = await c({ method: 'POST', path: '/sync/snapshot-sessions', body: {} });
          if (!ok(created, 'snapshot')) continue;
          const page = await c({
            path: `/sync/snapshot-sessions/${created.json.snapshot_id as string}?max_rows=5000`,
          });
          if (ok(page, 'snapshot chunk'))
            snapshots.push({
              seq: created.json.snapshot_bundle_seq as number,
              rows: page.json.rows as SnapshotRow[],
            });
        }
      };
      const readers = [snapshotLoop(), snapshotLoop()];
      await Promise.all([execLoop(1), execLoop(2), decoratedLoop(), ...['d1', 'd2', 'd3'].map(pushLoop)]);
      writing = false;
      await Promise.all(readers);
      expect(failures).toEqual([]);

      // row_state is never pruned: it names the bundle that created each once-written doc.
      const versions = new Map(
        (
          await db<{ id: string; v: number }>(
            `SELECT convert_from(key_bytes, 'UTF8') AS id, bundle_seq::int AS v FROM sync.row_state
               JOIN sync.user_state u USING (user_pk) WHERE u.user_id = $1`,
            [user],
          )
        ).map((r) => [r.id, r.v]),
      );
      for (const b of bumps) expect(versions.get(b.id)).toBe((b.seq ??= versions.get(b.id)!));
      for (const p of pushed) for (const id of p.ids) expect(versions.get(id)).toBe(p.seq);
      // Gapless, and the counter each bump read under the lock follows bundle order exactly.
      const seqs = [1, ...bumps.map((b) => b.seq!), ...pushed.map((p) => p.seq)].sort((a, b) => a - b);
      expect(seqs).toEqual(Array.from({ length: 1 + 18 + 15 }, (_, i) => i + 1));
      const counters = [...bumps].sort((a, b) => a.seq! - b.seq!).map((b) => b.counter);
      expect(counters).toEqual(Array.from({ length: 18 }, (_, i) => i + 2));

      // Each snapshot is exactly the after-image at its snapshot_bundle_seq.
      expect(snapshots.length).toBeGreaterThan(0);
      for (const s of snapshots) {
        const upTo = bumps.filter((b) => b.seq! <= s.seq);
        const expected = Object.fromEntries([
          ['counter', Math.max(1, ...upTo.map((b) => b.seq!))],
          ...upTo.map((b) => [b.id, b.seq]),
          ...pushed.filter((p) => p.seq <= s.seq).flatMap((p) => p.ids.map((id) => [id, p.seq])),
        ]);
        const got = Object.fromEntries(s.rows.map((r) => [r.key.doc_id, r.row_version]));
        expect({ seq: s.seq, rows: got }).toEqual({ seq: s.seq, rows: expected });
        expect(s.rows.find((r) => r.key.doc_id === 'counter')!.payload.body).toBe(String(1 + upTo.length));
      }
      await checkScope(user);
    }
  });

  it('serves paging pulls and committed-rows pages whole or as history_pruned while retention prunes', async () => {
    const user = newUser();
    const manager = t.get(ScopeManager);
    const write = (n: number) =>
      manager.execWrite(user, { writerId: 'writer' }, async (trx) => {
        for (const k of ['a', 'b', 'c'])
          await sql`INSERT INTO business.docs (doc_id, body) VALUES (${`w${n}-${k}`}, ${k})`.execute(trx);
      });
    await write(0);
    const c = client(user, 'reader');
    const seen: string[] = [];
    let writing = true;
    const checkBundle = (b: Bundle) => {
      expect(b.rows).toHaveLength(b.row_count!);
      expect(computeBundleHash(b.rows)).toBe(b.bundle_hash);
      expect(new Set(b.rows.map((r) => r.row_version))).toEqual(new Set([b.bundle_seq]));
      expect(b.rows.map((r) => r.key.doc_id)).toEqual(
        ['a', 'b', 'c'].map((k) => `w${b.bundle_seq - 1}-${k}`),
      );
    };
    const pullLoop = async () => {
      let after = 0;
      let target = 0;
      while (writing) {
        const q = `after_bundle_seq=${after}&max_bundles=1${target ? `&target_bundle_seq=${target}` : ''}`;
        const reply = await c({ path: `/sync/pull?${q}` });
        seen.push(`pull ${outcome(reply)}`);
        if (reply.status !== 200) {
          [after, target] = [0, 0];
          continue;
        }
        const bundles = reply.json.bundles as Bundle[];
        if (target) expect(reply.json.stable_bundle_seq).toBe(target);
        target = reply.json.stable_bundle_seq as number;
        if (bundles.length > 0 && after > 0) expect(bundles[0].bundle_seq).toBe(after + 1);
        bundles.forEach(checkBundle);
        after = bundles.at(-1)?.bundle_seq ?? after;
        if (!reply.json.has_more) [after, target] = [0, 0];
      }
    };
    const rowsLoop = async () => {
      while (writing) {
        // The oldest retained bundle: the next commit prunes it, likely between two pages.
        const [{ seq }] = await db<{ seq: number }>(
          'SELECT retained_bundle_floor::int + 1 AS seq FROM sync.user_state WHERE user_id = $1',
          [user],
        );
        const rows: BundleRow[] = [];
        let meta: Record<string, unknown> | undefined;
        for (let after = -1; ;) {
          const reply = await c({
            path: `/sync/committed-bundles/${seq}/rows?max_rows=1${after >= 0 ? `&after_row_ordinal=${after}` : ''}`,
          });
          seen.push(`rows ${outcome(reply)}`);
          if (reply.status !== 200) break;
          meta ??= reply.json;
          expect(reply.json.bundle_hash).toBe(meta.bundle_hash);
          rows.push(...(reply.json.rows as BundleRow[]));
          if (!reply.json.has_more) {
            checkBundle({ ...(meta as unknown as Bundle), bundle_seq: seq, rows });
            break;
          }
          after = reply.json.next_row_ordinal as number;
        }
      }
    };
    const readers = [pullLoop(), pullLoop(), rowsLoop()];
    for (let n = 1; n <= 30; n++) await write(n);
    writing = false;
    await Promise.all(readers);
    expect(seen.filter((s) => !s.endsWith(' 200') && !s.endsWith('409 history_pruned'))).toEqual([]);
    expect(seen.filter((s) => s === 'pull 200').length).toBeGreaterThan(0);
    expect(await checkScope(user)).toMatchObject({ latest: 31, floor: 31 - RETAINED });
  });

  it('serialises a rotated rebuild with a commit from the old source: retired after it, or the commit refused', async () => {
    const replacement = { previous_source_id: 'old', new_source_id: 'new', reason: 'history_pruned' };
    for (let round = 0; round < 25; round++) {
      const { user, c } = await ready('old');
      await commitSession(c, await stageRows(c, 1, [doc('first')]));
      const pushId = await stageRows(c, 2, [doc('second')]);
      const rotate = () =>
        c({ method: 'POST', path: '/sync/snapshot-sessions', body: { source_replacement: replacement } });
      const [commit, rotation] = await race(round, [() => commitSession(c, pushId), rotate]);
      expect(rotation.status).toBe(200);
      const committed = commit.status === 200;
      if (!committed) {
        expect(commit.json).toMatchObject({
          error: 'source_retired',
          source_id: 'old',
          replaced_by_source_id: 'new',
        });
        expect(await sessionsOf(user)).toHaveLength(1); // a refused commit leaves its session
      }
      // The snapshot is taken with the rotation, after the commit or before it.
      expect(rotation.json).toMatchObject({
        snapshot_bundle_seq: committed ? 2 : 1,
        row_count: committed ? 2 : 1,
      });
      expect(
        await db(
          `SELECT source_id, state, max_committed_source_bundle_id::int AS max, replaced_by_source_id AS by
             FROM sync.source_state JOIN sync.user_state u USING (user_pk) WHERE u.user_id = $1 ORDER BY 1`,
          [user],
        ),
      ).toEqual([
        { source_id: 'new', state: 'reserved', max: 0, by: '' },
        { source_id: 'old', state: 'retired', max: committed ? 2 : 1, by: 'new' },
      ]);
      // The replacement starts at 1; the old source stays refused.
      const next = client(user, 'new');
      expect((await commitSession(next, await stageRows(next, 1, [doc('third')]))).status).toBe(200);
      expect(outcome(await createSession(c, committed ? 3 : 2, 1))).toBe('409 source_retired');
      expect(await docIds(user)).toEqual(committed ? ['first', 'second', 'third'] : ['first', 'third']);
      await checkScope(user);
    }
  });

  it('gives one of two first connects the lease and lets it lapse mid-push without two seeders', async () => {
    const scopeOf = async (user: string) =>
      (
        await db<{ code: number; by: string | null; init: string | null }>(
          `SELECT state_code AS code, initialized_by_source_id AS by, initializer_source_id AS init
             FROM sync.scope_state JOIN sync.user_state u USING (user_pk) WHERE u.user_id = $1`,
          [user],
        )
      )[0];
    for (let round = 0; round < 25; round++) {
      const user = newUser();
      const devices = { a: client(user, 'a'), b: client(user, 'b') };
      const first = await Promise.all([connect(devices.a, true), connect(devices.b, true)]);
      expect(first.map((r) => r.json.resolution).sort()).toEqual(['initialize_local', 'retry_later']);
      const won = first.findIndex((r) => r.json.resolution === 'initialize_local');
      const [w, l] = won === 0 ? (['a', 'b'] as const) : (['b', 'a'] as const);
      const pushId = await stageRows(
        devices[w],
        1,
        [doc(`${w}-seed`)],
        first[won].json.initialization_id as string,
      );
      // The lease lapses while its owner commits and the other device reconnects.
      const [[commit, other]] = await Promise.all([
        race(round, [() => commitSession(devices[w], pushId), () => connect(devices[l], true)], [2, 2]),
        db(
          `UPDATE sync.scope_state SET lease_expires_at = clock_timestamp() - interval '1 second'
            WHERE state_code = 1 AND initializer_source_id = $2
              AND user_pk = (SELECT user_pk FROM sync.user_state WHERE user_id = $1)`,
          [user, w],
        ),
      ]);
      expect([
        '200 / remote_authoritative',
        '200 / retry_later',
        '409 initialization_stale / initialize_local',
        '409 initialization_stale / retry_later',
      ]).toContain(`${outcome(commit)} / ${other.json.resolution as string}`);
      if (commit.status === 200) {
        expect(await scopeOf(user)).toEqual({ code: 2, by: w, init: null });
        expect(await docIds(user)).toEqual([`${w}-seed`]);
      } else if (other.json.resolution === 'initialize_local') {
        expect(await scopeOf(user)).toEqual({ code: 1, by: null, init: l });
        expect(await docIds(user)).toEqual([]);
        const seed = await stageRows(
          devices[l],
          1,
          [doc(`${l}-seed`)],
          other.json.initialization_id as string,
        );
        expect((await commitSession(devices[l], seed)).status).toBe(200);
        expect(await docIds(user)).toEqual([`${l}-seed`]);
      } else {
        expect(await scopeOf(user)).toMatchObject({ code: 1, init: w });
        expect(await docIds(user)).toEqual([]);
      }
      await checkScope(user);

      // A server write racing a first connect with local rows: one of them decides the scope.
      const fresh = newUser();
      const joining = () => connect(client(fresh, 'dev'), true);
      const [write, joined] = await race(round, [() => serverWrite(fresh, 'srv'), joining]);
      expect(['ok true / remote_authoritative', 'ScopeInitializingError / initialize_local']).toContain(
        `${write} / ${joined.json.resolution as string}`,
      );
      expect(await scopeOf(fresh)).toMatchObject(
        write === 'ok true' ? { code: 2, by: 'srv' } : { code: 1, init: 'dev' },
      );
      expect(await docIds(fresh)).toEqual(write === 'ok true' ? ['srv'] : []);
    }
  });

  const ready = (source = 'writer') => readyUser(t.baseUrl, source);
});
