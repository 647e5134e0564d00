/**
 * Security review of the `/sync/*` routes from the point of view of an attacker who holds a valid
 * bearer token for their own user: SQL and JSON metacharacters in every value that reaches SQL
 * text (user id, source id, text sync keys, payload values, identifiers, path ids), cross-scope
 * access to another user's push sessions, snapshots, rows, bundles and watch events, and
 * denial of service within the documented limits. Error bodies must never carry SQL, stacks or
 * another user's id.
 */
import type { BundleRow, PullResponse } from '@oversync/protocol';
import { createOversyncTestApp, type OversyncTestApp } from '../support/oversync-app.js';
import {
  commitSession,
  createSession,
  dbRows,
  deleteSession,
  fetchCommittedRows,
  initializeEmpty,
  insertPost,
  insertUser,
  newId,
  newUser,
  pushOk,
  pushRows,
  stagedRows,
  stageRows,
  updateUser,
  uploadChunk,
  type SyncClient,
} from '../support/push-builders.js';
import { openWatch } from '../support/read-builders.js';
import { syncClient, type SyncReply } from '../support/sync-http.js';

/** SQL metacharacters of every quoting style the server could build text with (header-safe: latin-1). */
const HOSTILE = `o'hara"\\ $$ $o$ $tag$ $o0123456789ab$ ; DROP TABLE business.users; -- /* %s %I {"a":1} é`;
/** The same for values that travel in JSON bodies (any Unicode). */
const HOSTILE_TEXT = `${HOSTILE} </script>&<b> \u2028\u2029 😀 \u0001 \t\n\r "},"op":"DELETE`;
const SNAPSHOT_ROW_CAP = 40;

/** Pull everything of a user (one page is plenty here). */
async function pullAll(c: SyncClient): Promise<SyncReply<PullResponse>> {
  return c<PullResponse>({ path: '/sync/pull?after_bundle_seq=0&max_bundles=1000' });
}

/** First page of a fresh snapshot of the client's scope. */
async function snapshotPage(c: SyncClient): Promise<{ id: string; page: SyncReply }> {
  const created = await c({ method: 'POST', path: '/sync/snapshot-sessions' });
  expect(created.status).toBe(200);
  const id = created.json.snapshot_id as string;
  return { id, page: await c({ path: `/sync/snapshot-sessions/${id}?after_row_ordinal=0&max_rows=1000` }) };
}

/** An error body leaks nothing: just `{error, message}`, no SQL, stack or foreign user id. */
function expectCleanError(reply: SyncReply, status: number, code: string, foreignUser?: string): void {
  expect([reply.status, reply.json.error]).toEqual([status, code]);
  expect(Object.keys(reply.json).sort()).toEqual(['error', 'message']);
  // PostgreSQL's own wording, SQL of ours or a stack frame (a request's own echoed input is fine).
  expect(reply.text).not.toMatch(
    /syntax error|invalid input|relation "|violates|jsonb_populate|sync\.\w+_|\bat .+\.(js|ts):\d+/,
  );
  if (foreignUser !== undefined) expect(reply.text).not.toContain(foreignUser);
}

describe('security review: an authenticated attacker', () => {
  let t: OversyncTestApp;
  let schema: string;

  beforeAll(async () => {
    t = await createOversyncTestApp({
      listen: true,
      options: { limits: { maxRowsPerSnapshotSession: SNAPSHOT_ROW_CAP } },
    });
    schema = t.schema;
  });
  afterAll(async () => {
    await t.close();
  });

  /** A fresh user with an INITIALIZED empty scope. */
  async function fresh(prefix = 'user', source = 'w'): Promise<{ user: string; c: SyncClient }> {
    const user = newUser(prefix);
    const c = syncClient(t.baseUrl, user, source);
    await initializeEmpty(c);
    return { user, c };
  }

  /** A scope with one committed row for a cross-scope victim. */
  async function victim(): Promise<{ user: string; c: SyncClient; rowId: string }> {
    const { user, c } = await fresh('victim', 'victim-device');
    const rowId = newId();
    await pushOk(c, 1, [insertUser(schema, rowId, 'Victim Secret')]);
    return { user, c, rowId };
  }

  describe('SQL and JSON injection', () => {
    it('keeps a user id and source id full of quoting characters exact on every route', async () => {
      const user = `${HOSTILE} ${newUser()}`;
      const source = `src ${HOSTILE}`;
      const c = syncClient(t.baseUrl, user, source);
      await initializeEmpty(c);
      const id = newId();
      const committed = await pushOk(c, 1, [insertUser(schema, id, 'Injected Owner')]);
      expect(committed.source_id).toBe(source);

      const owners = await dbRows<{ owner: string }>(
        t.db.url,
        `SELECT _sync_scope_id AS owner FROM ${schema}.users WHERE id = $1`,
        [id],
      );
      expect(owners).toEqual([{ owner: user }]);
      const pull = await pullAll(c);
      expect(pull.status).toBe(200);
      expect(pull.json.bundles.map((b) => b.source_id)).toEqual([source]);
      expect((await fetchCommittedRows(c, 1)).rows.map((r) => r.key)).toEqual([{ id }]);
      const { page } = await snapshotPage(c);
      expect(page.status).toBe(200);
      expect((page.json.rows as BundleRow[]).map((r) => r.key)).toEqual([{ id }]);
      // UPDATE and DELETE statements carry the owner as a literal too.
      await pushOk(c, 2, [updateUser(schema, id, 1, { name: 'Renamed', email: 'r@example.com' })]);
      await pushOk(c, 3, [{ schema, table: 'users', key: { id }, op: 'DELETE', base_row_version: 2 }]);
      expect(await dbRows(t.db.url, `SELECT 1 FROM ${schema}.users WHERE id = $1`, [id])).toEqual([]);
    });

    it('round-trips hostile text keys and values through staging, apply, pull, committed rows and snapshots', async () => {
      const { user, c } = await fresh();
      const key = `k ${HOSTILE_TEXT}`;
      const body = `b ${HOSTILE_TEXT}`;
      const doc = (op: 'INSERT' | 'UPDATE', base: number, text: string) => ({
        schema,
        table: 'docs',
        key: { doc_id: key },
        op,
        base_row_version: base,
        payload: { doc_id: key, body: text },
      });
      await pushOk(c, 1, [doc('INSERT', 0, body)]);
      await pushOk(c, 2, [doc('UPDATE', 1, `${body}!`)]);
      const stored = await dbRows<{ doc_id: string; body: string }>(
        t.db.url,
        `SELECT doc_id, body FROM ${schema}.docs WHERE _sync_scope_id = $1`,
        [user],
      );
      expect(stored).toEqual([{ doc_id: key, body: `${body}!` }]);

      const pull = await pullAll(c);
      expect(pull.status).toBe(200);
      // Go's encoder escapes <, >, & and U+2028/9: no raw "</script>" reaches a client.
      expect(pull.text).not.toContain('</script>');
      const pulledRows = pull.json.bundles.flatMap((b) => b.rows);
      expect(pulledRows.map((r) => [r.op, r.key.doc_id, r.payload?.body])).toEqual([
        ['INSERT', key, body],
        ['UPDATE', key, `${body}!`],
      ]);
      const committed = await fetchCommittedRows(c, 2);
      expect(committed.rows[0].key).toEqual({ doc_id: key });
      const { page } = await snapshotPage(c);
      expect(page.text).not.toContain('</script>');
      expect(page.json.rows).toEqual([
        {
          schema,
          table: 'docs',
          key: { doc_id: key },
          row_version: 2,
          payload: { doc_id: key, body: `${body}!` },
        },
      ]);
      // The conflict answer reads the server row by that key, parameterised.
      const conflict = await pushRows(c, 3, [doc('UPDATE', 1, 'stale')]);
      expect(conflict.status).toBe(409);
      expect(conflict.json.conflict).toMatchObject({
        key: { doc_id: key },
        server_row: { body: `${body}!` },
      });
      await pushOk(c, 3, [
        { schema, table: 'docs', key: { doc_id: key }, op: 'DELETE', base_row_version: 2 },
      ]);
      expect(
        await dbRows(t.db.url, `SELECT 1 FROM ${schema}.docs WHERE _sync_scope_id = $1`, [user]),
      ).toEqual([]);
    });

    it.each<[string, string, string, Record<string, unknown>]>([
      ['schema', `business"; DROP TABLE x; --`, 'users', {}],
      ['table', 'business', `users" WHERE true; --`, {}],
      ['payload column', 'business', 'users', { 'name" = 1; --': 'x' }],
      ['payload column __proto__', 'business', 'users', JSON.parse('{"__proto__":{"x":1}}')],
      ['payload column constructor', 'business', 'users', { constructor: 'x' }],
      ['scope column in upper case', 'business', 'users', { _SYNC_SCOPE_ID: 'someone-else' }],
      ['comma in a column name', 'business', 'users', { 'name,email': 'x' }],
    ])(
      'refuses a hostile %s with 400 push_chunk_invalid and stages nothing',
      async (_what, s, table, extra) => {
        const { c } = await fresh();
        const pushId = (await createSession(c, 1, 1)).json.push_id as string;
        const row = insertUser(schema, newId(), 'X');
        const hostile = { ...row, schema: s, table, payload: { ...row.payload, ...extra } };
        const reply = await uploadChunk(c, pushId, 0, [hostile]);
        expectCleanError(reply, 400, 'push_chunk_invalid');
        expect(await stagedRows(t.db.url, pushId)).toEqual([]);
      },
    );

    it('answers SQL in path ids as not found / invalid, never 500', async () => {
      const { c } = await fresh();
      const evil = encodeURIComponent(`00000000-0000-0000-0000-000000000000'::uuid; DROP TABLE x; --`);
      const rows = [insertUser(schema, newId(), 'X')];
      expectCleanError(await uploadChunk(c, evil, 0, rows), 404, 'push_session_not_found');
      expectCleanError(await commitSession(c, evil), 404, 'push_session_not_found');
      expectCleanError(await deleteSession(c, evil), 404, 'push_session_not_found');
      expectCleanError(
        await c({ path: `/sync/snapshot-sessions/${evil}` }),
        404,
        'snapshot_session_not_found',
      );
      expectCleanError(
        await c({ method: 'DELETE', path: `/sync/snapshot-sessions/${evil}` }),
        404,
        'snapshot_session_not_found',
      );
      const seq = await c({ path: `/sync/committed-bundles/${encodeURIComponent('1; DROP TABLE x')}/rows` });
      expectCleanError(seq, 400, 'committed_bundle_chunk_invalid');
      const pull = await c({ path: `/sync/pull?after_bundle_seq=${encodeURIComponent("0'; --")}` });
      expect(pull.status).toBe(400);
    });
  });

  describe('cross-scope access', () => {
    it('refuses another user’s push session on chunk, commit and delete, leaving it intact', async () => {
      const a = newUser('owner');
      const ca = syncClient(t.baseUrl, a, 'device-a');
      await initializeEmpty(ca);
      const pushId = await stageRows(ca, 1, [insertUser(schema, newId(), 'Staged By A')]);
      const before = await stagedRows(t.db.url, pushId);
      // Two rows planned, one staged: the attacker's chunk would fit at ordinal 1.
      const ca2 = syncClient(t.baseUrl, a, 'device-a2');
      const pushId2 = (await createSession(ca2, 1, 2)).json.push_id as string;
      expect((await uploadChunk(ca2, pushId2, 0, [insertUser(schema, newId(), 'A Row 0')])).status).toBe(200);

      const attacker = newUser('attacker');
      const cb = syncClient(t.baseUrl, attacker, 'device-a');
      await initializeEmpty(cb);
      const chunk = await uploadChunk(cb, pushId2, 1, [insertUser(schema, newId(), 'Injected By B')]);
      expectCleanError(chunk, 403, 'push_session_forbidden', a);
      const commit = await commitSession(cb, pushId);
      expectCleanError(commit, 403, 'push_session_forbidden', a);
      const del = await deleteSession(cb, pushId.toUpperCase());
      expectCleanError(del, 403, 'push_session_forbidden', a);

      expect(await stagedRows(t.db.url, pushId)).toEqual(before);
      expect(await stagedRows(t.db.url, pushId2)).toHaveLength(1);
      expect(
        await dbRows(t.db.url, `SELECT 1 FROM ${schema}.users WHERE _sync_scope_id = $1`, [attacker]),
      ).toEqual([]);
      const committed = await commitSession(ca, pushId);
      expect(committed.status).toBe(200);
      expect(committed.json.source_id).toBe('device-a');
    });

    it('refuses another user’s snapshot session on read and delete', async () => {
      const v = await victim();
      const { id } = await snapshotPage(v.c);
      const attacker = syncClient(t.baseUrl, newUser('attacker'), 'x');
      await initializeEmpty(attacker);
      const read = await attacker({ path: `/sync/snapshot-sessions/${id}?after_row_ordinal=0` });
      expectCleanError(read, 403, 'snapshot_session_forbidden', v.user);
      expect(read.text).not.toContain('Victim Secret');
      const del = await attacker({ method: 'DELETE', path: `/sync/snapshot-sessions/${id.toUpperCase()}` });
      expectCleanError(del, 403, 'snapshot_session_forbidden', v.user);
      const again = await v.c({ path: `/sync/snapshot-sessions/${id}` });
      expect(again.status).toBe(200);
      expect(JSON.stringify(again.json.rows)).toContain('Victim Secret');
    });

    it('never serves another scope’s rows, bundles or server_row, even under the same key', async () => {
      const v = await victim();
      const attacker = newUser('attacker');
      const c = syncClient(t.baseUrl, attacker, 'x');
      // Before and after initialising, the attacker has no bundle 1 of their own.
      for (const init of [false, true]) {
        if (init) await initializeEmpty(c);
        const reply = await c({ path: '/sync/committed-bundles/1/rows' });
        expectCleanError(reply, 404, 'committed_bundle_not_found', v.user);
      }
      // The same primary key in the attacker's scope is a different row.
      await pushOk(c, 1, [insertUser(schema, v.rowId, 'Attacker Copy')]);
      const conflict = await pushRows(c, 2, [updateUser(schema, v.rowId, 7, { name: 'x', email: 'x@x' })]);
      expect(conflict.status).toBe(409);
      const conflictRow = (conflict.json.conflict as { server_row: Record<string, unknown> }).server_row;
      expect(conflictRow.name).toBe('Attacker Copy');
      expect(conflict.text).not.toContain('Victim Secret');
      // A DELETE of the shared key removes only the attacker's row.
      await pushOk(c, 2, [
        { schema, table: 'users', key: { id: v.rowId }, op: 'DELETE', base_row_version: 1 },
      ]);
      const victimRows = await dbRows(t.db.url, `SELECT name FROM ${schema}.users WHERE id = $1`, [v.rowId]);
      expect(victimRows).toEqual([{ name: 'Victim Secret' }]);
      for (const reply of [await pullAll(c), await c({ path: '/sync/committed-bundles/1/rows' })]) {
        expect(reply.status).toBe(200);
        expect(reply.text).not.toContain('Victim Secret');
      }
      const { page } = await snapshotPage(c);
      expect(page.json.rows).toEqual([]);
    });

    it('answers a foreign key to another scope’s row exactly like one to a missing row (no existence oracle)', async () => {
      const v = await victim();
      const { c } = await fresh('attacker', 'x');
      const post = (postId: string, authorId: string) => insertPost(schema, postId, authorId);
      const postId = newId();
      const toVictim = await pushRows(c, 1, [post(postId, v.rowId)]);
      expect(toVictim.status).toBe(409);
      const missingId = newId();
      const toMissing = await pushRows(c, 1, [post(postId, missingId)]);
      expect(toMissing.status).toBe(409);
      expect(toVictim.text).not.toContain('Victim Secret');
      expect(toVictim.text.replace(v.rowId, '?')).toBe(toMissing.text.replace(missingId, '?'));
      expect(await dbRows(t.db.url, `SELECT 1 FROM ${schema}.posts WHERE id = $1`, [postId])).toEqual([]);
    });

    it('does not wake a watcher for another scope’s commits', async () => {
      const attacker = newUser('attacker');
      const c = syncClient(t.baseUrl, attacker, 'watcher');
      await initializeEmpty(c);
      const watch = await openWatch(t.baseUrl, { user: attacker, source: 'watcher' });
      try {
        expect(watch.status).toBe(200);
        await victim();
        await pushOk(c, 1, [insertUser(schema, newId(), 'Own Row')]);
        // Events arrive in commit order: a leaked victim event would come first.
        const first = await watch.waitForEvent();
        expect(first).toEqual({ bundle_seq: 1, source_id: 'watcher', source_bundle_id: 1 });
      } finally {
        watch.close();
      }
    });
  });

  describe('denial of service within the limits', () => {
    it('refuses jsonb nested past the documented 1000 levels with 400 at upload and commits 500', async () => {
      const { c } = await fresh();
      const typed = (id: string, tags: unknown) => ({
        schema,
        table: 'typed_rows',
        key: { id },
        op: 'INSERT',
        base_row_version: 0,
        payload: { id, name: 'deep', enabled_flag: 1, tags },
      });
      const arrays = (d: number): unknown => JSON.parse(`${'['.repeat(d)}1${']'.repeat(d)}`);
      const objects = (d: number): unknown => JSON.parse(`${'{"k":'.repeat(d)}1${'}'.repeat(d)}`);
      const pushId = (await createSession(c, 1, 1)).json.push_id as string;
      const tooDeep = await uploadChunk(c, pushId, 0, [typed(newId(), arrays(1001))]);
      expectCleanError(tooDeep, 400, 'push_chunk_invalid');
      // Well within its stack the PL/pgSQL canonicaliser (one stack frame per level) copes.
      const deep = [typed(newId(), arrays(500)), typed(newId(), objects(500))];
      expect((await pushRows(c, 1, deep)).status).toBe(200);
      const pulled = (await pullAll(c)).json.bundles[0].rows.map((r) => r.payload?.tags);
      expect(pulled.sort((x, y) => (Array.isArray(x) ? -1 : Array.isArray(y) ? 1 : 0))).toEqual([
        arrays(500),
        objects(500),
      ]);
    });

    it('survives a body of a million nested arrays in fields it ignores', async () => {
      const { c } = await fresh();
      const depth = 1_000_000;
      const nested = `${'['.repeat(depth)}${']'.repeat(depth)}`;
      const key = `{"id":"${newId()}","extra":${nested}}`;
      const pushId = (await createSession(c, 1, 1)).json.push_id as string;
      const chunk = await c({
        method: 'POST',
        path: `/sync/push-sessions/${pushId}/chunks`,
        body: `{"start_row_ordinal":0,"junk":${nested},"rows":[{"schema":"${schema}","table":"users","op":"DELETE","base_row_version":1,"key":${key}}]}`,
      });
      expect(chunk.status).toBe(200);
      const create = await c({
        method: 'POST',
        path: '/sync/push-sessions',
        body: `{"source_bundle_id":1,"planned_row_count":1,"junk":${nested}}`,
      });
      expect(create.status).toBe(200);
      expect((await c({ path: '/sync/capabilities' })).status).toBe(200);
    });

    it('answers 413 to a chunked body over maxRequestBodyBytes (no Content-Length to trust)', async () => {
      const { user } = await fresh();
      const piece = new TextEncoder().encode(' '.repeat(1 << 20));
      let sent = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          // 17 MiB of whitespace: over the 16 MiB default.
          if (sent++ < 17) controller.enqueue(piece);
          else controller.close();
        },
      });
      const res = await fetch(`${t.baseUrl}/sync/push-sessions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${user}`, 'oversync-source-id': 'w' },
        body,
        duplex: 'half',
      } as RequestInit & { duplex: 'half' });
      const json = (await res.json()) as Record<string, unknown>;
      expect(res.status).toBe(413);
      expect(json.error).toBe('request_too_large');
    });

    it('enforces maxRowsPerSnapshotSession and persists nothing for a refused snapshot', async () => {
      const { c } = await fresh();
      const rows = Array.from({ length: SNAPSHOT_ROW_CAP + 1 }, (_, i) =>
        insertUser(schema, newId(), `U${i}`),
      );
      await pushOk(c, 1, rows);
      const before = await dbRows(t.db.url, 'SELECT count(*)::int AS n FROM sync.snapshot_sessions');
      const reply = await c({ method: 'POST', path: '/sync/snapshot-sessions' });
      expectCleanError(reply, 500, 'snapshot_session_create_failed');
      expect(reply.json.message).toContain('maxRowsPerSnapshotSession');
      expect(await dbRows(t.db.url, 'SELECT count(*)::int AS n FROM sync.snapshot_sessions')).toEqual(before);
    });
  });

  describe('error bodies', () => {
    it('answers a row PostgreSQL refuses with PostgreSQL’s message about the row’s own value: no SQL, no DETAIL', async () => {
      const { c } = await fresh();
      const id = newId();
      const row = insertUser(schema, id, 'Bad Date', { created_at: "not a date'); DROP TABLE x; --" });
      const reply = await pushRows(c, 1, [row]);
      expect(reply.status).toBe(400);
      expect(reply.json).toEqual({
        error: 'push_commit_invalid',
        message:
          `pushed row 0 (${schema}.users "${id}") cannot be stored on the server: ` +
          `invalid input syntax for type timestamp with time zone: "not a date'); DROP TABLE x; --"; ` +
          'the server refuses these rows on every retry; change or delete the row on the device',
      });
    });
  });
});
