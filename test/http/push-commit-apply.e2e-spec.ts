/**
 * How a commit applies staged rows over real HTTP: FK order and cascades inside one push, database
 * errors (NOT NULL, type coercion) as `400 push_commit_invalid` naming the row with nothing written,
 * partial updates, typed values, text keys and per-user key isolation (scenarios D17–D20, D22).
 */
import { createOversyncTestApp, type OversyncTestApp } from '../support/oversync-app.js';
import {
  bundleCount,
  commitSession,
  dbRows,
  deleteRow,
  fetchCommittedRows,
  insertPost,
  insertUser,
  newId,
  pushOk,
  pushRows,
  stageRows,
  updateUser,
  pushSessionExists,
  readyUser,
  scopeUsers,
} from '../support/push-builders.js';

describe('POST /sync/push-sessions/{push_id}/commit', () => {
  let t: OversyncTestApp;
  let schema: string;
  const ready = (source = 'writer') => readyUser(t.baseUrl, source);
  const usersOf = (user: string) => scopeUsers(t.db.url, schema, user);
  const sessionExists = (pushId: string) => pushSessionExists(t.db.url, pushId);

  beforeAll(async () => {
    t = await createOversyncTestApp({ listen: true });
    schema = t.schema;
  });
  afterAll(async () => {
    await t.close();
  });

  it('applies child-before-parent in one push and cascades a parent delete (D19)', async () => {
    const { user, c } = await ready();
    const author = newId();
    const post = newId();
    const first = await pushOk(c, 1, [
      insertPost(schema, post, author),
      insertUser(schema, author, 'Author'),
    ]);
    expect(first.row_count).toBe(2);
    const second = await pushOk(c, 2, [deleteRow(schema, 'users', author, 1)]);
    expect(second.row_count).toBe(2);
    const { rows } = await fetchCommittedRows(c, second.bundle_seq as number);
    expect(rows.map((r) => `${r.table}:${r.op}`).sort()).toEqual(['posts:DELETE', 'users:DELETE']);
    expect(rows.every((r) => !('payload' in r))).toBe(true);
    expect(await dbRows(t.db.url, `SELECT 1 FROM ${schema}.posts WHERE _sync_scope_id = $1`, [user])).toEqual(
      [],
    );
    const states = await dbRows(
      t.db.url,
      'SELECT bundle_seq::int AS v, deleted FROM sync.row_state r JOIN sync.user_state u USING (user_pk) WHERE u.user_id = $1',
      [user],
    );
    expect(states).toEqual([
      { v: 2, deleted: true },
      { v: 2, deleted: true },
    ]);
  });

  it('allows a self-referencing row inside one bundle (D18)', async () => {
    const { user, c } = await ready();
    const id = newId();
    const commit = await pushOk(c, 1, [
      {
        schema,
        table: 'categories',
        key: { id },
        op: 'INSERT',
        base_row_version: 0,
        payload: { id, name: 'Root', parent_id: id },
      },
    ]);
    expect(commit.row_count).toBe(1);
    const [row] = await dbRows(
      t.db.url,
      `SELECT parent_id::text FROM ${schema}.categories WHERE _sync_scope_id = $1`,
      [user],
    );
    expect(row).toEqual({ parent_id: id });
  });

  // A foreign key violation is a push conflict on the row instead (push-fk-conflicts.e2e-spec.ts).
  it.each([
    ['a NOT NULL violation', (id: string) => ({ table: 'users', payload: { id, name: 'No Email' } })],
    [
      'a type coercion failure',
      (id: string) => ({ table: 'typed_rows', payload: { id, name: 'n', enabled_flag: 'yes' } }),
    ],
  ])('answers 400 push_commit_invalid for %s (go-oversync: 500) and writes nothing', async (_name, build) => {
    const { user, c } = await ready();
    const id = newId();
    const pushId = await stageRows(c, 1, [
      { schema, key: { id }, op: 'INSERT', base_row_version: 0, ...build(id) },
    ]);
    const reply = await commitSession(c, pushId);
    expect(reply.status).toBe(400);
    expect(reply.json.error).toBe('push_commit_invalid');
    expect(reply.json.message).toContain(`pushed row 0 (${schema}.`);
    expect(await bundleCount(t.db.url, user)).toBe(0);
    expect(
      await dbRows(
        t.db.url,
        'SELECT 1 FROM sync.row_state r JOIN sync.user_state u USING (user_pk) WHERE u.user_id = $1',
        [user],
      ),
    ).toEqual([]);
    for (const table of ['posts', 'users', 'typed_rows']) {
      expect(
        await dbRows(t.db.url, `SELECT 1 FROM ${schema}.${table} WHERE _sync_scope_id = $1`, [user]),
      ).toEqual([]);
    }
    expect(await sessionExists(pushId)).toBe(true);
  });

  describe.each([
    ['as uploaded', false],
    // A session staged by an earlier build has no column lists: the plan reads them from payloads.
    ['staged by an earlier build (no column lists)', true],
  ])('splits INSERT runs by table and column set, %s', (_label, legacy) => {
    it('applies every row with its own columns, in upload order', async () => {
      const { user, c } = await ready();
      const [a, b, d, e] = [newId(), newId(), newId(), newId()];
      const post = newId();
      const pinned = '2001-02-03T04:05:06Z';
      const pushId = await stageRows(c, 1, [
        insertUser(schema, a, 'A'),
        insertUser(schema, b, 'B', { created_at: pinned }),
        insertUser(schema, d, 'D', { created_at: pinned }),
        insertPost(schema, post, a),
        insertUser(schema, e, 'E'),
      ]);
      const lists = await dbRows(
        t.db.url,
        'SELECT row_ordinal::int AS n, column_list FROM sync.push_session_rows WHERE push_id = $1 ORDER BY row_ordinal',
        [pushId],
      );
      expect(lists.map((r) => r.column_list)).toEqual([
        'email,id,name',
        'created_at,email,id,name',
        'created_at,email,id,name',
        'author_id,content,id,title',
        'email,id,name',
      ]);
      if (legacy) {
        await dbRows(t.db.url, 'UPDATE sync.push_session_rows SET column_list = NULL WHERE push_id = $1', [
          pushId,
        ]);
      }
      const commit = await commitSession(c, pushId);
      expect(commit.status).toBe(200);
      const rows = await fetchCommittedRows(c, commit.json.bundle_seq as number);
      expect(rows.rows.map((r) => (r.key as { id: string }).id)).toEqual([a, b, d, post, e]);
      const created = await dbRows(
        t.db.url,
        `SELECT id::text, created_at = '${pinned}'::timestamptz AS pinned FROM ${schema}.users WHERE _sync_scope_id = $1`,
        [user],
      );
      expect(Object.fromEntries(created.map((r) => [r.id, r.pinned]))).toEqual({
        [a]: false,
        [b]: true,
        [d]: true,
        [e]: false,
      });
    });
  });

  it('answers push_commit_invalid when the push changes nothing (drifted row)', async () => {
    const { user, c } = await ready();
    const id = newId();
    await pushOk(c, 1, [insertUser(schema, id, 'Ghost')]);
    // Remove the business row behind the engine's back (triggers off), leaving row_state live.
    await dbRows(
      t.db.url,
      `SET session_replication_role = replica; DELETE FROM ${schema}.users WHERE _sync_scope_id = '${user}'`,
    );
    const reply = await pushRows(c, 2, [updateUser(schema, id, 1, { name: 'Nobody' })]);
    expect(reply.status).toBe(400);
    expect(reply.json).toEqual({
      error: 'push_commit_invalid',
      message: 'push session produced no captured business-table effects',
    });
    expect(await bundleCount(t.db.url, user)).toBe(1);
  });

  it('updates only the payload columns and bumps the row version (D20)', async () => {
    const { user, c } = await ready();
    const id = newId();
    await pushOk(c, 1, [insertUser(schema, id, 'Alice')]);
    const second = await pushOk(c, 2, [updateUser(schema, id, 1, { name: 'Alice Updated' })]);
    expect(second.bundle_seq).toBe(2);
    expect(await usersOf(user)).toEqual([{ id, name: 'Alice Updated', email: 'alice@example.com' }]);
    const [state] = await dbRows(
      t.db.url,
      'SELECT bundle_seq::int AS v FROM sync.row_state r JOIN sync.user_state u USING (user_pk) WHERE u.user_id = $1',
      [user],
    );
    expect(state).toEqual({ v: 2 });
  });

  it('syncs text keys and typed columns (D17)', async () => {
    const { user, c } = await ready();
    const typed = newId();
    const commit = await pushOk(c, 1, [
      {
        schema,
        table: 'docs',
        key: { doc_id: 'doc-42' },
        op: 'INSERT',
        base_row_version: 0,
        payload: { body: 'Hello text key' },
      },
      {
        schema,
        table: 'typed_rows',
        key: { id: typed },
        op: 'INSERT',
        base_row_version: 0,
        payload: {
          name: 'n',
          enabled_flag: 1,
          count_value: 7,
          rating: 1.5,
          amount: 12.5,
          tags: { b: [1, 'x'], a: null },
          active: true,
          data: null,
          created_at: '2026-03-24T18:42:11.123456Z',
        },
      },
    ]);
    const { rows } = await fetchCommittedRows(c, commit.bundle_seq as number);
    expect(rows[0]).toEqual({
      schema,
      table: 'docs',
      key: { doc_id: 'doc-42' },
      op: 'INSERT',
      row_version: 1,
      payload: { doc_id: 'doc-42', body: 'Hello text key' },
    });
    expect(rows[1].payload).toEqual({
      id: typed,
      name: 'n',
      note: null,
      enabled_flag: 1,
      count_value: 7,
      rating: 1.5,
      amount: 12.5,
      tags: { a: null, b: [1, 'x'] },
      active: true,
      data: null,
      created_at: '2026-03-24T18:42:11.123456+00:00',
    });
    const [doc] = await dbRows(t.db.url, `SELECT body FROM ${schema}.docs WHERE _sync_scope_id = $1`, [user]);
    expect(doc).toEqual({ body: 'Hello text key' });
  });

  it('lets two users hold the same key independently (D22)', async () => {
    const id = newId();
    const a = await ready('device-a');
    const b = await ready('device-b');
    expect((await pushOk(a.c, 1, [insertUser(schema, id, 'Alice')])).bundle_seq).toBe(1);
    expect((await pushOk(b.c, 1, [insertUser(schema, id, 'Bob')])).bundle_seq).toBe(1);
    expect((await usersOf(a.user)).map((u) => u.name)).toEqual(['Alice']);
    expect((await usersOf(b.user)).map((u) => u.name)).toEqual(['Bob']);
  });
});
