/**
 * Optimistic concurrency at commit over real HTTP: the §7 conflict matrix, the structured
 * `push_conflict` body (server_row object and null), whole-bundle rejection and owner isolation
 * (scenarios D21, D23, E1–E4).
 */
import { createOversyncTestApp, type OversyncTestApp } from '../support/oversync-app.js';
import {
  bundleCount,
  createSession,
  dbRows,
  deleteRow,
  initializeEmpty,
  insertUser,
  newId,
  newUser,
  pushOk,
  pushRows,
  updateUser,
} from '../support/push-builders.js';
import { syncClient, type SyncReply } from '../support/sync-http.js';

describe('push_conflict at commit', () => {
  let t: OversyncTestApp;
  let schema: string;
  const ready = async (source = 'writer') => {
    const user = newUser();
    const c = syncClient(t.baseUrl, user, source);
    await initializeEmpty(c);
    return { user, c };
  };
  const expectConflict = (reply: SyncReply, message: string, conflict: Record<string, unknown>) => {
    expect(reply.status).toBe(409);
    expect(Object.keys(reply.json)).toEqual(['error', 'message', 'conflict']);
    expect(reply.json).toEqual({ error: 'push_conflict', message, conflict });
    expect(Object.keys(reply.json.conflict as object)).toEqual([
      'schema',
      'table',
      'key',
      'op',
      'base_row_version',
      'server_row_version',
      'server_row_deleted',
      'server_row',
    ]);
  };

  beforeAll(async () => {
    t = await createOversyncTestApp({ listen: true });
    schema = t.schema;
  });
  afterAll(async () => {
    await t.close();
  });

  it('reports a stale UPDATE with the live server row, without the scope column (E1)', async () => {
    const { c } = await ready();
    const x = newId();
    await pushOk(c, 1, [insertUser(schema, x, 'Server', { email: 'server@example.com' })]);
    const [row] = await dbRows<{ created_at: string; updated_at: string }>(
      t.db.url,
      `SELECT (to_jsonb(created_at AT TIME ZONE 'UTC') #>> '{}') || '+00:00' AS created_at,
              (to_jsonb(updated_at AT TIME ZONE 'UTC') #>> '{}') || '+00:00' AS updated_at
         FROM ${schema}.users WHERE id = $1`,
      [x],
    );
    const reply = await pushRows(c, 2, [
      updateUser(schema, x, 0, { name: 'Client', email: 'client@example.com' }),
    ]);
    expectConflict(reply, `update conflict on ${schema}.users ${x}: expected version 1, got 0`, {
      schema,
      table: 'users',
      key: { id: x },
      op: 'UPDATE',
      base_row_version: 0,
      server_row_version: 1,
      server_row_deleted: false,
      server_row: {
        id: x,
        name: 'Server',
        email: 'server@example.com',
        created_at: row.created_at,
        updated_at: row.updated_at,
      },
    });
  });

  it('reports a tombstone with server_row null (E2)', async () => {
    const { c } = await ready();
    const x = newId();
    await pushOk(c, 1, [insertUser(schema, x, 'Gone')]);
    await pushOk(c, 2, [deleteRow(schema, 'users', x, 1)]);
    const reply = await pushRows(c, 3, [updateUser(schema, x, 1, { name: 'Back' })]);
    expectConflict(reply, `update conflict on ${schema}.users ${x}: row does not exist`, {
      schema,
      table: 'users',
      key: { id: x },
      op: 'UPDATE',
      base_row_version: 1,
      server_row_version: 2,
      server_row_deleted: true,
      server_row: null,
    });
    expect(reply.text).toContain('"server_row":null');
  });

  it('rejects the whole bundle, reports the first failing row and keeps the tuple open (E3)', async () => {
    const { user, c } = await ready();
    const x = newId();
    const y = newId();
    await pushOk(c, 1, [insertUser(schema, x, 'Alice')]);
    const reply = await pushRows(c, 2, [
      insertUser(schema, y, 'Sibling'),
      updateUser(schema, x, 999, { name: 'Stale' }),
      deleteRow(schema, 'users', newId(), 5),
    ]);
    expect(reply.status).toBe(409);
    expect(reply.json.message).toBe(`update conflict on ${schema}.users ${x}: expected version 1, got 999`);
    expect(await bundleCount(t.db.url, user)).toBe(1);
    expect(
      await dbRows(t.db.url, `SELECT name FROM ${schema}.users WHERE _sync_scope_id = $1`, [user]),
    ).toEqual([{ name: 'Alice' }]);
    expect((await createSession(c, 2, 1)).json.status).toBe('staging');
  });

  it.each([
    [
      'an INSERT with a base on a never-seen key',
      async () => ({
        seed: [],
        row: (x: string) => ({ ...insertUser(schema, x, 'New'), base_row_version: 3 }),
      }),
      (x: string) => `insert conflict on ${schema}.users ${x}: expected missing row at version 0, got 3`,
      { server_row_version: 0, server_row_deleted: false, hasRow: false },
    ],
    [
      'an INSERT over a live row at its version',
      async () => ({
        seed: ['insert'],
        row: (x: string) => ({ ...insertUser(schema, x, 'Again'), base_row_version: 1 }),
      }),
      (x: string) => `insert conflict on ${schema}.users ${x}: row already exists at version 1`,
      { server_row_version: 1, server_row_deleted: false, hasRow: true },
    ],
    [
      'an INSERT over a live row with base 0',
      async () => ({ seed: ['insert'], row: (x: string) => insertUser(schema, x, 'Again') }),
      (x: string) => `insert conflict on ${schema}.users ${x}: expected base_row_version 1, got 0`,
      { server_row_version: 1, server_row_deleted: false, hasRow: true },
    ],
    [
      'a DELETE with a stale base',
      async () => ({ seed: ['insert', 'update'], row: (x: string) => deleteRow(schema, 'users', x, 1) }),
      (x: string) => `delete conflict on ${schema}.users ${x}: expected version 2, got 1`,
      { server_row_version: 2, server_row_deleted: false, hasRow: true },
    ],
    [
      'a DELETE of a missing row',
      async () => ({ seed: [], row: (x: string) => deleteRow(schema, 'users', x, 0) }),
      (x: string) => `delete conflict on ${schema}.users ${x}: row does not exist`,
      { server_row_version: 0, server_row_deleted: false, hasRow: false },
    ],
  ])('reports %s (E4)', async (_name, setup, message, expected) => {
    const { c } = await ready();
    const x = newId();
    const { seed, row } = await setup();
    let next = 1;
    for (const step of seed) {
      const r =
        step === 'insert'
          ? insertUser(schema, x, 'Seed')
          : updateUser(schema, x, next - 1, { name: 'Seed 2' });
      await pushOk(c, next++, [r]);
    }
    const reply = await pushRows(c, next, [row(x)]);
    expect(reply.status).toBe(409);
    expect(reply.json.message).toBe(message(x));
    const conflict = reply.json.conflict as Record<string, unknown>;
    expect(conflict).toMatchObject({
      server_row_version: expected.server_row_version,
      server_row_deleted: expected.server_row_deleted,
    });
    expect(conflict.server_row === null).toBe(!expected.hasRow);
  });

  it('revives a tombstone only with the tombstone version as base (D21)', async () => {
    const { user, c } = await ready();
    const x = newId();
    await pushOk(c, 1, [insertUser(schema, x, 'Ada')]);
    await pushOk(c, 2, [deleteRow(schema, 'users', x, 1)]);
    const wrong = await pushRows(c, 3, [insertUser(schema, x, 'Ada Again')]);
    expect(wrong.json.message).toBe(
      `insert conflict on ${schema}.users ${x}: expected base_row_version 2, got 0`,
    );
    expect((wrong.json.conflict as Record<string, unknown>).server_row).toBeNull();
    const revived = await pushOk(c, 3, [{ ...insertUser(schema, x, 'Ada Again'), base_row_version: 2 }]);
    expect(revived.bundle_seq).toBe(3);
    expect(
      await dbRows(t.db.url, `SELECT name FROM ${schema}.users WHERE _sync_scope_id = $1`, [user]),
    ).toEqual([{ name: 'Ada Again' }]);
  });

  it('never lets one user update or delete another user’s row with the same key (D23)', async () => {
    const a = await ready('device-a');
    const b = await ready('device-b');
    const x = newId();
    await pushOk(a.c, 1, [insertUser(schema, x, 'Owner A')]);
    for (const row of [updateUser(schema, x, 1, { name: 'Hijack' }), deleteRow(schema, 'users', x, 1)]) {
      const reply = await pushRows(b.c, 1, [row]);
      expect(reply.status).toBe(409);
      expect(reply.json.message).toMatch(/conflict on .* row does not exist$/);
      expect((reply.json.conflict as Record<string, unknown>).server_row).toBeNull();
    }
    expect(
      await dbRows(t.db.url, `SELECT _sync_scope_id AS owner, name FROM ${schema}.users WHERE id = $1`, [x]),
    ).toEqual([{ owner: a.user, name: 'Owner A' }]);
  });

  it('serves bytea in the conflict row as base64', async () => {
    const { c } = await ready();
    const x = newId();
    const file = {
      schema,
      table: 'files',
      key: { id: x },
      op: 'INSERT' as const,
      base_row_version: 0,
      payload: { name: 'f', data: 'AAEC' },
    };
    await pushOk(c, 1, [file]);
    const reply = await pushRows(c, 2, [{ ...file, op: 'UPDATE', payload: { name: 'g' } }]);
    expect((reply.json.conflict as Record<string, unknown>).server_row).toEqual({
      id: x,
      name: 'f',
      data: 'AAEC',
    });
  });
});
