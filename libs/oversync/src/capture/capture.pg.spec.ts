import { randomUUID } from 'node:crypto';
import { computeBundleHash } from '@oversync/protocol';
import { sql } from 'kysely';
import { execSql } from '../../../../test/support/business-schema.js';
import { committedBundleRows } from '../../../../test/support/bundle-rows.js';
import { createOversyncTestApp, type OversyncTestApp } from '../../../../test/support/oversync-app.js';
import {
  RegisteredWriteRejectedError,
  ScopeUninitializedError,
  SourceSequenceOutOfOrderError,
  SourceTupleHistoryPrunedError,
} from '../errors/index.js';
import { ScopeManager } from '../scope/scope.manager.js';
import { ScopeTransactionRunner } from './scope-transaction.runner.js';
import { SyncService } from '../sync.service.js';

/**
 * Ad-hoc schema of scenarios J3/J6: ON UPDATE CASCADE children, a user trigger that writes profiles,
 * and notes whose row triggers write the same table (a nested statement is captured before the
 * statement that fired it).
 */
const SCHEMA = `
CREATE SCHEMA j;
CREATE TABLE j.parents (_sync_scope_id text NOT NULL, id text NOT NULL, name text, PRIMARY KEY (_sync_scope_id, id));
CREATE TABLE j.children (_sync_scope_id text NOT NULL, id text NOT NULL, parent_id text, name text,
  PRIMARY KEY (_sync_scope_id, id),
  FOREIGN KEY (_sync_scope_id, parent_id) REFERENCES j.parents (_sync_scope_id, id) ON UPDATE CASCADE ON DELETE CASCADE DEFERRABLE INITIALLY IMMEDIATE);
CREATE TABLE j.users (_sync_scope_id text NOT NULL, id text NOT NULL, name text, PRIMARY KEY (_sync_scope_id, id));
CREATE TABLE j.profiles (_sync_scope_id text NOT NULL, id text NOT NULL, nickname text, PRIMARY KEY (_sync_scope_id, id));
CREATE TABLE j.readings (_sync_scope_id text NOT NULL, id text NOT NULL, value float8, taken_at timestamptz, raw bytea,
  PRIMARY KEY (_sync_scope_id, id));
CREATE FUNCTION j.add_profile() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO j.profiles (_sync_scope_id, id, nickname) VALUES (NEW._sync_scope_id, NEW.id, NEW.name);
  RETURN NEW;
END $$;
CREATE TRIGGER users_add_profile AFTER INSERT ON j.users FOR EACH ROW EXECUTE FUNCTION j.add_profile();
CREATE TABLE j.notes (_sync_scope_id text NOT NULL, id text NOT NULL, body text, recreate boolean NOT NULL DEFAULT false,
  PRIMARY KEY (_sync_scope_id, id));
CREATE FUNCTION j.recreate_note() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO j.notes (_sync_scope_id, id, body) VALUES (OLD._sync_scope_id, OLD.id, 'recreated from ' || OLD.body);
  RETURN NULL;
END $$;
CREATE TRIGGER notes_recreate AFTER DELETE ON j.notes FOR EACH ROW WHEN (OLD.recreate) EXECUTE FUNCTION j.recreate_note();
CREATE FUNCTION j.stamp_note() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE j.notes SET body = NEW.body || ' (stamped)' WHERE _sync_scope_id = NEW._sync_scope_id AND id = NEW.id;
  RETURN NULL;
END $$;
CREATE TRIGGER notes_stamp AFTER INSERT ON j.notes FOR EACH ROW WHEN (NEW.body = 'stamp me') EXECUTE FUNCTION j.stamp_note();
`;
const TABLES = ['parents', 'children', 'users', 'profiles', 'readings', 'notes'].map((table) => ({
  schema: 'j',
  table,
  syncKeyColumns: ['id'],
}));

describe('capture completeness and withinSyncBundle (real PostgreSQL)', () => {
  let t: OversyncTestApp;
  let scopes: ScopeManager;
  let sync: SyncService;
  const q = (text: string, values: unknown[] = []) => execSql(t.db.url, text, values);

  beforeAll(async () => {
    t = await createOversyncTestApp({
      schemaSql: SCHEMA,
      options: { registeredTables: TABLES, retention: { retainedBundlesPerUser: 3, pruneBatchSize: 2 } },
    });
    scopes = t.get(ScopeManager);
    sync = t.get(SyncService);
  });
  afterAll(async () => {
    await t.close();
    await t.db.drop();
  });

  it('captures ON UPDATE CASCADE as parent DELETE+INSERT and child UPDATE', async () => {
    await scopes.execWrite('u-cascade', { writerId: 'w' }, async (trx) => {
      await sql`INSERT INTO j.parents (id, name) VALUES ('p1', 'P')`.execute(trx);
      await sql`INSERT INTO j.children (id, parent_id, name) VALUES ('c1', 'p1', 'C')`.execute(trx);
    });
    const res = await scopes.execWrite('u-cascade', { writerId: 'w' }, async (trx) => {
      await sql`UPDATE j.parents SET id = 'p2' WHERE id = 'p1' AND _sync_scope_id = 'u-cascade'`.execute(trx);
    });
    const rows = await committedBundleRows(t, 'u-cascade', res.bundle.bundle_seq);
    expect(rows.map((r) => `${r.table} ${r.op} ${r.key.id}`)).toEqual([
      'parents DELETE p1',
      'parents INSERT p2',
      'children UPDATE c1',
    ]);
    expect(rows[2].payload).toEqual({ id: 'c1', parent_id: 'p2', name: 'C' });
  });

  it('captures rows written by user triggers on registered tables', async () => {
    const res = await scopes.execWrite('u-trigger', { writerId: 'w' }, async (trx) => {
      await sql`INSERT INTO j.users (id, name) VALUES ('ada', 'Ada')`.execute(trx);
    });
    // Statement-level capture: rows a trigger writes while the statement runs are captured before
    // the statement's own rows (clients apply a bundle with foreign keys deferred, so order is free).
    const rows = await committedBundleRows(t, 'u-trigger', res.bundle.bundle_seq);
    expect(rows.map((r) => `${r.table} ${r.op}`).sort()).toEqual(['profiles INSERT', 'users INSERT']);
    expect(rows.find((r) => r.table === 'profiles')!.payload).toEqual({
      id: 'ada',
      nickname: 'Ada',
    });
  });

  it('withinSyncBundle commits the next tuple, replays a committed one without running the callback, and refuses gaps', async () => {
    await expect(
      sync.withinSyncBundle(
        { userId: 'u-within' },
        { sourceId: 'server-app', sourceBundleId: 1 },
        async () => 1,
      ),
    ).rejects.toThrow(ScopeUninitializedError);
    await scopes.execWrite('u-within', { writerId: 'seed' }, async (trx) => {
      await sql`INSERT INTO j.parents (id) VALUES ('seed')`.execute(trx);
    });
    const first = await sync.withinSyncBundle(
      { userId: 'u-within' },
      { sourceId: 'server-app', sourceBundleId: 1 },
      async (trx) => {
        await sql`INSERT INTO j.parents (id, name) VALUES ('w1', 'x')`.execute(trx);
        return 'ran';
      },
    );
    expect(first).toMatchObject({
      replayed: false,
      result: 'ran',
      bundle: { bundle_seq: 2, source_id: 'server-app', source_bundle_id: 1 },
    });
    let ranAgain = false;
    const replay = await sync.withinSyncBundle(
      { userId: 'u-within' },
      { sourceId: 'server-app', sourceBundleId: 1 },
      async () => {
        ranAgain = true;
      },
    );
    expect(ranAgain).toBe(false);
    expect(replay.replayed).toBe(true);
    expect(replay.bundle).toMatchObject({ bundle_seq: 2, bundle_hash: first.bundle!.bundle_hash });
    await expect(
      sync.withinSyncBundle(
        { userId: 'u-within' },
        { sourceId: 'server-app', sourceBundleId: 3 },
        async () => 1,
      ),
    ).rejects.toThrow(SourceSequenceOutOfOrderError);
    const empty = await sync.withinSyncBundle(
      { userId: 'u-within' },
      { sourceId: 'server-app', sourceBundleId: 2 },
      async () => 'nothing',
    );
    expect(empty).toEqual({ bundle: null, replayed: false, result: 'nothing' });
    const wm = await q(
      `SELECT max_committed_source_bundle_id::int AS m FROM sync.source_state WHERE source_id = 'server-app'`,
    );
    expect(wm.rows[0].m).toBe(1);
  });

  it('advances the retained floor by at most one batch per commit and prunes old bundles', async () => {
    const floors: Array<[number, number]> = [];
    for (let i = 0; i < 8; i++) {
      await scopes.execWrite('u-retain', { writerId: 'w' }, async (trx) => {
        await sql`INSERT INTO j.parents (id) VALUES (${randomUUID()})`.execute(trx);
      });
      const r = await q(
        `SELECT next_bundle_seq::int - 1 AS latest, retained_bundle_floor::int AS floor FROM sync.user_state WHERE user_id = 'u-retain'`,
      );
      floors.push([r.rows[0].latest, r.rows[0].floor]);
    }
    // window 3, batch 2: floor = min(latest - 3, floor + 2)
    expect(floors).toEqual([
      [1, 0],
      [2, 0],
      [3, 0],
      [4, 1],
      [5, 2],
      [6, 3],
      [7, 4],
      [8, 5],
    ]);
    const kept = await q(
      `SELECT bundle_seq::int AS s FROM sync.bundle_log WHERE user_pk = (SELECT user_pk FROM sync.user_state WHERE user_id = 'u-retain') ORDER BY 1`,
    );
    expect(kept.rows.map((r) => r.s)).toEqual([6, 7, 8]);
    const rowsLeft = await q(
      `SELECT count(*)::int AS n FROM sync.bundle_rows WHERE bundle_seq <= 5 AND user_pk = (SELECT user_pk FROM sync.user_state WHERE user_id = 'u-retain')`,
    );
    expect(rowsLeft.rows[0].n).toBe(0);
    // A pruned tuple of a source is history.
    await expect(
      sync.withinSyncBundle({ userId: 'u-retain' }, { sourceId: 'w', sourceBundleId: 2 }, async () => 1),
    ).rejects.toThrow(SourceTupleHistoryPrunedError);
  });

  it('fails closed when a captured row vanished without capture (a write bypassed the triggers)', async () => {
    await expect(
      scopes.execWrite('u-bypass', { writerId: 'w' }, async (trx) => {
        await sql`INSERT INTO j.parents (id, name) VALUES ('ghost', 'x')`.execute(trx);
        // replica mode skips every trigger, so this delete is invisible to capture.
        await sql`SET LOCAL session_replication_role = replica`.execute(trx);
        await sql`DELETE FROM j.parents WHERE id = 'ghost'`.execute(trx);
        await sql`SET LOCAL session_replication_role = origin`.execute(trx);
      }),
    ).rejects.toThrow(/missing at finalisation; a write bypassed capture/);
    const bundles = await q(
      `SELECT count(*)::int AS n FROM sync.bundle_log WHERE user_pk = (SELECT user_pk FROM sync.user_state WHERE user_id = 'u-bypass')`,
    );
    expect(bundles.rows[0]?.n ?? 0).toBe(0);
  });

  it('serves a row a user trigger deleted and re-inserted as an UPDATE with its final content', async () => {
    await scopes.execWrite('u-recreate', { writerId: 'w' }, async (trx) => {
      await sql`INSERT INTO j.notes (id, body, recreate) VALUES ('k', 'draft', true)`.execute(trx);
    });
    // The trigger's INSERT is captured before the DELETE that fired it: the stage reads INSERT k,
    // DELETE k although the row was deleted first and exists at COMMIT.
    const res = await scopes.execWrite('u-recreate', { writerId: 'w' }, async (trx) => {
      await sql`DELETE FROM j.notes WHERE id = 'k' AND _sync_scope_id = 'u-recreate'`.execute(trx);
    });
    const rows = await committedBundleRows(t, 'u-recreate', res.bundle.bundle_seq);
    expect(rows.map((r) => `${r.table} ${r.op} ${r.key.id}`)).toEqual(['notes UPDATE k']);
    expect(rows[0].payload).toEqual({ id: 'k', body: 'recreated from draft', recreate: false });
    expect(computeBundleHash(rows.map((r) => ({ ...r, payload: r.payload ?? null })))).toBe(
      res.bundle.bundle_hash,
    );
    const state = await q(
      `SELECT deleted, bundle_seq::int AS seq FROM sync.row_state
        WHERE user_pk = (SELECT user_pk FROM sync.user_state WHERE user_id = 'u-recreate')`,
    );
    expect(state.rows).toEqual([{ deleted: false, seq: res.bundle.bundle_seq }]);
  });

  it('collapses keys by their net change, whatever order nested statements were captured in', async () => {
    await scopes.execWrite('u-nested', { writerId: 'w' }, async (trx) => {
      await sql`INSERT INTO j.notes (id, body, recreate) VALUES ('edited', 'a', true), ('gone', 'b', true)`.execute(
        trx,
      );
    });
    const res = await scopes.execWrite('u-nested', { writerId: 'w' }, async (trx) => {
      // Stage: UPDATE edited, then INSERT + DELETE for each recreated note, then DELETE gone.
      await sql`UPDATE j.notes SET body = 'a2' WHERE id = 'edited' AND _sync_scope_id = 'u-nested'`.execute(
        trx,
      );
      await sql`DELETE FROM j.notes WHERE id IN ('edited', 'gone') AND _sync_scope_id = 'u-nested'`.execute(
        trx,
      );
      await sql`DELETE FROM j.notes WHERE id = 'gone' AND _sync_scope_id = 'u-nested'`.execute(trx);
      // Stage: UPDATE fresh (the trigger's), then INSERT fresh: still a new row.
      await sql`INSERT INTO j.notes (id, body) VALUES ('fresh', 'stamp me')`.execute(trx);
      // Stage: UPDATE brief, INSERT brief, DELETE brief. Never existed outside the transaction, so
      // left out (it used to leave as a DELETE, whose tombstone made a device's offline row of the
      // same key conflict).
      await sql`INSERT INTO j.notes (id, body) VALUES ('brief', 'stamp me')`.execute(trx);
      await sql`DELETE FROM j.notes WHERE id = 'brief' AND _sync_scope_id = 'u-nested'`.execute(trx);
    });
    const rows = await committedBundleRows(t, 'u-nested', res.bundle.bundle_seq);
    expect(rows.map((r) => [r.op, r.key.id, r.payload ?? null])).toEqual([
      ['UPDATE', 'edited', { id: 'edited', body: 'recreated from a2', recreate: false }],
      ['DELETE', 'gone', null],
      ['INSERT', 'fresh', { id: 'fresh', body: 'stamp me (stamped)', recreate: false }],
    ]);
    expect(computeBundleHash(rows.map((r) => ({ ...r, payload: r.payload ?? null })))).toBe(
      res.bundle.bundle_hash,
    );
  });

  it('drops a key inserted and deleted within the bundle and numbers the rest without gaps', async () => {
    const res = await scopes.execWrite('u-vanish', { writerId: 'w' }, async (trx) => {
      await sql`INSERT INTO j.notes (id, body) VALUES ('a', 'x')`.execute(trx);
      await sql`INSERT INTO j.notes (id, body) VALUES ('tmp', 'x')`.execute(trx);
      await sql`INSERT INTO j.notes (id, body) VALUES ('b', 'x')`.execute(trx);
      await sql`DELETE FROM j.notes WHERE id = 'tmp' AND _sync_scope_id = 'u-vanish'`.execute(trx);
    });
    const rows = await committedBundleRows(t, 'u-vanish', res.bundle.bundle_seq);
    expect(rows.map((r) => `${r.op} ${r.key.id}`)).toEqual(['INSERT a', 'INSERT b']);
    expect(res.bundle.row_count).toBe(2);
    expect(computeBundleHash(rows.map((r) => ({ ...r, payload: r.payload ?? null })))).toBe(
      res.bundle.bundle_hash,
    );
    const stored = await q(
      `SELECT r.row_ordinal::int AS o FROM sync.bundle_rows r JOIN sync.user_state u USING (user_pk)
        WHERE u.user_id = 'u-vanish' ORDER BY 1`,
    );
    expect(stored.rows.map((r) => r.o)).toEqual([1, 2]);
    const state = await q(
      `SELECT count(*)::int AS n FROM sync.row_state
        WHERE user_pk = (SELECT user_pk FROM sync.user_state WHERE user_id = 'u-vanish')`,
    );
    expect(state.rows[0].n).toBe(2);
  });

  it('fails closed on the collapsing path too when a captured row vanished without capture', async () => {
    await expect(
      scopes.execWrite('u-bypass-repeat', { writerId: 'w' }, async (trx) => {
        await sql`INSERT INTO j.notes (id, body) VALUES ('ghost', 'x')`.execute(trx);
        await sql`UPDATE j.notes SET body = 'y' WHERE id = 'ghost' AND _sync_scope_id = 'u-bypass-repeat'`.execute(
          trx,
        );
        await sql`SET LOCAL session_replication_role = replica`.execute(trx);
        await sql`DELETE FROM j.notes WHERE id = 'ghost'`.execute(trx);
        await sql`SET LOCAL session_replication_role = origin`.execute(trx);
      }),
    ).rejects.toThrow(/missing at finalisation; a write bypassed capture/);
  });

  it('refuses a second, conflicting bundle context in the same transaction', async () => {
    const err = await scopes
      .execWrite('u-context', { writerId: 'w' }, async (trx) => {
        await sql`SELECT sync.begin_bundle_context('someone-else', 1, 'w', 1, NULL)`.execute(trx);
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegisteredWriteRejectedError);
    expect((err as Error).message).toMatch(/conflicting sync bundle context/);
  });

  it('reports status counters from what is retained', async () => {
    const status = await sync.getStatus();
    expect(status).toMatchObject({
      status: 'healthy',
      version: 'v1',
      lifecycle: 'running',
      accepting_operations: true,
      app_name: 'oversync-test',
    });
    expect(status.registered_tables).toEqual([
      'j.children',
      'j.notes',
      'j.parents',
      'j.profiles',
      'j.readings',
      'j.users',
    ]);
    const log = await q(`SELECT count(*)::int AS n, sum(byte_count)::int AS b FROM sync.bundle_log`);
    expect(status.committed_bundle_count).toBe(log.rows[0].n);
    expect(status.committed_bundle_bytes).toBe(log.rows[0].b);
    expect(status.latest_bundle_seq_max).toBe(8);
    expect(status.retained_bundle_floor_max).toBe(5);
    const windows = await q(
      `SELECT min(next_bundle_seq - 1 - retained_bundle_floor)::int AS lo, max(next_bundle_seq - 1 - retained_bundle_floor)::int AS hi FROM sync.user_state WHERE next_bundle_seq > 1`,
    );
    expect([status.retained_bundle_window_min, status.retained_bundle_window_max]).toEqual([
      windows.rows[0].lo,
      windows.rows[0].hi,
    ]);
    expect(status.retained_bundle_window_max).toBe(3);
  });

  it('renders a column added after bootstrap into payloads, and the hash still verifies', async () => {
    await q(`ALTER TABLE j.parents ADD COLUMN extra integer DEFAULT 7`);
    try {
      const res = await scopes.execWrite('u-drift', { writerId: 'w' }, async (trx) => {
        await sql`INSERT INTO j.parents (id, name) VALUES ('d1', 'D')`.execute(trx);
      });
      const rows = await committedBundleRows(t, 'u-drift', res.bundle.bundle_seq);
      expect(rows[0].payload).toEqual({ id: 'd1', name: 'D', extra: 7 });
      expect(computeBundleHash(rows.map((r) => ({ ...r, payload: r.payload ?? null })))).toBe(
        res.bundle.bundle_hash,
      );
    } finally {
      await q(`ALTER TABLE j.parents DROP COLUMN extra`);
    }
    const after = await scopes.execWrite('u-drift', { writerId: 'w' }, async (trx) => {
      await sql`INSERT INTO j.parents (id, name) VALUES ('d2', 'E')`.execute(trx);
    });
    expect((await committedBundleRows(t, 'u-drift', after.bundle.bundle_seq))[0].payload).toEqual({
      id: 'd2',
      name: 'E',
    });
  });

  it('seals the bundle at finalisation: a later write in the same transaction is refused, not lost', async () => {
    const runner = t.get(ScopeTransactionRunner);
    await expect(
      runner.run('u-sealed', 'w', async (trx, scope) => {
        const identity = { sourceId: 'w', sourceBundleId: scope.source.maxCommitted + 1 };
        await runner.beginBundle(trx, scope, identity);
        await sql`INSERT INTO j.parents (id) VALUES ('in-bundle')`.execute(trx);
        await runner.finalizeBundle(trx, scope, identity);
        await sql`INSERT INTO j.parents (id) VALUES ('after-seal')`.execute(trx);
      }),
    ).rejects.toThrow(RegisteredWriteRejectedError);
    expect(
      (await q(`SELECT count(*)::int AS n FROM j.parents WHERE _sync_scope_id = 'u-sealed'`)).rows[0].n,
    ).toBe(0);
  });

  it('renders the same bytes when the host turned standard_conforming_strings off', async () => {
    const res = await scopes.execWrite('u-scs', { writerId: 'w' }, async (trx) => {
      await sql`SET LOCAL standard_conforming_strings = off`.execute(trx);
      // E'' literals mean the same under either setting: id s\1, name with a newline and U+2028.
      await sql`INSERT INTO j.parents (id, name) VALUES (E's\\\\1', E'<a & b>\\n\\u2028')`.execute(trx);
    });
    const rows = await committedBundleRows(t, 'u-scs', res.bundle.bundle_seq);
    expect(rows[0].payload).toEqual({ id: 's\\1', name: '<a & b>\n\u2028' });
    expect(computeBundleHash(rows.map((r) => ({ ...r, payload: r.payload ?? null })))).toBe(
      res.bundle.bundle_hash,
    );
  });

  it('renders the same payload when the callback changed the session settings values print with', async () => {
    const write = (scope: string, settings: string[]) =>
      scopes.execWrite(scope, { writerId: 'w' }, async (trx) => {
        for (const setting of settings) await sql.raw(setting).execute(trx);
        await sql`INSERT INTO j.readings (id, value, taken_at, raw)
                  VALUES ('r1', 0.1::float8 + 0.2::float8, '2026-01-02 03:04:05.678901+00', '\\x00ff'::bytea)`.execute(
          trx,
        );
      });
    const plain = await write('u-settings-plain', []);
    const changed = await write('u-settings-changed', [
      'SET LOCAL extra_float_digits = 0',
      "SET LOCAL TimeZone = 'Asia/Tokyo'",
      "SET LOCAL bytea_output = 'escape'",
      "SET LOCAL IntervalStyle = 'postgres'",
    ]);
    const [a] = await committedBundleRows(t, 'u-settings-plain', plain.bundle.bundle_seq);
    const [b] = await committedBundleRows(t, 'u-settings-changed', changed.bundle.bundle_seq);
    expect(a.payload).toEqual({
      id: 'r1',
      value: 0.30000000000000004,
      taken_at: expect.any(String),
      raw: 'AP8=',
    });
    expect(b.payload).toEqual(a.payload);
    expect(changed.bundle.bundle_hash).toBe(plain.bundle.bundle_hash);
  });
});
