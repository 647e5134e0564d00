/**
 * Stateless validation of `POST /sync/push-sessions/{id}/chunks` over real HTTP: every row check
 * and its message, decoding failures and the chunk size limit, all answered before the session is
 * looked up (scenarios B4, B9, D4).
 */
import { execSql } from '../support/business-schema.js';
import { createOversyncTestApp, type OversyncTestApp } from '../support/oversync-app.js';
import {
  initializeEmpty,
  insertUser,
  newId,
  pushOk,
  pushRows,
  newUser,
  uploadChunk,
  stagedRows as stagedRowsOf,
  stagingSession,
} from '../support/push-builders.js';
import { syncCall, syncClient } from '../support/sync-http.js';

const MAX_CHUNK = 1000;

describe('POST /sync/push-sessions/{push_id}/chunks', () => {
  let t: OversyncTestApp;
  let schema: string;
  const client = (user: string, source = 'writer') => syncClient(t.baseUrl, user, source);
  /** An initialized user with a fresh staging session of `planned` rows. */
  const session = (planned = 1) => stagingSession(t.baseUrl, planned);
  const stagedRows = (pushId: string) => stagedRowsOf(t.db.url, pushId);

  beforeAll(async () => {
    t = await createOversyncTestApp({
      listen: true,
      options: { limits: { maxRowsPerPushChunk: MAX_CHUNK } },
    });
    schema = t.schema;
  });
  afterAll(async () => {
    await t.close();
  });

  const id = 'abcdef12-2222-4333-8444-55555555aaaa';
  const users = (row: Record<string, unknown>) => ({
    schema: 'business',
    table: 'users',
    key: { id },
    op: 'INSERT',
    base_row_version: 0,
    ...row,
  });
  it.each<[string, unknown, string]>([
    ['empty rows', { start_row_ordinal: 0, rows: [] }, 'rows must not be empty'],
    ['missing rows', { start_row_ordinal: 0 }, 'rows must not be empty'],
    [
      'a negative start',
      { start_row_ordinal: -1, rows: [users({ payload: { name: 'x' } })] },
      'start_row_ordinal must be >= 0',
    ],
    ['a bad schema name', { rows: [users({ schema: 'bus-iness' })] }, 'invalid schema name "bus-iness"'],
    ['an empty table name', { rows: [users({ table: '  ' })] }, 'invalid table name ""'],
    [
      'an unregistered table',
      { rows: [users({ table: 'unregistered_notes' })] },
      'table business.unregistered_notes is not registered',
    ],
    ['the public default schema', { rows: [users({ schema: '' })] }, 'table public.users is not registered'],
    ['an unknown op', { rows: [users({ op: 'upsert' })] }, 'invalid op "UPSERT"'],
    [
      'a key without the key column',
      { rows: [users({ key: { uuid: id } })] },
      'row key for business.users must include "id"',
    ],
    ['a null key', { rows: [users({ key: null })] }, 'row key for business.users must include "id"'],
    [
      'a numeric key value',
      { rows: [users({ key: { id: 7 } })] },
      'row key business.users.id must be a string',
    ],
    [
      'an upper-case UUID key',
      { rows: [users({ key: { id: id.toUpperCase() } })] },
      'canonical dashed lowercase UUID text',
    ],
    ['a non-UUID key', { rows: [users({ key: { id: 'abc' } })] }, 'canonical dashed lowercase UUID text'],
    [
      'a duplicate key in the chunk',
      { rows: [users({ payload: { name: 'a' } }), users({ payload: { name: 'b' } })] },
      'duplicate target row',
    ],
    [
      'a DELETE with payload',
      { rows: [users({ op: 'DELETE', payload: { id } })] },
      'DELETE for business.users must not include payload',
    ],
    [
      'a DELETE with payload null',
      { rows: [users({ op: 'DELETE', payload: null })] },
      'DELETE for business.users must not include payload',
    ],
    ['an INSERT without payload', { rows: [users({})] }, 'INSERT for business.users requires payload'],
    [
      'an UPDATE without payload',
      { rows: [users({ op: 'UPDATE' })] },
      'UPDATE for business.users requires payload',
    ],
    [
      'an array payload',
      { rows: [users({ payload: [1] })] },
      'payload for business.users must be a JSON object',
    ],
    [
      'a null payload',
      { rows: [users({ payload: null })] },
      'payload for business.users must be a JSON object',
    ],
    [
      'the hidden scope column',
      { rows: [users({ payload: { _sync_scope_id: 'x' } })] },
      'must not include hidden scope column',
    ],
    [
      'a mismatching payload key',
      { rows: [users({ payload: { id: newId() } })] },
      'payload key business.users.id must match request key',
    ],
    [
      'a bad column name',
      { rows: [users({ payload: { 'na-me': 'x' } })] },
      'payload column "na-me" for business.users is not a valid column name',
    ],
    [
      'an unknown column',
      { rows: [users({ payload: { nickname: 'x' } })] },
      'payload column business.users.nickname does not exist',
    ],
    [
      'a column twice in two cases',
      { rows: [users({ payload: { name: 'a', NAME: 'b' } })] },
      'payload column business.users.name appears more than once',
    ],
    [
      'a numeric bytea value',
      { rows: [users({ table: 'files', payload: { name: 'f', data: 5 } })] },
      'payload binary field business.files.data must be a base64 string',
    ],
    [
      'invalid base64',
      { rows: [users({ table: 'files', payload: { name: 'f', data: 'AA=A' } })] },
      'payload binary field business.files.data must be valid base64',
    ],
    // Both answered 500 on every retry: PostgreSQL text and JSON cannot hold U+0000.
    [
      'U+0000 in a text value',
      { rows: [users({ payload: { name: 'a\u0000b', email: 'e' } })] },
      'payload for business.users "abcdef12-2222-4333-8444-55555555aaaa" holds the character U+0000',
    ],
    [
      'U+0000 in a text key',
      { rows: [users({ table: 'docs', key: { doc_id: 'd\u0000' }, payload: { body: {} } })] },
      'row key business.docs.doc_id holds the character U+0000',
    ],
    [
      'U+0000 inside a json value',
      { rows: [users({ table: 'docs', key: { doc_id: 'd1' }, payload: { body: { k: '\u0000' } } })] },
      'payload for business.docs "d1" holds the character U+0000',
    ],
    ['a null row', { rows: [null] }, 'invalid table name ""'],
  ])(
    'rejects %s with 400 push_chunk_invalid before the session lookup (B9)',
    async (_name, body, message) => {
      const user = newUser();
      const reply = await client(user)({
        method: 'POST',
        path: `/sync/push-sessions/${newId()}/chunks`,
        body,
      });
      expect(reply.status).toBe(400);
      expect(reply.json.error).toBe('push_chunk_invalid');
      expect(reply.json.message).toContain(message);
    },
  );

  it('accepts a backslash followed by "u0000" (an escape, not U+0000) and stores it as written', async () => {
    const user = newUser('not-nul');
    const c = client(user);
    await initializeEmpty(c);
    const rowId = newId();
    const name = 'C:\\u0000dir \\\\u0000';
    const committed = await pushOk(c, 1, [insertUser(schema, rowId, name)]);
    expect(committed.row_count).toBe(1);
    const { rows } = await execSql(t.db.url, `SELECT name FROM ${schema}.users WHERE id = $1`, [rowId]);
    expect(rows).toEqual([{ name }]);
  });

  it('rejects a payload number beyond float64 (JSON.parse reads 1e400 as Infinity) with 400 push_chunk_invalid', async () => {
    const user = newUser();
    const row = JSON.stringify(users({ payload: { name: 'x' } })).replace(
      '"name":"x"',
      '"name":"x","email":1e400',
    );
    const reply = await client(user)({
      method: 'POST',
      path: `/sync/push-sessions/${newId()}/chunks`,
      body: `{"start_row_ordinal":0,"rows":[${row}]}`,
    });
    expect(reply.status).toBe(400);
    expect(reply.json.error).toBe('push_chunk_invalid');
    expect(reply.json.message).toContain('beyond the float64 range');
  });

  it('rejects at upload a json value nested deeper than 1000 levels, commits 500, and refuses 900 at commit (beyond the canonicaliser)', async () => {
    const user = newUser();
    const nested = (depth: number) => JSON.parse('['.repeat(depth) + '1' + ']'.repeat(depth)) as unknown;
    const row = (depth: number) => ({
      schema,
      table: 'typed_rows',
      key: { id },
      op: 'INSERT',
      base_row_version: 0,
      payload: { id, name: 'deep', enabled_flag: 1, tags: nested(depth) },
    });
    const deep = await client(user)({
      method: 'POST',
      path: `/sync/push-sessions/${newId()}/chunks`,
      body: { start_row_ordinal: 0, rows: [row(1001)] },
    });
    expect(deep.status).toBe(400);
    expect(deep.json).toEqual({
      error: 'push_chunk_invalid',
      message: `payload value ${schema}.typed_rows.tags of row "${id}" is nested deeper than 1000 levels, which the server cannot canonicalise`,
    });
    // 500 levels pass, and the commit canonicalises them.
    const c = client(user);
    await initializeEmpty(c);
    const committed = await pushRows(c, 1, [row(500)]);
    expect(committed.status).toBe(200);
    // Beyond PostgreSQL's stack (about 650 levels by default), as a server write would be.
    const tooDeep = await pushRows(c, 2, [{ ...row(900), op: 'UPDATE', base_row_version: 1 }]);
    expect(tooDeep.status).toBe(400);
    expect(tooDeep.json.error).toBe('push_commit_invalid');
    expect(tooDeep.json.message).toContain('nested too deeply to canonicalise');
  });

  it('rejects a chunk larger than max_rows_per_push_chunk (D4)', async () => {
    const rows = Array.from({ length: MAX_CHUNK + 1 }, (_, i) => insertUser(schema, newId(), `U${i}`));
    const { c, pushId } = await session(MAX_CHUNK + 1);
    const reply = await uploadChunk(c, pushId, 0, rows);
    expect(reply.status).toBe(400);
    expect(reply.json).toEqual({
      error: 'push_chunk_invalid',
      message: `rows length ${MAX_CHUNK + 1} exceeds max_rows_per_push_chunk ${MAX_CHUNK}`,
    });
    expect(await stagedRows(pushId)).toEqual([]);
  });

  it.each([
    ['malformed JSON', '{"rows":['],
    ['an empty body', ''],
    ['rows as a string', '{"rows":"x"}'],
    ['a string start ordinal', '{"start_row_ordinal":"0","rows":[]}'],
    [
      'a key that is not an object',
      `{"rows":[{"schema":"business","table":"users","key":"${id}","op":"DELETE"}]}`,
    ],
    [
      'a fractional base_row_version',
      `{"rows":[{"table":"users","key":{"id":"${id}"},"op":"DELETE","base_row_version":1.5}]}`,
    ],
    ['a numeric op', `{"rows":[{"table":"users","key":{"id":"${id}"},"op":3}]}`],
    [
      'a mistyped row behind an own "__proto__" key (which must not switch validation off)',
      `{"__proto__":{},"rows":[{"schema":5,"table":"users","key":{"id":"${id}"},"op":"DELETE"}]}`,
    ],
    [
      'a base_row_version string smuggling JSON behind an own "__proto__" key',
      `{"__proto__":{},"start_row_ordinal":0,"rows":[{"table":"users","key":{"id":"${id}"},"op":"DELETE","base_row_version":"0,\\"k\\":\\"7a7a\\""}]}`,
    ],
  ])('rejects %s with 400 invalid_request', async (_name, body) => {
    const reply = await syncCall(t.baseUrl, {
      method: 'POST',
      path: `/sync/push-sessions/${newId()}/chunks`,
      user: newUser(),
      source: 's',
      body,
    });
    expect(reply.status).toBe(400);
    expect(reply.text).toBe('{"error":"invalid_request","message":"Failed to parse push chunk request"}\n');
  });
});
