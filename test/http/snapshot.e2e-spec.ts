import { randomUUID } from 'node:crypto';
import { ScopeManager } from '@oversync/nestjs';
import type { SnapshotChunkResponse, SnapshotSession } from '@oversync/protocol';
import { sql } from 'kysely';
import { committedBundleRows } from '../support/bundle-rows.js';
import { createOversyncTestApp, type OversyncTestApp } from '../support/oversync-app.js';
import {
  commitUsers,
  initEmptyScope,
  initializingScope,
  q,
  uninitializedScope,
} from '../support/read-builders.js';
import { syncClient } from '../support/sync-http.js';

type Reply = SnapshotSession & SnapshotChunkResponse & { error?: string; message?: string };

describe('snapshot sessions', () => {
  let t: OversyncTestApp;

  beforeAll(async () => {
    t = await createOversyncTestApp({
      listen: true,
      options: { limits: { defaultRowsPerSnapshotChunk: 2, maxRowsPerSnapshotChunk: 3 } },
    });
  });
  afterAll(async () => t.close());

  const as = (user: string, source = 'reader') => syncClient(t.baseUrl, user, source)<Reply>;
  const create = (user: string, body?: unknown) =>
    as(user)({ method: 'POST', path: '/sync/snapshot-sessions', body });
  const chunk = (user: string, id: string, query = '') =>
    as(user)({ path: `/sync/snapshot-sessions/${id}${query}` });

  async function readAll(user: string, id: string, maxRows = 2) {
    const rows: SnapshotChunkResponse['rows'] = [];
    let after = 0;
    for (;;) {
      const res = await chunk(user, id, `?after_row_ordinal=${after}&max_rows=${maxRows}`);
      expect(res.status).toBe(200);
      expect(res.json.next_row_ordinal).toBe(after + res.json.rows.length);
      if (res.json.has_more) expect(res.json.rows.length).toBeGreaterThan(0);
      rows.push(...res.json.rows);
      after = res.json.next_row_ordinal;
      if (!res.json.has_more) return rows;
    }
  }

  it('freezes at creation and pages with 1-based ordinals (G1)', async () => {
    const user = 'snap-frozen';
    const { ids } = await commitUsers(t, user, 1, { names: ['Alpha'] });
    await commitUsers(t, user, 1, { names: ['Bravo'] });
    await commitUsers(t, user, 1, { names: ['Charlie'] });
    const created = await create(user);
    expect(created.status).toBe(200);
    expect(Object.keys(created.json)).toEqual([
      'snapshot_id',
      'snapshot_bundle_seq',
      'row_count',
      'byte_count',
      'expires_at',
    ]);
    expect(created.json).toMatchObject({ snapshot_bundle_seq: 3, row_count: 3 });
    expect(created.json.expires_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$/);
    const id = created.json.snapshot_id;

    const first = await chunk(user, id, '?after_row_ordinal=0&max_rows=2');
    expect(Object.keys(first.json)).toEqual([
      'snapshot_id',
      'snapshot_bundle_seq',
      'rows',
      'next_row_ordinal',
      'has_more',
    ]);
    expect(first.json).toMatchObject({
      snapshot_id: id,
      snapshot_bundle_seq: 3,
      next_row_ordinal: 2,
      has_more: true,
    });
    expect(first.json.rows).toHaveLength(2);
    expect(Object.keys(first.json.rows[0])).toEqual(['schema', 'table', 'key', 'row_version', 'payload']);
    expect(first.json.rows[0].payload).not.toHaveProperty('_sync_scope_id');

    await commitUsers(t, user, 1, { names: ['Delta'] });
    const second = await chunk(user, id, '?after_row_ordinal=2&max_rows=2');
    expect(second.json).toMatchObject({ snapshot_bundle_seq: 3, next_row_ordinal: 3, has_more: false });
    const names = [...first.json.rows, ...second.json.rows].map((r) => r.payload.name).sort();
    expect(names).toEqual(['Alpha', 'Bravo', 'Charlie']);
    const alpha = [...first.json.rows, ...second.json.rows].find((r) => r.payload.name === 'Alpha')!;
    expect(alpha).toMatchObject({ schema: 'business', table: 'users', key: { id: ids[0] }, row_version: 1 });
    expect(Object.keys(alpha.payload).sort()).toEqual(['created_at', 'email', 'id', 'name', 'updated_at']);
    expect(alpha.payload.created_at).toMatch(/\+00:00$/);
  });

  it('orders rows by table, then key bytes, identically across sessions (G3)', async () => {
    const user = 'snap-order';
    await commitUsers(t, user, 12); // > 9 rows: text ordering of ordinals would show
    await t.get(ScopeManager).execWrite(user, { writerId: 'w' }, async (trx) => {
      await sql`INSERT INTO business.docs (doc_id, body) VALUES ('b', '1'), ('a', '2'), ('B', '3'), ('é', '4')`.execute(
        trx,
      );
    });
    const a = await create(user);
    const b = await create(user);
    expect(a.json.snapshot_id).not.toBe(b.json.snapshot_id);
    const rowsA = await readAll(user, a.json.snapshot_id);
    const rowsB = await readAll(user, b.json.snapshot_id, 3);
    expect(rowsA).toEqual(rowsB);
    expect(rowsA.map((r) => r.table)).toEqual([...Array(4).fill('docs'), ...Array(12).fill('users')]);
    expect(rowsA.slice(0, 4).map((r) => r.key.doc_id)).toEqual(['B', 'a', 'b', 'é']); // byte order, not collation
    const uuids = rowsA.slice(4).map((r) => r.key.id);
    expect(uuids).toEqual([...uuids].sort());
    const again = await chunk(user, a.json.snapshot_id, '?after_row_ordinal=0');
    expect(again.json.rows).toEqual(rowsA.slice(0, 2)); // default page size 2
  });

  it('is the current after-image with per-row versions (G4) and encodes bytea as base64 (G9)', async () => {
    const user = 'snap-image';
    const alpha = await commitUsers(t, user, 1, { names: ['Alpha'] });
    const gamma = await commitUsers(t, user, 1, { names: ['Gamma'] });
    await t.get(ScopeManager).execWrite(user, { writerId: 'w' }, async (trx) => {
      await sql`DELETE FROM business.users WHERE _sync_scope_id = ${user} AND id = ${gamma.ids[0]}`.execute(
        trx,
      );
      await sql`INSERT INTO business.files (id, name, data) VALUES (${randomUUID()}, 'bin', ${Buffer.from('snapshot binary payload '.repeat(8))})`.execute(
        trx,
      );
      await sql`INSERT INTO business.typed_rows (id, name, enabled_flag, rating, amount, tags, active, note)
                VALUES (${randomUUID()}, 'typed', 1, 1.5, 12.50, '{"z":1}', true, 'a<b>&c')`.execute(trx);
    });
    const created = await create(user);
    expect(created.json).toMatchObject({ snapshot_bundle_seq: 3, row_count: 3 });
    const res = await chunk(user, created.json.snapshot_id, '?max_rows=10');
    expect(res.json.rows.map((r) => r.table)).toEqual(['files', 'typed_rows', 'users']);
    const [file, typed, users] = res.json.rows;
    expect(file.payload.data).toBe(Buffer.from('snapshot binary payload '.repeat(8)).toString('base64'));
    expect(file.row_version).toBe(3);
    expect(users).toMatchObject({ key: { id: alpha.ids[0] }, row_version: 1, payload: { name: 'Alpha' } });
    expect(typed.payload).toMatchObject({
      rating: 1.5,
      amount: 12.5,
      tags: { z: 1 },
      active: true,
      note: 'a<b>&c',
      data: null,
    });
    expect(res.text).toContain('a\\u003cb\\u003e\\u0026c');
    // byte_count sums the payload JSON texts as PostgreSQL rendered them (before Go's escaping).
    const bytes = await q(
      t,
      `SELECT sum(octet_length((e->'payload')::text))::int AS n
         FROM sync.snapshot_session_blocks b, json_array_elements(('[' || b.rows_json || ']')::json) e
        WHERE b.snapshot_id = $1`,
      [created.json.snapshot_id],
    );
    expect(created.json.byte_count).toBe(bytes.rows[0].n);
  });

  it('creates an empty snapshot without byte_count (G5)', async () => {
    await initEmptyScope(t, 'snap-empty');
    const created = await create('snap-empty');
    expect(created.status).toBe(200);
    expect(created.json).not.toHaveProperty('byte_count');
    expect(created.json).toMatchObject({ snapshot_bundle_seq: 0, row_count: 0 });
    const res = await chunk('snap-empty', created.json.snapshot_id);
    expect(res.json).toEqual({
      snapshot_id: created.json.snapshot_id,
      snapshot_bundle_seq: 0,
      rows: [],
      next_row_ordinal: 0,
      has_more: false,
    });
  });

  it('accepts no body, {} and null; rejects malformed bodies and unknown fields (B4)', async () => {
    await initEmptyScope(t, 'snap-body');
    for (const body of [undefined, {}, 'null', { source_replacement: null }]) {
      expect((await create('snap-body', body)).status).toBe(200);
    }
    for (const body of [
      '{"source_replacement":',
      { extra: 1 },
      { source_replacement: { previous_source_id: 'reader', foo: 'x' } },
      '[]',
      '"x"',
      '{}{}',
      { source_replacement: { reason: 5 } },
    ]) {
      const res = await create('snap-body', body);
      expect(res.status).toBe(400);
      expect(res.json).toEqual({
        error: 'snapshot_session_invalid',
        message: 'Failed to parse snapshot session request',
      });
    }
  });

  it('requires an INITIALIZED scope, and that wins over replacement validation', async () => {
    const bad = {
      source_replacement: { previous_source_id: 'someone-else', new_source_id: 'x', reason: 'bogus' },
    };
    expect((await create('snap-nobody')).json.error).toBe('scope_uninitialized');
    expect((await create('snap-nobody', bad)).json.error).toBe('scope_uninitialized');
    await uninitializedScope(t, 'snap-uninit');
    expect((await create('snap-uninit')).status).toBe(409);
    await initializingScope(t, 'snap-init');
    const res = await create('snap-init', bad);
    expect(res.status).toBe(409);
    expect(res.json.error).toBe('scope_initializing');
    await initializingScope(t, 'snap-lapsed', true);
    expect((await create('snap-lapsed')).json.error).toBe('scope_uninitialized');
  });

  it('validates the chunk cursor (B7) and clamps max_rows', async () => {
    const user = 'snap-cursor';
    await commitUsers(t, user, 4);
    const id = (await create(user)).json.snapshot_id;
    for (const [query, message] of [
      ['?after_row_ordinal=-1', 'after_row_ordinal must be >= 0'],
      ['?after_row_ordinal=x', 'after_row_ordinal must be an integer'],
      ['?max_rows=0', 'max_rows must be > 0'],
      ['?max_rows=-2', 'max_rows must be > 0'],
      ['?max_rows=1e3', 'max_rows must be an integer'],
    ]) {
      const res = await chunk(user, id, query);
      expect(res.status).toBe(400);
      expect(res.json).toEqual({ error: 'snapshot_chunk_invalid', message });
    }
    const clamped = await chunk(user, id, '?max_rows=1000');
    expect(clamped.json.rows).toHaveLength(3); // maxRowsPerSnapshotChunk 3
    expect(clamped.json).toMatchObject({ next_row_ordinal: 3, has_more: true });
    const tail = await chunk(user, id, '?after_row_ordinal=3&max_rows=1000');
    expect(tail.json).toMatchObject({ next_row_ordinal: 4, has_more: false });
    const past = await chunk(user, id, '?after_row_ordinal=10');
    expect(past.json).toMatchObject({ rows: [], next_row_ordinal: 10, has_more: false });
  });

  it('materialises a large scope inside PostgreSQL, linear without planner statistics', async () => {
    // Freshly written rows have no statistics; a nested-loop plan would be quadratic here.
    const user = 'snap-large';
    await t.get(ScopeManager).execWrite(user, { writerId: 'bulk' }, async (trx) => {
      await sql`INSERT INTO business.posts (id, title, content)
                SELECT gen_random_uuid(), 'title ' || g, 'content ' || g FROM generate_series(1, 20000) g`.execute(
        trx,
      );
    });
    const started = Date.now();
    const created = await create(user);
    expect(created.status).toBe(200);
    expect(created.json).toMatchObject({ snapshot_bundle_seq: 1, row_count: 20000 });
    expect(Date.now() - started).toBeLessThan(15000);
    // Blocks tile ordinals 1…20000 without gaps, and the rows inside them follow key byte order.
    const blocks = await q(
      t,
      `SELECT first_row_ordinal::int AS first, row_count AS n FROM sync.snapshot_session_blocks
        WHERE snapshot_id = $1 ORDER BY first_row_ordinal`,
      [created.json.snapshot_id],
    );
    let next = 1;
    for (const b of blocks.rows) {
      expect(b.first).toBe(next);
      next += b.n as number;
    }
    expect(next).toBe(20001);
    const ordered = await q(
      t,
      `SELECT bool_and(k > prev OR prev IS NULL) AS ordered, count(*)::int AS n FROM (
         SELECT k, lag(k) OVER (ORDER BY b.first_row_ordinal, e.i) AS prev
           FROM sync.snapshot_session_blocks b,
                json_array_elements(('[' || b.rows_json || ']')::json) WITH ORDINALITY e(r, i),
                LATERAL (SELECT uuid_send((e.r->'key'->>'id')::uuid) AS k) x
          WHERE b.snapshot_id = $1) s`,
      [created.json.snapshot_id],
    );
    expect(ordered.rows[0]).toEqual({ ordered: true, n: 20000 });
    const last = await chunk(user, created.json.snapshot_id, '?after_row_ordinal=19998&max_rows=3');
    expect(last.json).toMatchObject({ next_row_ordinal: 20000, has_more: false });
    expect(last.json.rows).toHaveLength(2);
  }, 60000);

  it('renders a column added after start-up, exactly as captured bundles do', async () => {
    const user = 'snap-new-column';
    await q(t, `ALTER TABLE ${t.schema}.docs ADD COLUMN extra integer DEFAULT 7`);
    try {
      const { bundle } = await t.get(ScopeManager).execWrite(user, { writerId: 'w' }, async (trx) => {
        await sql`INSERT INTO ${sql.table(`${t.schema}.docs`)} (doc_id, body) VALUES ('d-new', 'x')`.execute(
          trx,
        );
      });
      const created = await create(user);
      expect(created.status).toBe(200);
      const [row] = await readAll(user, created.json.snapshot_id);
      const [captured] = await committedBundleRows(t, user, bundle.bundle_seq);
      expect(row.payload).toEqual({ doc_id: 'd-new', body: 'x', extra: 7 });
      expect(row.payload).toEqual(captured.payload);
    } finally {
      await q(t, `ALTER TABLE ${t.schema}.docs DROP COLUMN extra`);
    }
  });

  it('fails closed when business rows and row_state drift apart', async () => {
    const user = 'snap-drift';
    const { ids } = await commitUsers(t, user, 2);
    // Forge drift: a live row_state entry whose business row vanished behind sync's back.
    await q(
      t,
      `UPDATE sync.row_state SET key_bytes = uuid_send(gen_random_uuid())
        WHERE user_pk = (SELECT user_pk FROM sync.user_state WHERE user_id = $1) AND key_bytes = uuid_send($2::uuid)`,
      [user, ids[0]],
    );
    const res = await create(user);
    expect(res.status).toBe(500);
    expect(res.json.error).toBe('snapshot_session_create_failed');
    expect(res.json.message).toContain('business.users');
    const sessions = await q(
      t,
      `SELECT count(*)::int AS n FROM sync.snapshot_sessions s JOIN sync.user_state u USING (user_pk) WHERE user_id = $1`,
      [user],
    );
    expect(sessions.rows[0].n).toBe(0);
  });
});
