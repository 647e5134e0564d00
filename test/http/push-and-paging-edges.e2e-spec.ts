/**
 * Edge cases of push staging and committed-rows paging over real HTTP against a real PostgreSQL: push plans from
 * recorded column lists (islands of INSERT runs, rows staged without a column list mixed with rows
 * staged with one), the exact-payload fast path of chunk validation, committed-rows pages rendered
 * in SQL, int64 parameters and the 405 routes.
 */
import type { BundleRow } from '@oversync/protocol';
import { createOversyncTestApp, type OversyncTestApp } from '../support/oversync-app.js';
import {
  commitSession,
  createSession,
  dbRows,
  deleteRow,
  fetchCommittedRows,
  insertPost,
  insertUser,
  newId,
  pushOk,
  readyUser,
  updateUser,
  uploadChunk,
} from '../support/push-builders.js';

describe('push staging and committed-rows paging edges', () => {
  let t: OversyncTestApp;
  let schema: string;

  beforeAll(async () => {
    t = await createOversyncTestApp({ listen: true });
    schema = t.schema;
  });
  afterAll(async () => {
    await t.close();
  });

  const ready = () => readyUser(t.baseUrl);
  const docRow = (docId: string, payload: Record<string, unknown>, op = 'INSERT', base = 0) => ({
    schema,
    table: 'docs',
    key: { doc_id: docId },
    op,
    base_row_version: base,
    payload,
  });
  const postRow = (id: string, author: string, extra: Record<string, unknown> = {}) =>
    insertPost(schema, id, author, extra);
  /** `schema.table:key:op` of each committed row, in bundle order. */
  const shapeOf = (rows: BundleRow[]) => rows.map((r) => `${r.table}:${Object.values(r.key)[0]}:${r.op}`);

  describe('payload column names outside [a-z0-9_] (exact-payload fast path)', () => {
    // Live columns are read per chunk, so columns added here are visible to validation at once.
    beforeAll(async () => {
      await dbRows(
        t.db.url,
        `ALTER TABLE ${schema}.docs ADD COLUMN "q""x" text, ADD COLUMN "a,b" text, ADD COLUMN "Body" text`,
      );
    });
    afterAll(async () => {
      await dbRows(
        t.db.url,
        `ALTER TABLE ${schema}.docs DROP COLUMN "q""x", DROP COLUMN "a,b", DROP COLUMN "Body"`,
      );
    });

    it('refuses a column named with a double quote with 400 push_chunk_invalid, also when the payload names the key', async () => {
      const { c } = await ready();
      const pushId = (await createSession(c, 1, 1)).json.push_id as string;
      // Without the key column the general path answers 400 "… is not a valid column name"…
      const withoutKey = await uploadChunk(c, pushId, 0, [docRow('d1', { 'q"x': 'v' })]);
      expect({ status: withoutKey.status, error: withoutKey.json.error }).toEqual({
        status: 400,
        error: 'push_chunk_invalid',
      });
      // …with it, the fast path lets the name into the staging document's JSON text, which
      // PostgreSQL cannot parse: 500 push_chunk_failed.
      const withKey = await uploadChunk(c, pushId, 0, [docRow('d1', { doc_id: 'd1', 'q"x': 'v' })]);
      expect({ status: withKey.status, error: withKey.json.error }).toEqual({
        status: 400,
        error: 'push_chunk_invalid',
      });
    });

    it('does not stage a column whose name holds a comma (its comma would split the staged column list)', async () => {
      const { user, c } = await ready();
      const pushId = (await createSession(c, 1, 1)).json.push_id as string;
      const chunk = await uploadChunk(c, pushId, 0, [docRow('d1', { doc_id: 'd1', 'a,b': 'v' })]);
      if (chunk.status === 200) {
        // Staged: the commit splits column_list "a,b,doc_id" on commas and INSERTs columns a and b.
        const commit = await commitSession(c, pushId);
        expect({ status: commit.status, body: commit.json }).toEqual({
          status: 200,
          body: expect.objectContaining({ row_count: 1 }),
        });
        const rows = await dbRows(
          t.db.url,
          `SELECT "a,b" AS v FROM ${schema}.docs WHERE _sync_scope_id = $1`,
          [user],
        );
        expect(rows).toEqual([{ v: 'v' }]);
      } else {
        expect({ status: chunk.status, error: chunk.json.error }).toEqual({
          status: 400,
          error: 'push_chunk_invalid',
        });
      }
    });

    it('writes a mixed-case payload key to the same column whether or not the payload names the key column', async () => {
      const { user, c } = await ready();
      // Payload keys are lower-cased (docs/compatibility.md): "Body" is column body…
      await pushOk(c, 1, [docRow('k1', { Body: 'from-general-path' })]);
      // …but when every key matches a live column exactly (here the quoted column "Body" exists),
      // the fast path keeps "Body" and writes the other column.
      await pushOk(c, 2, [docRow('k2', { doc_id: 'k2', Body: 'from-fast-path' })]);
      const rows = await dbRows(
        t.db.url,
        `SELECT doc_id, body, "Body" AS upper_body FROM ${schema}.docs WHERE _sync_scope_id = $1 ORDER BY doc_id`,
        [user],
      );
      expect(rows).toEqual([
        { doc_id: 'k1', body: 'from-general-path', upper_body: null },
        { doc_id: 'k2', body: 'from-fast-path', upper_body: null },
      ]);
    });
  });

  describe('GET /sync/committed-bundles/{bundle_seq}/rows', () => {
    let c: Awaited<ReturnType<typeof ready>>['c'];
    let seq: number;

    beforeAll(async () => {
      ({ c } = await ready());
      seq = (await pushOk(c, 1, [insertUser(schema, newId(), 'A'), insertUser(schema, newId(), 'B')]))
        .bundle_seq as number;
    });

    it('echoes the supplied after_row_ordinal as next_row_ordinal on a page past the last row', async () => {
      // Exact in a double, so JSON.parse keeps it: the wire says "if no rows: the supplied
      // after_row_ordinal" (wire-protocol §3.6), as go-oversync's service does.
      const after = 9007199254740000;
      const reply = await c({ path: `/sync/committed-bundles/${seq}/rows?after_row_ordinal=${after}` });
      expect(reply.status).toBe(200);
      expect(reply.json).toMatchObject({ rows: [], has_more: false });
      expect(reply.json.next_row_ordinal).toBe(after);
    });

    it('parses every integer like strconv.ParseInt (int64 edges, signs)', async () => {
      const status = async (path: string) => {
        const r = await c<{ error?: string; message?: string }>({ path });
        return `${r.status} ${r.json?.error ?? ''} ${r.json?.message ?? ''}`.trim();
      };
      const base = `/sync/committed-bundles`;
      expect(await status(`${base}/9223372036854775807/rows`)).toMatch(/^404 committed_bundle_not_found/);
      expect(await status(`${base}/9223372036854775808/rows`)).toBe(
        '400 committed_bundle_chunk_invalid bundle_seq must be an integer',
      );
      expect(await status(`${base}/-0/rows`)).toBe(
        '400 committed_bundle_chunk_invalid bundle_seq must be > 0',
      );
      expect(await status(`${base}/%2B${seq}/rows`)).toMatch(/^200/);
      // '+' in a query is a space (url.ParseQuery), so '+0' is not an integer; %2B0 is.
      expect(await status(`${base}/${seq}/rows?after_row_ordinal=+0`)).toBe(
        '400 committed_bundle_chunk_invalid after_row_ordinal must be an integer',
      );
      expect(await status(`${base}/${seq}/rows?after_row_ordinal=%2B0`)).toMatch(/^200/);
      expect(await status(`${base}/${seq}/rows?after_row_ordinal=-0&max_rows=9223372036854775807`)).toMatch(
        /^200/,
      );
      expect(await status(`${base}/${seq}/rows?max_rows=9223372036854775808`)).toBe(
        '400 committed_bundle_chunk_invalid max_rows must be an integer',
      );
      const page = await c({ path: `${base}/${seq}/rows?after_row_ordinal=-0&max_rows=1` });
      expect(page.json).toMatchObject({ next_row_ordinal: 1, has_more: false });
      expect((page.json.rows as unknown[]).length).toBe(1);
    });
  });

  describe('push plans', () => {
    it('keeps upload order and each row’s own columns across interleaved INSERT runs, UPDATEs and DELETEs of several tables, two chunks, and rows without a column list mixed in', async () => {
      const { user, c } = await ready();
      const [u1, u2, u3, u4, u5] = [newId(), newId(), newId(), newId(), newId()];
      const [p1, p2, p3] = [newId(), newId(), newId()];
      await pushOk(c, 1, [
        insertUser(schema, u1, 'One'),
        insertUser(schema, u2, 'Two'),
        docRow('old', { body: 'old' }),
      ]);
      const pinned = '2001-02-03T04:05:06Z';
      const rows = [
        insertUser(schema, u3, 'Three'), // 0 run A (users, email,id,name)
        insertUser(schema, u4, 'Four'), // 1 run A
        insertUser(schema, u5, 'Five', { created_at: pinned }), // 2 run B (other column set)
        updateUser(schema, u1, 1, { name: 'One*' }), // 3
        postRow(p1, u3), // 4 run C (posts)
        postRow(p2, u4), // 5 run C — the chunk boundary falls after this row
        deleteRow(schema, 'docs', 'old', 1, 'doc_id'), // 6
        docRow('d<1>', { body: 'x' }), // 7 run D (docs, text keys)
        docRow('d2', {}), // 8 run E (docs, only the key)
        docRow('d3', { body: 'z' }), // 9 run F (same set as D, not adjacent)
        deleteRow(schema, 'users', u2, 1), // 10
        postRow(p3, u5, { title: 'Last' }), // 11 run G, the final step
      ];
      const pushId = (await createSession(c, 2, rows.length)).json.push_id as string;
      expect((await uploadChunk(c, pushId, 0, rows.slice(0, 6))).status).toBe(200);
      expect((await uploadChunk(c, pushId, 6, rows.slice(6))).status).toBe(200);
      // A rolling upgrade: some rows were staged by an earlier build, without a column list.
      await dbRows(
        t.db.url,
        'UPDATE sync.push_session_rows SET column_list = NULL WHERE push_id = $1 AND row_ordinal IN (1, 3, 5, 8, 11)',
        [pushId],
      );
      const commit = await commitSession(c, pushId);
      expect(commit.status).toBe(200);
      expect(commit.json.row_count).toBe(12);
      const { rows: committed } = await fetchCommittedRows(c, commit.json.bundle_seq as number, 5);
      expect(shapeOf(committed)).toEqual([
        `users:${u3}:INSERT`,
        `users:${u4}:INSERT`,
        `users:${u5}:INSERT`,
        `users:${u1}:UPDATE`,
        `posts:${p1}:INSERT`,
        `posts:${p2}:INSERT`,
        'docs:old:DELETE',
        'docs:d<1>:INSERT',
        'docs:d2:INSERT',
        'docs:d3:INSERT',
        `users:${u2}:DELETE`,
        `posts:${p3}:INSERT`,
      ]);
      const users = await dbRows(
        t.db.url,
        `SELECT name, created_at = '${pinned}'::timestamptz AS pinned FROM ${schema}.users WHERE _sync_scope_id = $1 ORDER BY name`,
        [user],
      );
      expect(users).toEqual([
        { name: 'Five', pinned: true },
        { name: 'Four', pinned: false },
        { name: 'One*', pinned: false },
        { name: 'Three', pinned: false },
      ]);
      const docs = await dbRows(
        t.db.url,
        `SELECT doc_id, body FROM ${schema}.docs WHERE _sync_scope_id = $1 ORDER BY doc_id`,
        [user],
      );
      expect(docs).toEqual([
        { doc_id: 'd2', body: null },
        { doc_id: 'd3', body: 'z' },
        { doc_id: 'd<1>', body: 'x' },
      ]);
      const posts = await dbRows(
        t.db.url,
        `SELECT title FROM ${schema}.posts WHERE _sync_scope_id = $1 ORDER BY title`,
        [user],
      );
      expect(posts.map((p) => p.title)).toEqual(['Last', 'T', 'T']);
    });

    it('ends a final INSERT run that spans chunks at the last staged row (the `last` fill-in)', async () => {
      const { user, c } = await ready();
      const ids = Array.from({ length: 7 }, () => newId());
      const rows: unknown[] = [];
      const seed = newId();
      await pushOk(c, 1, [insertUser(schema, seed, 'Seed')]);
      rows.push(updateUser(schema, seed, 1, { name: 'Seed*' }));
      for (const [i, id] of ids.entries()) rows.push(insertUser(schema, id, `N${i}`));
      const pushId = (await createSession(c, 2, rows.length)).json.push_id as string;
      expect((await uploadChunk(c, pushId, 0, rows.slice(0, 3))).status).toBe(200);
      expect((await uploadChunk(c, pushId, 3, rows.slice(3, 5))).status).toBe(200);
      expect((await uploadChunk(c, pushId, 5, rows.slice(5))).status).toBe(200);
      await dbRows(
        t.db.url,
        'UPDATE sync.push_session_rows SET column_list = NULL WHERE push_id = $1 AND row_ordinal >= 6',
        [pushId],
      );
      const commit = await commitSession(c, pushId);
      expect(commit.status).toBe(200);
      expect(commit.json.row_count).toBe(8);
      const count = await dbRows<{ n: number }>(
        t.db.url,
        `SELECT count(*)::int AS n FROM ${schema}.users WHERE _sync_scope_id = $1`,
        [user],
      );
      expect(count[0].n).toBe(8);
    });

    it('names the first duplicate text key staged across chunks (hash summary, locator on failure)', async () => {
      const { c } = await ready();
      const pushId = (await createSession(c, 1, 3)).json.push_id as string;
      await uploadChunk(c, pushId, 0, [docRow('dup', { body: 'a' }), docRow('other', { body: 'b' })]);
      await uploadChunk(c, pushId, 2, [docRow('dup', { body: 'c' })]);
      const reply = await commitSession(c, pushId);
      expect(reply.status).toBe(400);
      expect(reply.json).toEqual({
        error: 'push_commit_invalid',
        message: `duplicate target row in staged push session: ${schema}.docs dup`,
      });
    });
  });

  it('answers 405 method_not_allowed for GET and DELETE on /sync/snapshot-sessions', async () => {
    const replies: Record<string, unknown> = {};
    for (const method of ['GET', 'DELETE']) {
      const reply = await fetch(`${t.baseUrl}/sync/snapshot-sessions`, {
        method,
        headers: { authorization: 'Bearer method-user', 'oversync-source-id': 'device' },
      });
      replies[method] = { status: reply.status, body: await reply.json() };
    }
    const expected = {
      status: 405,
      body: { error: 'method_not_allowed', message: 'Only POST method is allowed' },
    };
    expect(replies).toEqual({ GET: expected, DELETE: expected });
  });
});
