/**
 * Edge cases of snapshot sessions and the operational surface (status and health counters, retention).
 */
import { randomUUID } from 'node:crypto';
import { ScopeManager } from '@oversync/nestjs';
import type { SnapshotChunkResponse, SnapshotSession, StatusResponse } from '@oversync/protocol';
import { sql } from 'kysely';
import pg from 'pg';
import { createOversyncTestApp, type OversyncTestApp } from '../support/oversync-app.js';
import {
  createSession,
  initializeEmpty,
  insertUser,
  newId,
  newUser,
  pushOk,
} from '../support/push-builders.js';
import { commitBundles, commitUsers, q } from '../support/read-builders.js';
import { syncCall, syncClient } from '../support/sync-http.js';

type Reply = SnapshotSession & SnapshotChunkResponse & { error?: string; message?: string };

const counter = async (t: OversyncTestApp, seq: string): Promise<number> =>
  Number(
    (await q(t, `SELECT (CASE WHEN is_called THEN last_value ELSE 0 END)::text AS n FROM sync.${seq}`))
      .rows[0].n,
  );

describe('snapshot sessions and status', () => {
  let t: OversyncTestApp;

  beforeAll(async () => {
    t = await createOversyncTestApp({ listen: true });
  });
  afterAll(async () => t.close());

  const as = (user: string, source = 'reader') => syncClient(t.baseUrl, user, source)<Reply>;
  const create = (user: string) => as(user)({ method: 'POST', path: '/sync/snapshot-sessions' });
  const chunk = (user: string, id: string, query: string) =>
    as(user)({ path: `/sync/snapshot-sessions/${id}${query}` });
  const status = async () => (await syncCall<StatusResponse>(t.baseUrl, { path: '/syncx/status' })).json;

  it('a chunk past the end echoes an int64 after_row_ordinal beyond 2^53 exactly in next_row_ordinal', async () => {
    const user = 'rv-int64-cursor';
    await commitUsers(t, user, 2);
    const id = (await create(user)).json.snapshot_id;
    for (const after of ['9007199254740993', '9223372036854775807']) {
      const res = await chunk(user, id, `?after_row_ordinal=${after}&max_rows=10`);
      expect(res.status).toBe(200);
      // go-oversync: next_row_ordinal = after_row_ordinal + len(rows), computed in int64.
      expect(res.text).toContain(`"rows":[],"next_row_ordinal":${after},"has_more":false}`);
    }
  });

  it('counts one already_committed replay once even when its transaction is retried after a deadlock', async () => {
    const user = newUser('rv-replay');
    const c = syncClient(t.baseUrl, user, 'writer');
    await initializeEmpty(c);
    await pushOk(c, 1, [insertUser(t.schema, newId(), 'Ada')]);

    // An expired push session (of another user) that every push create sweeps.
    const other = await q(
      t,
      `INSERT INTO sync.user_state (user_id) VALUES ($1) RETURNING user_pk::int AS pk`,
      [newUser('rv-replay-other')],
    );
    const expired = randomUUID();
    await q(
      t,
      `INSERT INTO sync.push_sessions (push_id, user_pk, source_id, source_bundle_id, planned_row_count, expires_at)
       VALUES ($1, $2, 'old-writer', 1, 1, now() - interval '1 hour')`,
      [expired, other.rows[0].pk],
    );

    const before = await counter(t, 'accepted_push_replay_seq');
    const blocker = new pg.Client({ connectionString: t.db.url });
    await blocker.connect();
    try {
      await blocker.query(`BEGIN`);
      await blocker.query(`SET LOCAL deadlock_timeout = '30s'`); // the replay's backend detects the deadlock
      await blocker.query(`SELECT 1 FROM sync.push_sessions WHERE push_id = $1 FOR UPDATE`, [expired]);
      const replay = createSession(c, 1, 1);
      // Wait until the replay's sweep is blocked on the locked expired session…
      for (let i = 0; ; i++) {
        const waiting = await q(
          t,
          `SELECT count(*)::int AS n FROM pg_stat_activity
            WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%WITH replay AS%'`,
        );
        if (waiting.rows[0].n > 0) break;
        if (i > 200) throw new Error('the replay never blocked on the expired session');
        await new Promise((r) => setTimeout(r, 25));
      }
      // …then close the cycle: the blocker waits for the scope lock the replay holds (40P01 for the replay).
      await blocker.query(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, [user]);
      await blocker.query(`ROLLBACK`);
      const res = await replay;
      expect(res.status).toBe(200);
      expect(res.json.status).toBe('already_committed');
    } finally {
      await blocker.end();
    }
    expect(await counter(t, 'accepted_push_replay_seq')).toBe(before + 1);
  }, 30000);

  it('counts a write without bundle context once per rejected statement, whatever its shape', async () => {
    const user = 'rv-rejected';
    const { ids } = await commitUsers(t, user, 2);
    const attempts = [
      // The row-level owner guard fires (owner to fill in): on the first row.
      `INSERT INTO business.users (id, name, email) VALUES (gen_random_uuid(), 'a', 'a'), (gen_random_uuid(), 'b', 'b')`,
      // The statement-level capture trigger refuses it.
      `INSERT INTO business.users (_sync_scope_id, id, name, email) VALUES ('${user}', gen_random_uuid(), 'a', 'a'), ('${user}', gen_random_uuid(), 'b', 'b')`,
      `UPDATE business.users SET name = 'x' WHERE _sync_scope_id = '${user}'`,
      `UPDATE business.users SET _sync_scope_id = 'thief' WHERE id = '${ids[0]}'`,
      `DELETE FROM business.users WHERE _sync_scope_id = '${user}'`,
      `INSERT INTO business.users (_sync_scope_id, id, name, email) VALUES ('${user}', '${ids[0]}', 'a', 'a')
         ON CONFLICT (_sync_scope_id, id) DO UPDATE SET name = 'y'`,
      `WITH a AS (INSERT INTO business.users (_sync_scope_id, id, name, email) VALUES ('${user}', gen_random_uuid(), 'a', 'a') RETURNING id)
       INSERT INTO business.posts (_sync_scope_id, id, title, content) SELECT '${user}', gen_random_uuid(), 't', 'c' FROM a`,
    ];
    for (const text of attempts) {
      const before = (await status()).rejected_registered_write_count;
      await expect(q(t, text)).rejects.toThrow(/requires oversync sync bundle context/);
      expect([text, (await status()).rejected_registered_write_count]).toEqual([text, before + 1]);
    }
    // Statements that touch no row are not rejections.
    const before = (await status()).rejected_registered_write_count;
    await q(t, `UPDATE business.users SET name = 'x' WHERE _sync_scope_id = 'nobody-at-all'`);
    await q(t, `DELETE FROM business.users WHERE _sync_scope_id = 'nobody-at-all'`);
    expect((await status()).rejected_registered_write_count).toBe(before);
  });

  it('counts each history_pruned pull once, and no other pull or read', async () => {
    const user = 'rv-pruned-count';
    await commitBundles(t, user, 3);
    await q(t, `UPDATE sync.user_state SET retained_bundle_floor = 2 WHERE user_id = $1`, [user]);
    const pull = (query: string) => as(user)({ path: `/sync/pull${query}` });
    const before = (await status()).history_pruned_error_count;
    const results = await Promise.all([
      pull('?after_bundle_seq=1'),
      pull('?after_bundle_seq=2'),
      pull('?after_bundle_seq=0&target_bundle_seq=2'),
      pull('?after_bundle_seq=2&max_bundles=1'),
    ]);
    expect(results.map((r) => r.status)).toEqual([409, 409, 409, 409]);
    expect((await status()).history_pruned_error_count).toBe(before + 4);
    // Retained pulls, committed rows below the floor, and snapshots do not count.
    expect((await pull('?after_bundle_seq=3')).status).toBe(200);
    expect((await pull('?after_bundle_seq=0')).status).toBe(200);
    expect((await as(user)({ path: '/sync/committed-bundles/1/rows' })).status).toBe(409);
    expect((await create(user)).status).toBe(200);
    expect((await status()).history_pruned_error_count).toBe(before + 4);
  });

  it('creates a keep-source snapshot while a commit of the same scope is in flight (200, consistent)', async () => {
    const user = 'rv-inflight-commit';
    await commitUsers(t, user, 1);
    let entered!: () => void;
    let release!: () => void;
    const inside = new Promise<void>((r) => (entered = r));
    const gate = new Promise<void>((r) => (release = r));
    const writing = t.get(ScopeManager).execWrite(user, { writerId: 'slow-writer' }, async (trx) => {
      await sql`INSERT INTO business.users (id, name, email) VALUES (${randomUUID()}, 'late', 'e')`.execute(
        trx,
      );
      entered();
      await gate;
    });
    await inside;
    try {
      // The create neither waits for the writer (it takes no lock the commit holds) nor fails
      // once the commit lands: it answers while the write is still open, with the image before it.
      const res = await create(user);
      expect([res.status, res.json.error]).toEqual([200, undefined]);
      expect(res.json).toMatchObject({ snapshot_bundle_seq: 1, row_count: 1 });
    } finally {
      release();
      await writing;
    }
    const after = await create(user);
    expect(after.json).toMatchObject({ snapshot_bundle_seq: 2, row_count: 2 });
  });

  it('freezes every snapshot at its snapshot_bundle_seq while commits of the same scope race it', async () => {
    const user = 'rv-frozen-race';
    const { ids } = await commitUsers(t, user, 1, { names: ['v1'] });
    const writer = t.get(ScopeManager);
    let stop = false;
    let commits = 1;
    // Every bundle i inserts one row and renames the first row to "v<i>".
    const writing = (async () => {
      while (!stop) {
        const i = commits + 1;
        await writer.execWrite(user, { writerId: 'race' }, async (trx) => {
          await sql`INSERT INTO business.users (id, name, email) VALUES (${randomUUID()}, ${`n${i}`}, 'e')`.execute(
            trx,
          );
          await sql`UPDATE business.users SET name = ${`v${i}`} WHERE _sync_scope_id = ${user} AND id = ${ids[0]}`.execute(
            trx,
          );
        });
        commits = i;
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    let served = 0;
    try {
      for (let s = 0; s < 30 && served < 5; s++) {
        const created = await create(user);
        // Every create racing the commits is answered, and each snapshot is consistent.
        expect(created.status).toBe(200);
        served++;
        const S = created.json.snapshot_bundle_seq;
        expect(created.json.row_count).toBe(S);
        const page = await chunk(user, created.json.snapshot_id, '?after_row_ordinal=0&max_rows=5000');
        const rows = page.json.rows;
        expect(rows).toHaveLength(S);
        const first = rows.find((r) => r.key.id === ids[0])!;
        expect(first).toMatchObject({ row_version: S, payload: { name: `v${S}` } });
        // Row i was inserted by bundle i; only row 1 was rewritten (by bundle S).
        const versions = rows.map((r) => r.row_version).sort((a, b) => a - b);
        expect(versions.filter((v) => v !== S)).toEqual(
          Array.from({ length: Math.max(0, S - 2) }, (_, k) => k + 2),
        );
      }
    } finally {
      stop = true;
      await writing;
    }
    expect(served).toBeGreaterThan(0);
  }, 60000);

  it('renders a column retyped after start-up exactly as captured bundles and pull do', async () => {
    const user = 'rv-retype';
    await q(t, `ALTER TABLE business.docs ALTER COLUMN body TYPE jsonb USING to_jsonb(body)`);
    try {
      await t.get(ScopeManager).execWrite(user, { writerId: 'w' }, async (trx) => {
        await sql`INSERT INTO business.docs (doc_id, body) VALUES ('r1', '{"b":[1,2.50,"<x>"],"a":null}'::jsonb)`.execute(
          trx,
        );
      });
      const pulled = await as(user)({ path: '/sync/pull?after_bundle_seq=0' });
      const pulledRow = (pulled.json as unknown as { bundles: { rows: { payload: unknown }[] }[] }).bundles[0]
        .rows[0];
      const created = await create(user);
      const page = await chunk(user, created.json.snapshot_id, '?max_rows=10');
      expect(page.json.rows[0].payload).toEqual(pulledRow.payload);
      const payloadText = (text: string) =>
        text.slice(text.indexOf('"payload":') + 10, text.indexOf('}]') + 1);
      expect(payloadText(page.text)).toBe(payloadText(pulled.text));
    } finally {
      await q(t, `DELETE FROM business.docs WHERE doc_id = 'r1'`).catch(() => undefined);
      await q(t, `ALTER TABLE business.docs ALTER COLUMN body TYPE text USING body::text`).catch(
        () => undefined,
      );
    }
  });
});

describe('retention with a window of one bundle', () => {
  let t: OversyncTestApp;

  beforeAll(async () => {
    t = await createOversyncTestApp({
      listen: true,
      options: { retention: { retainedBundlesPerUser: 1, pruneBatchSize: 1 } },
    });
  });
  afterAll(async () => t.close());

  it('a snapshot taken between commits is followed by a pull from its seq, and status reports the window', async () => {
    const user = 'rv-window-one';
    const reader = syncClient(t.baseUrl, user, 'reader')<Reply>;
    await commitUsers(t, user, 1);
    await commitUsers(t, user, 1);
    // Batch 1: the floor moves one bundle per commit (0 → 0 → 1).
    let state = await q(t, `SELECT retained_bundle_floor::int AS f FROM sync.user_state WHERE user_id = $1`, [
      user,
    ]);
    expect(state.rows[0].f).toBe(1);
    const snap = (await reader({ method: 'POST', path: '/sync/snapshot-sessions' })).json;
    expect(snap).toMatchObject({ snapshot_bundle_seq: 2, row_count: 2 });
    await commitUsers(t, user, 1); // floor → 2 = snapshot_bundle_seq
    state = await q(t, `SELECT retained_bundle_floor::int AS f FROM sync.user_state WHERE user_id = $1`, [
      user,
    ]);
    expect(state.rows[0].f).toBe(2);
    // The snapshot is still served in full; the pull from its seq is history_pruned (floor == seq).
    const page = await reader({ path: `/sync/snapshot-sessions/${snap.snapshot_id}?max_rows=10` });
    expect(page.json.rows).toHaveLength(2);
    const pulled = await reader({ path: `/sync/pull?after_bundle_seq=${snap.snapshot_bundle_seq}` });
    expect(pulled.status).toBe(409);
    const st = (await syncCall<StatusResponse>(t.baseUrl, { path: '/syncx/status' })).json;
    expect(st).toMatchObject({
      latest_bundle_seq_max: 3,
      retained_bundle_floor_max: 2,
      retained_bundle_window_min: 1,
      retained_bundle_window_max: 1,
      committed_bundle_count: 1,
      history_pruned_error_count: 1,
    });
  });
});
