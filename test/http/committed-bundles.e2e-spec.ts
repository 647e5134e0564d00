/**
 * `GET /sync/committed-bundles/{bundle_seq}/rows` over real HTTP: 0-based paging arithmetic,
 * default and capped page sizes, strict query parsing, the retained floor, and `bundle_hash`
 * recomputed from the served rows (scenarios B6, D3, D9).
 */
import { computeBundleHash, type BundleRow } from '@oversync/protocol';
import { createOversyncTestApp, type OversyncTestApp } from '../support/oversync-app.js';
import {
  createSession,
  dbRows,
  deleteRow,
  fetchCommittedRows,
  initializeEmpty,
  insertUser,
  newId,
  newUser,
  pushOk,
  uploadChunk,
  commitSession,
} from '../support/push-builders.js';
import { syncCall, syncClient } from '../support/sync-http.js';

describe('GET /sync/committed-bundles/{bundle_seq}/rows', () => {
  let t: OversyncTestApp;
  let schema: string;
  const client = (user: string, source = 'writer') => syncClient(t.baseUrl, user, source);
  const rowsOf = (c: ReturnType<typeof client>, seq: number | string, query = '') =>
    c({ path: `/sync/committed-bundles/${seq}/rows${query}` });

  /** A user whose bundle 1 holds three users A, B, C uploaded in two chunks (D3). */
  const threeRowBundle = async () => {
    const user = newUser();
    const c = client(user);
    await initializeEmpty(c);
    const ids = [newId(), newId(), newId()];
    const pushId = (await createSession(c, 1, 3)).json.push_id as string;
    expect(
      (await uploadChunk(c, pushId, 0, [insertUser(schema, ids[0], 'A'), insertUser(schema, ids[1], 'B')]))
        .json,
    ).toEqual({
      push_id: pushId,
      next_expected_row_ordinal: 2,
    });
    expect(
      (await uploadChunk(c, pushId, 2, [insertUser(schema, ids[2], 'C')])).json.next_expected_row_ordinal,
    ).toBe(3);
    const commit = await commitSession(c, pushId);
    return { user, c, ids, commit: commit.json };
  };

  beforeAll(async () => {
    t = await createOversyncTestApp({
      listen: true,
      options: { limits: { defaultRowsPerCommittedBundleChunk: 1, maxRowsPerCommittedBundleChunk: 2 } },
    });
    schema = t.schema;
  });
  afterAll(async () => {
    await t.close();
  });

  it('pages with 0-based ordinals, the default and capped page size, and has_more from a look-ahead row (D3)', async () => {
    const { c, ids, commit } = await threeRowBundle();
    const meta = {
      bundle_seq: 1,
      source_id: 'writer',
      source_bundle_id: 1,
      row_count: 3,
      bundle_hash: commit.bundle_hash,
    };
    const key = (r: unknown) => ((r as BundleRow).key as { id: string }).id;

    const first = await rowsOf(c, 1, '?max_rows=1');
    expect(Object.keys(first.json)).toEqual([...Object.keys(meta), 'rows', 'next_row_ordinal', 'has_more']);
    expect(first.json).toMatchObject({ ...meta, next_row_ordinal: 0, has_more: true });
    expect((first.json.rows as unknown[]).map(key)).toEqual([ids[0]]);

    const second = await rowsOf(c, 1, '?after_row_ordinal=0&max_rows=1');
    expect(second.json).toMatchObject({ ...meta, next_row_ordinal: 1, has_more: true });
    expect((second.json.rows as unknown[]).map(key)).toEqual([ids[1]]);

    const third = await rowsOf(c, 1, '?after_row_ordinal=1&max_rows=2');
    expect(third.json).toMatchObject({ ...meta, next_row_ordinal: 2, has_more: false });
    expect((third.json.rows as unknown[]).map(key)).toEqual([ids[2]]);

    const byDefault = await rowsOf(c, 1);
    expect((byDefault.json.rows as unknown[]).map(key)).toEqual([ids[0]]);
    const capped = await rowsOf(c, 1, '?max_rows=50');
    expect((capped.json.rows as unknown[]).map(key)).toEqual([ids[0], ids[1]]);
    expect(capped.json).toMatchObject({ next_row_ordinal: 1, has_more: true });

    const beyond = await rowsOf(c, 1, '?after_row_ordinal=7');
    expect(beyond.text).toBe(
      `{"bundle_seq":1,"source_id":"writer","source_bundle_id":1,"row_count":3,"bundle_hash":"${String(commit.bundle_hash)}","rows":[],"next_row_ordinal":7,"has_more":false}\n`,
    );
    const atEnd = await rowsOf(c, 1, '?after_row_ordinal=2');
    expect(atEnd.json).toMatchObject({ rows: [], next_row_ordinal: 2, has_more: false });
  });

  it('serves rows whose recomputed bundle_hash and count equal the commit response', async () => {
    const { user, c } = await ready();
    const a = newId();
    const b = newId();
    await pushOk(c, 1, [insertUser(schema, a, 'Amp <&> Tag'), insertUser(schema, b, 'Bob')]);
    const commit = await pushOk(c, 2, [
      deleteRow(schema, 'users', a, 1),
      {
        schema,
        table: 'docs',
        key: { doc_id: 'd\u2028<1>' },
        op: 'INSERT',
        base_row_version: 0,
        payload: { body: 'x & y' },
      },
    ]);
    const { rows, pages } = await fetchCommittedRows(c, commit.bundle_seq as number, 1);
    expect(pages).toHaveLength(2);
    expect(rows).toHaveLength(commit.row_count as number);
    expect(computeBundleHash(rows)).toBe(commit.bundle_hash);
    expect(rows[0]).toEqual({ schema, table: 'users', key: { id: a }, op: 'DELETE', row_version: 2 });
    const [stored] = await dbRows<{ hash: string }>(
      t.db.url,
      `SELECT encode(bundle_hash, 'hex') AS hash FROM sync.bundle_log b JOIN sync.user_state u USING (user_pk)
        WHERE u.user_id = $1 AND bundle_seq = 2`,
      [user],
    );
    expect(stored.hash).toBe(commit.bundle_hash);
    // DELETE rows omit payload; strings are escaped like Go's encoder; payload bytes are the hashed bytes.
    const raw = await rowsOf(c, 2, '?max_rows=2');
    expect(raw.text).toContain(`"op":"DELETE","row_version":2}`);
    expect(raw.text).toContain('"key":{"doc_id":"d\\u2028\\u003c1\\u003e"}');
    expect(raw.text).toContain('"payload":{"body":"x \\u0026 y","doc_id":"d\\u2028\\u003c1\\u003e"}');
    expect(raw.text.endsWith('}\n')).toBe(true);
  });

  it('lets any source of the user read the bundle, but not another user', async () => {
    const { user, commit } = await threeRowBundle();
    const reader = await rowsOf(client(user, 'reader'), 1, '?max_rows=2');
    expect(reader.json).toMatchObject({ source_id: 'writer', bundle_hash: commit.bundle_hash });
    const other = newUser();
    await initializeEmpty(client(other));
    const foreign = await rowsOf(client(other), 1);
    expect(foreign.status).toBe(404);
    expect(foreign.json).toEqual({
      error: 'committed_bundle_not_found',
      message: 'committed bundle 1 was not found',
    });
  });

  it('answers 404 for an unknown bundle, also for a user without any sync state', async () => {
    const { c } = await ready();
    const missing = await rowsOf(c, 999999);
    expect(missing.status).toBe(404);
    expect(missing.json).toEqual({
      error: 'committed_bundle_not_found',
      message: 'committed bundle 999999 was not found',
    });
    expect((await rowsOf(client(newUser()), 1)).status).toBe(404);
  });

  it('answers history_pruned for a bundle at or below the retained floor, even if its rows still exist', async () => {
    const { user, c } = await ready();
    await pushOk(c, 1, [insertUser(schema, newId(), 'One')]);
    await pushOk(c, 2, [insertUser(schema, newId(), 'Two')]);
    await dbRows(t.db.url, 'UPDATE sync.user_state SET retained_bundle_floor = 1 WHERE user_id = $1', [user]);
    const pruned = await rowsOf(c, 1);
    expect(pruned.status).toBe(409);
    expect(pruned.json.error).toBe('history_pruned');
    expect(pruned.json.message).toContain('floor 1');
    expect((await rowsOf(c, 2)).status).toBe(200);
  });

  it.each([
    ['not-a-number', '', 'bundle_seq must be an integer'],
    ['1.0', '', 'bundle_seq must be an integer'],
    ['99999999999999999999', '', 'bundle_seq must be an integer'],
    ['x', '?after_row_ordinal=x', 'bundle_seq must be an integer'],
    ['0', '', 'bundle_seq must be > 0'],
    ['-4', '', 'bundle_seq must be > 0'],
    ['1', '?after_row_ordinal=%207', 'after_row_ordinal must be an integer'],
    // strconv.ParseInt takes a leading '+' (see read-side-edges), but not a space or a fraction.
    ['1', '?after_row_ordinal=1e2', 'after_row_ordinal must be an integer'],
    ['1', '?after_row_ordinal=-1', 'after_row_ordinal must be >= 0'],
    ['1', '?max_rows=many', 'max_rows must be an integer'],
    ['1', '?max_rows=0', 'max_rows must be > 0'],
    ['0', '?max_rows=many', 'max_rows must be an integer'],
    ['0', '?after_row_ordinal=-1', 'bundle_seq must be > 0'],
  ])('rejects /%s/rows%s with 400 committed_bundle_chunk_invalid (B6)', async (seq, query, message) => {
    const reply = await rowsOf(client(newUser()), seq, query);
    expect(reply.status).toBe(400);
    expect(reply.json).toEqual({ error: 'committed_bundle_chunk_invalid', message });
  });

  it('requires the actor and answers 405 for other methods', async () => {
    const anonymous = await syncCall(t.baseUrl, { path: '/sync/committed-bundles/1/rows', source: 's' });
    expect(anonymous.status).toBe(401);
    const noSource = await syncCall(t.baseUrl, { path: '/sync/committed-bundles/1/rows', user: newUser() });
    expect(noSource.json).toEqual({
      error: 'invalid_request',
      message: 'Oversync-Source-ID header is required',
    });
    const wrong = await client(newUser())({
      method: 'POST',
      path: '/sync/committed-bundles/1/rows',
      body: {},
    });
    expect(wrong.status).toBe(405);
    expect(wrong.json).toEqual({ error: 'method_not_allowed', message: 'Only GET method is allowed' });
  });

  async function ready() {
    const user = newUser();
    const c = client(user);
    await initializeEmpty(c);
    return { user, c };
  }
});
