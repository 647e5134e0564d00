import type { SnapshotChunkResponse, SnapshotSession } from '@oversync/protocol';
import { createOversyncTestApp, type OversyncTestApp } from '../support/oversync-app.js';
import { commitUsers, initEmptyScope, q, setFloor } from '../support/read-builders.js';
import { syncClient } from '../support/sync-http.js';

type Reply = SnapshotSession & SnapshotChunkResponse & { error?: string; message?: string };

describe('snapshot session lifecycle: delete, ownership, TTL, pruning, failures', () => {
  let t: OversyncTestApp;

  beforeAll(async () => {
    t = await createOversyncTestApp({ listen: true });
  });
  afterAll(async () => t.close());

  const as = (user: string, source = 'reader') => syncClient(t.baseUrl, user, source)<Reply>;
  const create = (user: string, body?: unknown) =>
    as(user)({ method: 'POST', path: '/sync/snapshot-sessions', body });
  const chunk = (user: string, id: string, query = '') =>
    as(user)({ path: `/sync/snapshot-sessions/${id}${query}` });

  it('deletes (204), then 404; other users get 403; blank and non-UUID ids (G6)', async () => {
    const user = 'snap-del';
    await commitUsers(t, user, 1);
    const id = (await create(user)).json.snapshot_id;
    const foreign = await as('snap-other')({ path: `/sync/snapshot-sessions/${id}` });
    expect(foreign.status).toBe(403);
    expect(foreign.json).toEqual({
      error: 'snapshot_session_forbidden',
      message: `snapshot session ${id} does not belong to the authenticated user`,
    });
    expect((await as('snap-other')({ method: 'DELETE', path: `/sync/snapshot-sessions/${id}` })).status).toBe(
      403,
    );
    // Another source of the same user may read it (ownership is per user).
    expect((await as(user, 'second-device')({ path: `/sync/snapshot-sessions/${id}` })).status).toBe(200);
    const upper = await chunk(user, id.toUpperCase());
    expect(upper.json.snapshot_id).toBe(id);
    const del = await as(user)({ method: 'DELETE', path: `/sync/snapshot-sessions/${id}` });
    expect(del.status).toBe(204);
    expect(del.text).toBe('');
    const gone = await chunk(user, id);
    expect(gone.status).toBe(404);
    expect(gone.json).toEqual({
      error: 'snapshot_session_not_found',
      message: `snapshot session ${id} was not found`,
    });
    expect((await as(user)({ method: 'DELETE', path: `/sync/snapshot-sessions/${id}` })).status).toBe(404);
    const rows = await q(
      t,
      `SELECT count(*)::int AS n FROM sync.snapshot_session_blocks WHERE snapshot_id = $1`,
      [id],
    );
    expect(rows.rows[0].n).toBe(0);
    expect((await chunk(user, 'not-a-uuid')).json.error).toBe('snapshot_session_not_found');
    expect((await as(user)({ method: 'DELETE', path: '/sync/snapshot-sessions/not-a-uuid' })).status).toBe(
      404,
    );
    for (const method of ['GET', 'DELETE'] as const) {
      const blank = await as(user)({ method, path: '/sync/snapshot-sessions/' });
      expect(blank.status).toBe(400);
      expect(blank.json).toEqual({ error: 'snapshot_chunk_invalid', message: 'snapshot_id is required' });
    }
  });

  it('expires by TTL without refresh on read, deletes expired ones, and purges on the next create (G6)', async () => {
    const user = 'snap-ttl';
    await commitUsers(t, user, 2);
    const id = (await create(user)).json.snapshot_id;
    const before = await q(t, `SELECT expires_at FROM sync.snapshot_sessions WHERE snapshot_id = $1`, [id]);
    await chunk(user, id);
    const after = await q(t, `SELECT expires_at FROM sync.snapshot_sessions WHERE snapshot_id = $1`, [id]);
    expect(after.rows[0].expires_at).toEqual(before.rows[0].expires_at);

    await q(
      t,
      `UPDATE sync.snapshot_sessions SET expires_at = now() - interval '1 second' WHERE snapshot_id = $1`,
      [id],
    );
    const expired = await chunk(user, id);
    expect(expired.status).toBe(410);
    expect(expired.json).toEqual({
      error: 'snapshot_session_expired',
      message: `snapshot session ${id} has expired; start a new snapshot session`,
    });
    const other = (await create(user)).json.snapshot_id;
    await q(
      t,
      `UPDATE sync.snapshot_sessions SET expires_at = now() - interval '1 second' WHERE snapshot_id = $1`,
      [other],
    );
    expect((await as(user)({ method: 'DELETE', path: `/sync/snapshot-sessions/${other}` })).status).toBe(204);

    await initEmptyScope(t, 'snap-ttl-other');
    await create('snap-ttl-other'); // purges expired sessions of every user
    const left = await q(
      t,
      `SELECT (SELECT count(*) FROM sync.snapshot_sessions WHERE snapshot_id = $1)::int AS s,
                                    (SELECT count(*) FROM sync.snapshot_session_blocks WHERE snapshot_id = $1)::int AS r`,
      [id],
    );
    expect(left.rows[0]).toEqual({ s: 0, r: 0 });
    expect((await chunk(user, id)).status).toBe(404);
  });

  it('stays readable after history is pruned (G7)', async () => {
    const user = 'snap-prune';
    await commitUsers(t, user, 1);
    await commitUsers(t, user, 1);
    await commitUsers(t, user, 1);
    const id = (await create(user)).json.snapshot_id;
    const sources = await q(
      t,
      `SELECT count(*)::int AS n FROM sync.source_state s JOIN sync.user_state u USING (user_pk) WHERE user_id = $1`,
      [user],
    );
    await setFloor(t, user, 3, true);
    const res = await chunk(user, id, '?max_rows=3');
    expect(res.json).toMatchObject({ snapshot_bundle_seq: 3, next_row_ordinal: 3, has_more: false });
    expect(res.json.rows).toHaveLength(3);
    const after = await q(
      t,
      `SELECT count(*)::int AS n FROM sync.source_state s JOIN sync.user_state u USING (user_pk) WHERE user_id = $1`,
      [user],
    );
    expect(after.rows[0].n).toBe(sources.rows[0].n);
  });

  it('answers 500 snapshot_chunk_failed / snapshot_session_delete_failed on unexpected database errors', async () => {
    const user = 'snap-broken';
    await commitUsers(t, user, 1);
    const id = (await create(user)).json.snapshot_id;
    await q(t, `ALTER TABLE sync.snapshot_session_blocks RENAME TO snapshot_session_blocks_moved`);
    try {
      const res = await chunk(user, id);
      expect(res.status).toBe(500);
      expect(res.json.error).toBe('snapshot_chunk_failed');
    } finally {
      await q(t, `ALTER TABLE sync.snapshot_session_blocks_moved RENAME TO snapshot_session_blocks`);
    }
    await q(t, `ALTER TABLE sync.snapshot_sessions RENAME TO snapshot_sessions_moved`);
    try {
      const res = await as(user)({ method: 'DELETE', path: `/sync/snapshot-sessions/${id}` });
      expect(res.status).toBe(500);
      expect(res.json.error).toBe('snapshot_session_delete_failed');
    } finally {
      await q(t, `ALTER TABLE sync.snapshot_sessions_moved RENAME TO snapshot_sessions`);
    }
    expect((await as(user)({ method: 'DELETE', path: `/sync/snapshot-sessions/${id}` })).status).toBe(204);
  });
});

describe('snapshot session caps (G8)', () => {
  let t: OversyncTestApp;

  afterEach(async () => t.close());

  const create = (user: string) =>
    syncClient(t.baseUrl, user, 'reader')<Reply>({ method: 'POST', path: '/sync/snapshot-sessions' });
  const sessionCount = async () =>
    (await q(t, `SELECT count(*)::int AS n FROM sync.snapshot_session_blocks`)).rows[0].n +
    (await q(t, `SELECT count(*)::int AS n FROM sync.snapshot_sessions`)).rows[0].n;

  it('rejects a row count over the cap with 500 and persists nothing, and allows the cap itself', async () => {
    t = await createOversyncTestApp({ listen: true, options: { limits: { maxRowsPerSnapshotSession: 2 } } });
    await commitUsers(t, 'cap-rows', 2);
    expect((await create('cap-rows')).json.row_count).toBe(2);
    await commitUsers(t, 'cap-rows', 1);
    const before = await sessionCount();
    const res = await create('cap-rows');
    expect(res.status).toBe(500);
    expect(res.json).toMatchObject({ error: 'snapshot_session_create_failed' });
    expect(res.json.message).toContain('snapshot session row_count 3 exceeds limit 2');
    expect(await sessionCount()).toBe(before);
  });

  it('rejects a byte count over the cap with 500 and rolls back; advertises both caps', async () => {
    t = await createOversyncTestApp({
      listen: true,
      options: { limits: { maxBytesPerSnapshotSession: 10 } },
    });
    await commitUsers(t, 'cap-bytes', 1);
    const res = await create('cap-bytes');
    expect(res.status).toBe(500);
    expect(res.json.message).toMatch(/^snapshot session byte_count \d+ exceeds limit 10/);
    expect(await sessionCount()).toBe(0);
    const caps = await syncClient(t.baseUrl, 'cap-bytes', 'reader')({ path: '/sync/capabilities' });
    expect((caps.json.bundle_limits as Record<string, number>).max_bytes_per_snapshot_session).toBe(10);
  });
});
