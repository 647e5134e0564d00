/**
 * Capture review: what a demanding host does to its registered tables while the app runs — ALTER
 * TABLE ADD / DROP / ALTER COLUMN TYPE, savepoints inside execWrite, its own triggers, cascades and
 * deferred constraint triggers, row-level security, unusual column types and long statement
 * sequences — checked against the live rows (row_to_json plus the protocol canonicaliser), the
 * bundle_hash clients verify, pull, committed rows and push over real HTTP.
 */
import { randomBytes } from 'node:crypto';
import { ScopeManager, ScopeWriteInvalidError } from '@oversync/nestjs';
import {
  canonicalJson,
  computeBundleHash,
  type BundleRow,
  type JsonObject,
  type PullResponse,
} from '@oversync/protocol';
import { sql } from 'kysely';
import pg from 'pg';
import { execSql } from '../support/business-schema.js';
import { committedBundleRows } from '../support/bundle-rows.js';
import { createOversyncTestApp, type OversyncTestApp } from '../support/oversync-app.js';
import * as push from '../support/push-builders.js';
import { snapshotRowsOf } from '../support/read-builders.js';
import { syncClient } from '../support/sync-http.js';
import { adminUrl, createTestDatabase } from '../support/test-database.js';

const SCHEMA = `
CREATE SCHEMA ev;
CREATE TYPE ev.mood AS ENUM ('ok', 'sad <3', 'ünï');
CREATE DOMAIN ev.blob AS bytea;
CREATE TABLE ev.notes (_sync_scope_id text NOT NULL, id text NOT NULL, title text, n integer,
  PRIMARY KEY (_sync_scope_id, id));
CREATE TABLE ev.evo (_sync_scope_id text NOT NULL, id text NOT NULL, title text, n integer,
  PRIMARY KEY (_sync_scope_id, id));
CREATE TABLE ev.parents (_sync_scope_id text NOT NULL, id text NOT NULL, name text, touched integer NOT NULL DEFAULT 0,
  PRIMARY KEY (_sync_scope_id, id));
CREATE TABLE ev.children (_sync_scope_id text NOT NULL, id text NOT NULL, parent_id text,
  PRIMARY KEY (_sync_scope_id, id),
  FOREIGN KEY (_sync_scope_id, parent_id) REFERENCES ev.parents (_sync_scope_id, id)
    ON DELETE CASCADE ON UPDATE CASCADE DEFERRABLE INITIALLY DEFERRED);
CREATE TABLE ev.audit (_sync_scope_id text NOT NULL, id text NOT NULL, note text,
  PRIMARY KEY (_sync_scope_id, id));
CREATE TABLE ev.typed (_sync_scope_id text NOT NULL, id uuid NOT NULL, tags text[], moods ev.mood[], m ev.mood,
  b ev.blob, bs ev.blob[], big numeric, tiny numeric, f double precision, at timestamptz, j json, body text,
  PRIMARY KEY (_sync_scope_id, id));
-- AFTER ROW trigger updating the very row just inserted, and auditing it in another registered table.
CREATE FUNCTION ev.stamp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE ev.parents SET touched = touched + 1, name = upper(name)
   WHERE _sync_scope_id = NEW._sync_scope_id AND id = NEW.id;
  INSERT INTO ev.audit (_sync_scope_id, id, note) VALUES (NEW._sync_scope_id, 'ins-' || NEW.id, NEW.name);
  RETURN NULL;
END $$;
CREATE TRIGGER parents_stamp AFTER INSERT ON ev.parents FOR EACH ROW
  WHEN (NEW.name LIKE 'stamp%') EXECUTE FUNCTION ev.stamp();
-- A constraint trigger the host declared to fire IMMEDIATELY (at the end of each statement).
CREATE FUNCTION ev.audit_now() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO ev.audit (_sync_scope_id, id, note) VALUES (NEW._sync_scope_id, 'ct-' || NEW.id, 'constraint trigger');
  RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER notes_audit AFTER INSERT ON ev.notes DEFERRABLE INITIALLY IMMEDIATE
  FOR EACH ROW WHEN (NEW.title = 'audited') EXECUTE FUNCTION ev.audit_now();
`;
const TABLES = ['notes', 'evo', 'parents', 'children', 'audit', 'typed'].map((table) => ({
  schema: 'ev',
  table,
  syncKeyColumns: ['id'],
}));

type Rows = BundleRow[];
/** A pushed INSERT of `payload` (which names the key) into `ev.<table>`. */
const insertRow = (table: string, payload: JsonObject) => ({
  schema: 'ev',
  table,
  key: { id: payload.id },
  op: 'INSERT',
  base_row_version: 0,
  payload,
});
const summary = (rows: Rows): string[] => rows.map((r) => `${r.op} ${r.table}.${r.key.id}`);
const hashOf = (rows: Rows): string =>
  computeBundleHash(rows.map((r) => ({ ...r, payload: r.payload ?? null })));

/** row_to_json of the live row (value settings as finalisation pins them), canonical, scope left out, bytea as base64. */
async function liveImage(
  url: string,
  table: string,
  scope: string,
  id: string,
  bytea: string[] = [],
): Promise<string> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(`SET TimeZone = 'UTC'; SET IntervalStyle = 'iso_8601'; SET extra_float_digits = 1`);
    const { rows } = await c.query<{ j: string }>(
      `SELECT row_to_json(t)::text AS j FROM ev.${table} t WHERE _sync_scope_id = $1 AND id::text = $2`,
      [scope, id],
    );
    const image = JSON.parse(rows[0].j) as JsonObject;
    delete image._sync_scope_id;
    for (const col of bytea) {
      const v = image[col];
      if (typeof v === 'string') image[col] = Buffer.from(v.slice(2), 'hex').toString('base64');
    }
    return canonicalJson(image);
  } finally {
    await c.end();
  }
}

describe('capture under a live, evolving host schema (real PostgreSQL, real HTTP)', () => {
  let t: OversyncTestApp;
  let scopes: ScopeManager;
  const q = (text: string, values: unknown[] = []) => execSql(t.db.url, text, values);
  const write = (scope: string, fn: Parameters<ScopeManager['execWrite']>[2]) =>
    scopes.execWrite(scope, { writerId: 'w' }, fn);
  const pull = async (scope: string, after = 0): Promise<PullResponse> => {
    const reply = await syncClient(
      t.baseUrl,
      scope,
      'reader',
    )<PullResponse>({
      path: `/sync/pull?after_bundle_seq=${after}&max_bundles=100`,
    });
    expect(reply.status).toBe(200);
    return reply.json;
  };

  beforeAll(async () => {
    t = await createOversyncTestApp({
      schemaSql: SCHEMA,
      listen: true,
      options: { registeredTables: TABLES },
    });
    scopes = t.get(ScopeManager);
  });
  afterAll(async () => {
    await t.close();
  });

  it('follows ADD COLUMN, ALTER COLUMN TYPE and DROP COLUMN made while running; old bundles keep their payloads', async () => {
    const s = 'u-evolve';
    const b1 = await write(s, async (trx) => {
      await sql`INSERT INTO ev.evo (id, title, n) VALUES ('a', 'A', 1), ('b', 'B', 2)`.execute(trx);
    });
    // Another connection (a migration) changes the table under the running app.
    await q(`ALTER TABLE ev.evo ADD COLUMN tag text DEFAULT 'dflt', ADD COLUMN "Mixed Case" integer`);
    const b2 = await write(s, async (trx) => {
      await sql`UPDATE ev.evo SET title = 'A2' WHERE _sync_scope_id = ${s} AND id = 'a'`.execute(trx);
      await sql`INSERT INTO ev.evo (id, title, "Mixed Case") VALUES ('c', 'C', 7)`.execute(trx);
    });
    await q(
      `ALTER TABLE ev.evo ALTER COLUMN n TYPE numeric(10,2) USING n * 1.5, ALTER COLUMN tag DROP DEFAULT, ALTER COLUMN tag TYPE ev.mood USING 'ok'`,
    );
    const b3 = await write(s, async (trx) => {
      await sql`UPDATE ev.evo SET n = n + 0.25 WHERE _sync_scope_id = ${s} AND id = 'b'`.execute(trx);
    });
    await q(`ALTER TABLE ev.evo DROP COLUMN "Mixed Case", DROP COLUMN title`);
    const b4 = await write(s, async (trx) => {
      await sql`UPDATE ev.evo SET tag = 'sad <3' WHERE _sync_scope_id = ${s} AND id = 'c'`.execute(trx);
    });
    const r2 = await committedBundleRows(t, s, b2.bundle.bundle_seq);
    expect(summary(r2)).toEqual(['UPDATE evo.a', 'INSERT evo.c']);
    expect(r2[0].payload).toEqual({ id: 'a', title: 'A2', n: 1, tag: 'dflt', 'Mixed Case': null });
    expect(r2[1].payload).toEqual({ id: 'c', title: 'C', n: null, tag: 'dflt', 'Mixed Case': 7 });
    const r3 = await committedBundleRows(t, s, b3.bundle.bundle_seq);
    expect(r3[0].payload).toEqual({ id: 'b', title: 'B', n: 3.25, tag: 'ok', 'Mixed Case': null });
    const r4 = await committedBundleRows(t, s, b4.bundle.bundle_seq);
    expect(canonicalJson(r4[0].payload!)).toBe(await liveImage(t.db.url, 'evo', s, 'c'));
    for (const [b, rows] of [
      [b2, r2],
      [b3, r3],
      [b4, r4],
    ] as const)
      expect(hashOf(rows)).toBe(b.bundle.bundle_hash);
    // Pull serves every bundle as committed (the first with the columns of its day) and verifies.
    const pulled = await pull(s);
    expect(pulled.bundles.map((b) => b.bundle_seq)).toEqual(
      [1, 2, 3, 4].map((i) => b1.bundle.bundle_seq + i - 1),
    );
    expect(pulled.bundles[0].rows[0].payload).toEqual({ id: 'a', title: 'A', n: 1 });
    for (const b of pulled.bundles) expect(hashOf(b.rows)).toBe(b.bundle_hash);
    // A snapshot renders the live columns.
    const snap = await snapshotRowsOf(t, s);
    expect(snap.find((r) => r.key.id === 'b')?.payload).toEqual({ id: 'b', n: 3.25, tag: 'ok' });
  });

  it('accepts pushes naming a bytea-domain column added at runtime, returns it as base64, and refuses a dropped column', async () => {
    const s = push.newUser('u-push-evolve');
    const c = syncClient(t.baseUrl, s, 'dev-1');
    await push.initializeEmpty(c);
    await q(`ALTER TABLE ev.notes ADD COLUMN raw ev.blob, ADD COLUMN extra integer DEFAULT 5`);
    try {
      const raw = Buffer.from([0, 255, 16, 1]).toString('base64');
      const committed = await push.pushOk(c, 1, [
        insertRow('notes', { id: 'p1', raw }),
        // An older client that never heard of the new columns.
        insertRow('notes', { id: 'p2', title: 'old' }),
      ]);
      const { rows } = await push.fetchCommittedRows(c, committed.bundle_seq as number);
      expect(rows.map((r) => r.payload)).toEqual([
        { id: 'p1', title: null, n: null, raw, extra: 5 },
        { id: 'p2', title: 'old', n: null, raw: null, extra: 5 },
      ]);
      expect(hashOf(rows)).toBe(committed.bundle_hash);
      expect(canonicalJson(rows[0].payload!)).toBe(await liveImage(t.db.url, 'notes', s, 'p1', ['raw']));
      await q(`ALTER TABLE ev.notes DROP COLUMN extra`);
      const created = await push.createSession(c, 2, 1);
      const chunk = await push.uploadChunk(c, created.json.push_id as string, 0, [
        insertRow('notes', { id: 'p3', extra: 1 }),
      ]);
      expect([chunk.status, chunk.json.error]).toEqual([400, 'push_chunk_invalid']);
    } finally {
      await q(`ALTER TABLE ev.notes DROP COLUMN raw, DROP COLUMN IF EXISTS extra`);
    }
  });

  it('takes a pushed payload back under the exact name of a quoted mixed-case column (it was refused 400)', async () => {
    const s = push.newUser('u-mixed-case');
    const c = syncClient(t.baseUrl, s, 'dev-1');
    await push.initializeEmpty(c);
    await q(`ALTER TABLE ev.notes ADD COLUMN "dueAt" text`);
    try {
      const first = await push.pushOk(c, 1, [insertRow('notes', { id: 'm1', dueAt: 'monday' })]);
      const { rows } = await push.fetchCommittedRows(c, first.bundle_seq as number);
      expect(rows[0].payload).toEqual({ id: 'm1', title: null, n: null, dueAt: 'monday' });
      // A device echoes the payload it was served, with a change.
      const echoed = { ...rows[0].payload!, dueAt: 'tuesday' };
      await push.pushOk(c, 2, [
        { ...insertRow('notes', echoed), op: 'UPDATE', base_row_version: first.bundle_seq },
      ]);
      const stored = await q(
        `SELECT "dueAt" AS due FROM ev.notes WHERE _sync_scope_id = '${s}' AND id = 'm1'`,
      );
      expect(stored.rows).toEqual([{ due: 'tuesday' }]);
    } finally {
      await q(`ALTER TABLE ev.notes DROP COLUMN "dueAt"`);
    }
  });

  it('applies pushed payloads that echo generated and identity columns, letting PostgreSQL compute them (it failed the commit)', async () => {
    const s = push.newUser('u-generated');
    const c = syncClient(t.baseUrl, s, 'dev-1');
    await push.initializeEmpty(c);
    await q(
      `ALTER TABLE ev.notes ADD COLUMN title_len integer GENERATED ALWAYS AS (length(title)) STORED,
                            ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY`,
    );
    try {
      const first = await push.pushOk(c, 1, [
        insertRow('notes', { id: 'g1', title: 'four', title_len: 99, seq: 7 }),
      ]);
      const { rows } = await push.fetchCommittedRows(c, first.bundle_seq as number);
      const served = rows[0].payload!;
      expect(served).toMatchObject({ id: 'g1', title: 'four', title_len: 4 });
      const echoed = { ...served, title: 'eleven long' };
      await push.pushOk(c, 2, [
        { ...insertRow('notes', echoed), op: 'UPDATE', base_row_version: first.bundle_seq },
      ]);
      const stored = await q(
        `SELECT title_len, seq::int AS seq FROM ev.notes WHERE _sync_scope_id = '${s}' AND id = 'g1'`,
      );
      expect(stored.rows).toEqual([{ title_len: 11, seq: served.seq }]);
    } finally {
      await q(`ALTER TABLE ev.notes DROP COLUMN title_len, DROP COLUMN seq`);
    }
  });

  it('renders the real columns after a callback that altered the table and then failed', async () => {
    const s = 'u-ddl-rollback';
    const failed = await write(s, async (trx) => {
      await sql`ALTER TABLE ev.audit ADD COLUMN ghost integer DEFAULT 1`.execute(trx);
      await sql`INSERT INTO ev.audit (id, note) VALUES ('g', 'x')`.execute(trx);
      throw new Error('host gives up');
    }).catch((e: unknown) => e);
    expect(String(failed)).toMatch(/host gives up/);
    const ok = await write(s, async (trx) => {
      // DDL inside the callback: the bundle renders the column added in this same transaction.
      await sql`ALTER TABLE ev.audit ADD COLUMN inside text DEFAULT 'in'`.execute(trx);
      await sql`INSERT INTO ev.audit (id, note) VALUES ('h', 'y')`.execute(trx);
    });
    try {
      const rows = await committedBundleRows(t, s, ok.bundle.bundle_seq);
      expect(rows[0].payload).toEqual({ id: 'h', note: 'y', inside: 'in' });
      expect(hashOf(rows)).toBe(ok.bundle.bundle_hash);
    } finally {
      await q(`ALTER TABLE ev.audit DROP COLUMN inside`);
    }
    const after = await write(s, async (trx) => {
      await sql`INSERT INTO ev.audit (id, note) VALUES ('i', 'z')`.execute(trx);
    });
    expect((await committedBundleRows(t, s, after.bundle.bundle_seq))[0].payload).toEqual({
      id: 'i',
      note: 'z',
    });
  });

  it('leaves writes rolled back to a savepoint out of the bundle, numbering the rest without gaps', async () => {
    const s = 'u-savepoints';
    await write(s, async (trx) => {
      await sql`INSERT INTO ev.notes (id, title) SELECT 'k' || g, 'seed' FROM generate_series(1, 5) g`.execute(
        trx,
      );
    });
    const res = await write(s, async (trx) => {
      await sql`INSERT INTO ev.notes (id, title) VALUES ('n1', 'kept')`.execute(trx);
      await sql`SAVEPOINT a`.execute(trx);
      // The only write to parents/children: their first capture is rolled back with the savepoint.
      await sql`INSERT INTO ev.parents (id, name) VALUES ('lost-p', 'x')`.execute(trx);
      await sql`INSERT INTO ev.children (id, parent_id) VALUES ('lost-c', 'lost-p')`.execute(trx);
      await sql`UPDATE ev.notes SET title = 'lost' WHERE _sync_scope_id = ${s}`.execute(trx);
      await sql`DELETE FROM ev.notes WHERE _sync_scope_id = ${s} AND id = 'k1'`.execute(trx);
      await sql`ROLLBACK TO SAVEPOINT a`.execute(trx);
      await sql`UPDATE ev.notes SET title = 'k2!' WHERE _sync_scope_id = ${s} AND id = 'k2'`.execute(trx);
      await sql`SAVEPOINT b`.execute(trx);
      // The recommended pattern: a statement that may fail, under a savepoint.
      const dup = await sql`INSERT INTO ev.notes (id, title) VALUES ('k3', 'dup')`
        .execute(trx)
        .catch(() => 'dup');
      expect(dup).toBe('dup');
      await sql`ROLLBACK TO SAVEPOINT b`.execute(trx);
      await sql`SAVEPOINT c`.execute(trx);
      await sql`DELETE FROM ev.notes WHERE _sync_scope_id = ${s} AND id = 'k4'`.execute(trx);
      await sql`RELEASE SAVEPOINT c`.execute(trx);
      await sql`INSERT INTO ev.notes (id, title) VALUES ('n2', 'kept')`.execute(trx);
    });
    const rows = await committedBundleRows(t, s, res.bundle.bundle_seq);
    expect(summary(rows)).toEqual([
      'INSERT notes.n1',
      'UPDATE notes.k2',
      'DELETE notes.k4',
      'INSERT notes.n2',
    ]);
    expect(hashOf(rows)).toBe(res.bundle.bundle_hash);
    const ordinals = await q(
      `SELECT row_ordinal::int AS o FROM sync.bundle_rows br JOIN sync.user_state u USING (user_pk)
        WHERE u.user_id = $1 AND br.bundle_seq = $2 ORDER BY 1`,
      [s, res.bundle.bundle_seq],
    );
    expect(ordinals.rows.map((r: { o: number }) => r.o)).toEqual([1, 2, 3, 4]);
  });

  it('captures an AFTER ROW trigger updating the row just inserted and auditing it in another table', async () => {
    const s = 'u-stamp';
    const res = await write(s, async (trx) => {
      await sql`INSERT INTO ev.parents (id, name) VALUES ('p1', 'stamp one'), ('p2', 'plain')`.execute(trx);
    });
    const rows = await committedBundleRows(t, s, res.bundle.bundle_seq);
    expect(summary(rows).sort()).toEqual(['INSERT audit.ins-p1', 'INSERT parents.p1', 'INSERT parents.p2']);
    expect(rows.find((r) => r.key.id === 'p1')?.payload).toEqual({ id: 'p1', name: 'STAMP ONE', touched: 1 });
    expect(hashOf(rows)).toBe(res.bundle.bundle_hash);
    // The same trigger on a pushed row: the authoritative bundle carries the trigger's writes.
    const u = push.newUser('u-stamp-push');
    const c = syncClient(t.baseUrl, u, 'dev');
    await push.initializeEmpty(c);
    const committed = await push.pushOk(c, 1, [insertRow('parents', { id: 'q', name: 'stamp q' })]);
    const pushed = (await push.fetchCommittedRows(c, committed.bundle_seq as number)).rows;
    expect(summary(pushed).sort()).toEqual(['INSERT audit.ins-q', 'INSERT parents.q']);
    expect(pushed.find((r) => r.table === 'parents')?.payload).toEqual({
      id: 'q',
      name: 'STAMP Q',
      touched: 1,
    });
  });

  it('captures ON DELETE CASCADE and ON UPDATE CASCADE across registered tables', async () => {
    const s = 'u-cascade';
    await write(s, async (trx) => {
      await sql`INSERT INTO ev.parents (id, name) VALUES ('pa', 'a'), ('pb', 'b')`.execute(trx);
      await sql`INSERT INTO ev.children (id, parent_id) VALUES ('c1', 'pa'), ('c2', 'pa'), ('c3', 'pb')`.execute(
        trx,
      );
    });
    const res = await write(s, async (trx) => {
      await sql`DELETE FROM ev.parents WHERE _sync_scope_id = ${s} AND id = 'pa'`.execute(trx);
      await sql`UPDATE ev.parents SET id = 'pb2' WHERE _sync_scope_id = ${s} AND id = 'pb'`.execute(trx);
    });
    const rows = await committedBundleRows(t, s, res.bundle.bundle_seq);
    expect(summary(rows).sort()).toEqual([
      'DELETE children.c1',
      'DELETE children.c2',
      'DELETE parents.pa',
      'DELETE parents.pb',
      'INSERT parents.pb2',
      'UPDATE children.c3',
    ]);
    expect(rows.find((r) => r.key.id === 'c3')?.payload).toEqual({ id: 'c3', parent_id: 'pb2' });
    expect(hashOf(rows)).toBe(res.bundle.bundle_hash);
  });

  // begin_bundle_context defers constraints; such a trigger once fired after the bundle was sealed and its write was refused.
  it('captures the write of a host constraint trigger declared DEFERRABLE INITIALLY IMMEDIATE', async () => {
    const s = 'u-ct';
    const res = await write(s, async (trx) => {
      await sql`INSERT INTO ev.notes (id, title) VALUES ('ct1', 'audited')`.execute(trx);
    }).catch((e: unknown) => e);
    expect(res instanceof Error ? res.message : 'committed').toBe('committed');
    const { bundle } = res as Awaited<ReturnType<ScopeManager['execWrite']>>;
    expect(summary(await committedBundleRows(t, s, bundle.bundle_seq)).sort()).toEqual([
      'INSERT audit.ct-ct1',
      'INSERT notes.ct1',
    ]);
  });

  it('captures that constraint trigger on a pushed row (push commits check deferred constraints before finalising)', async () => {
    const u = push.newUser('u-ct-push');
    const c = syncClient(t.baseUrl, u, 'dev');
    await push.initializeEmpty(c);
    const committed = await push.pushOk(c, 1, [insertRow('notes', { id: 'ct2', title: 'audited' })]);
    const rows = (await push.fetchCommittedRows(c, committed.bundle_seq as number)).rows;
    expect(summary(rows).sort()).toEqual(['INSERT audit.ct-ct2', 'INSERT notes.ct2']);
  });

  it('renders arrays, enums, bytea domains, numeric extremes, a callback TimeZone, duplicate json keys, U+2028 and 1 MB of text like row_to_json', async () => {
    const s = 'u-types';
    const id = '0f0e0d0c-0b0a-4908-8706-050403020100';
    const body = 'x\u2028y<&>é😀'.repeat(100_000);
    const res = await write(s, async (trx) => {
      await sql`SET LOCAL TimeZone = 'Pacific/Chatham'`.execute(trx);
      await sql`SET LOCAL extra_float_digits = -5`.execute(trx);
      await sql`INSERT INTO ev.typed (id, tags, moods, m, b, bs, big, tiny, f, at, j, body)
                VALUES (${id}::uuid, ARRAY['a,b', NULL, 'say "hi"', E'line\\u2028sep'], ARRAY['sad <3', 'ünï']::ev.mood[], 'ünï',
                        '\\x00ff'::ev.blob, ARRAY['\\x01'::bytea, NULL]::ev.blob[],
                        '1e300'::numeric, '-1e-320'::numeric, 0.1 + 0.2,
                        '2026-03-01 12:00:00', '{"a":1,"a":2,"b":{"z":0,"y":[1e2, -0]}}', ${body})`.execute(
        trx,
      );
    });
    const rows = await committedBundleRows(t, s, res.bundle.bundle_seq);
    const p = rows[0].payload!;
    expect(p.at).toBe('2026-02-28T22:15:00+00:00');
    expect(p.j).toEqual({ a: 2, b: { y: [100, -0], z: 0 } });
    expect((p.body as string).length).toBe(body.length);
    expect(canonicalJson(p)).toBe(await liveImage(t.db.url, 'typed', s, id, ['b']));
    expect(hashOf(rows)).toBe(res.bundle.bundle_hash);
    const pulled = await pull(s);
    expect(hashOf(pulled.bundles[0].rows)).toBe(pulled.bundles[0].bundle_hash);
  });

  it('collapses 500+ single-row statements in one execWrite to the right net effects and op codes', async () => {
    const s = 'u-many';
    await write(s, async (trx) => {
      await sql`INSERT INTO ev.notes (id, n) SELECT 'old' || g, g FROM generate_series(0, 99) g`.execute(trx);
    });
    const res = await write(s, async (trx) => {
      for (let i = 0; i < 500; i++)
        await sql`INSERT INTO ev.notes (id, n) VALUES (${'new' + i}, ${i})`.execute(trx);
      for (let i = 0; i < 100; i++)
        await sql`UPDATE ev.notes SET n = -n WHERE _sync_scope_id = ${s} AND id = ${'new' + i}`.execute(trx);
      for (let i = 100; i < 150; i++)
        await sql`DELETE FROM ev.notes WHERE _sync_scope_id = ${s} AND id = ${'new' + i}`.execute(trx);
      for (let i = 0; i < 30; i++)
        await sql`UPDATE ev.notes SET n = 1000 + n WHERE _sync_scope_id = ${s} AND id = ${'old' + i}`.execute(
          trx,
        );
      for (let i = 30; i < 50; i++)
        await sql`DELETE FROM ev.notes WHERE _sync_scope_id = ${s} AND id = ${'old' + i}`.execute(trx);
      for (let i = 50; i < 60; i++) {
        await sql`DELETE FROM ev.notes WHERE _sync_scope_id = ${s} AND id = ${'old' + i}`.execute(trx);
        await sql`INSERT INTO ev.notes (id, n) VALUES (${'old' + i}, 7)`.execute(trx);
      }
      // A new row inserted, deleted and inserted again; and one inserted then deleted for good.
      await sql`DELETE FROM ev.notes WHERE _sync_scope_id = ${s} AND id = 'new499'`.execute(trx);
      await sql`INSERT INTO ev.notes (id, n) VALUES ('new499', 4990)`.execute(trx);
      await sql`DELETE FROM ev.notes WHERE _sync_scope_id = ${s} AND id = 'new498'`.execute(trx);
    });
    const rows = await committedBundleRows(t, s, res.bundle.bundle_seq);
    const ops = (op: string, prefix: string) =>
      rows.filter((r) => r.op === op && String(r.key.id).startsWith(prefix)).length;
    expect({
      insNew: ops('INSERT', 'new'),
      updNew: ops('UPDATE', 'new'),
      delNew: ops('DELETE', 'new'),
      updOld: ops('UPDATE', 'old'),
      delOld: ops('DELETE', 'old'),
      insOld: ops('INSERT', 'old'),
    }).toEqual({ insNew: 449, updNew: 0, delNew: 0, updOld: 40, delOld: 20, insOld: 0 });
    expect(res.bundle.row_count).toBe(509);
    expect(rows.find((r) => r.key.id === 'new5')?.payload).toEqual({ id: 'new5', n: -5, title: null });
    expect(rows.find((r) => r.key.id === 'new499')?.payload).toEqual({ id: 'new499', n: 4990, title: null });
    expect(rows.find((r) => r.key.id === 'old55')?.payload).toEqual({ id: 'old55', n: 7, title: null });
    // Bundle order is first capture: the 500 inserts first, in statement order.
    expect(rows.slice(0, 3).map((r) => r.key.id)).toEqual(['new0', 'new1', 'new2']);
    expect(hashOf(rows)).toBe(res.bundle.bundle_hash);
  });
});

describe('capture on a registered table under row-level security (real PostgreSQL)', () => {
  const role = `cev_app_${randomBytes(4).toString('hex')}`;
  let t: OversyncTestApp;
  let url: string;
  let superUrl: string;
  const admin = async (text: string): Promise<void> => {
    await execSql(adminUrl(), text);
  };

  beforeAll(async () => {
    await admin(`CREATE ROLE ${role} LOGIN`);
    const db = await createTestDatabase();
    superUrl = db.url;
    await admin(`ALTER DATABASE "${db.name}" OWNER TO ${role}`);
    const u = new URL(db.url);
    u.username = role;
    url = u.toString();
    await execSql(
      url,
      `CREATE SCHEMA r;
       CREATE TABLE r.docs (_sync_scope_id text NOT NULL, id text NOT NULL, body text,
         archived boolean NOT NULL DEFAULT false, PRIMARY KEY (_sync_scope_id, id));`,
    );
    t = await createOversyncTestApp({
      database: { ...db, url },
      skipSchema: true,
      options: { registeredTables: [{ schema: 'r', table: 'docs', syncKeyColumns: ['id'] }] },
    });
    // The host's policies: the app reads only live documents; it may file archived ones.
    await execSql(
      url,
      `ALTER TABLE r.docs ENABLE ROW LEVEL SECURITY;
       ALTER TABLE r.docs FORCE ROW LEVEL SECURITY;
       CREATE POLICY docs_read ON r.docs FOR SELECT USING (NOT archived);
       CREATE POLICY docs_insert ON r.docs FOR INSERT WITH CHECK (true);
       CREATE POLICY docs_update ON r.docs FOR UPDATE USING (true) WITH CHECK (true);
       CREATE POLICY docs_delete ON r.docs FOR DELETE USING (true);`,
    );
  });
  afterAll(async () => {
    await t?.close();
    await t?.db.drop();
    await admin(`DROP ROLE IF EXISTS ${role}`);
  });

  it('captures rows visible to the role, and deletes of them', async () => {
    const scopes = t.get(ScopeManager);
    await scopes.execWrite('u-rls', { writerId: 'w' }, async (trx) => {
      await sql`INSERT INTO r.docs (id, body) VALUES ('live', 'x'), ('gone', 'y')`.execute(trx);
    });
    const res = await scopes.execWrite('u-rls', { writerId: 'w' }, async (trx) => {
      await sql`UPDATE r.docs SET body = 'x2' WHERE _sync_scope_id = 'u-rls' AND id = 'live'`.execute(trx);
      await sql`DELETE FROM r.docs WHERE _sync_scope_id = 'u-rls' AND id = 'gone'`.execute(trx);
    });
    const rows = await committedBundleRows(t, 'u-rls', res.bundle.bundle_seq);
    expect(summary(rows)).toEqual(['UPDATE docs.live', 'DELETE docs.gone']);
    expect(hashOf(rows)).toBe(res.bundle.bundle_hash);
  });

  // Oversync reads every row it syncs (payloads, snapshots, conflict answers), so a SELECT policy
  // hiding rows the role writes is unsupported. It once failed as "a write bypassed capture".
  it('refuses, naming the policy table and the fix, an INSERT of a row the role cannot read back', async () => {
    const res = await t
      .get(ScopeManager)
      .execWrite('u-rls-hidden', { writerId: 'w' }, async (trx) => {
        await sql`INSERT INTO r.docs (id, body, archived) VALUES ('old', 'filed', true)`.execute(trx);
      })
      .catch((e: unknown) => e);
    expect(res).toBeInstanceOf(ScopeWriteInvalidError);
    const error = res as ScopeWriteInvalidError;
    expect(error.message).toContain(`row-level security on r.docs hides them from role ${role}`);
    expect(error.message).toContain('Fix: give the role a SELECT policy');
    expect(error.details).toMatchObject({ rule: 'row_security_hides_rows', tables: ['r.docs'] });
    const { rows } = await execSql(
      superUrl,
      `SELECT count(*)::int AS n FROM r.docs WHERE _sync_scope_id = 'u-rls-hidden'`,
    );
    expect(rows[0].n).toBe(0);
  });
});
