import type { PullResponse } from '@oversync/protocol';
import { createOversyncTestApp, type OversyncTestApp } from '../support/oversync-app.js';
import { commitBundles, historyPrunedCount, q, setFloor } from '../support/read-builders.js';
import { syncCall, syncClient } from '../support/sync-http.js';

describe('retained history floor on pull (retention window 2)', () => {
  let t: OversyncTestApp;

  beforeAll(async () => {
    t = await createOversyncTestApp({ listen: true, options: { retention: { retainedBundlesPerUser: 2 } } });
  });
  afterAll(async () => t.close());

  const pull = (user: string, query = '') =>
    syncClient(
      t.baseUrl,
      user,
      'reader',
    )<PullResponse & { error?: string; message?: string }>({ path: `/sync/pull${query}` });

  it('moves the floor with commits and keeps exactly the window (I1)', async () => {
    const user = 'ret-window';
    await commitBundles(t, user, 5);
    const state = await q(
      t,
      `SELECT next_bundle_seq::int AS next, retained_bundle_floor::int AS floor,
              (SELECT array_agg(bundle_seq::int ORDER BY bundle_seq) FROM sync.bundle_log l WHERE l.user_pk = u.user_pk) AS log,
              (SELECT count(*)::int FROM sync.bundle_rows r WHERE r.user_pk = u.user_pk) AS rows,
              (SELECT count(*)::int FROM sync.row_state s WHERE s.user_pk = u.user_pk AND NOT deleted) AS live
         FROM sync.user_state u WHERE user_id = $1`,
      [user],
    );
    expect(state.rows[0]).toEqual({ next: 6, floor: 3, log: [4, 5], rows: 2, live: 5 });
  });

  it('rejects a checkpoint equal to the floor and below it, naming both in the message (I3)', async () => {
    const user = 'ret-window';
    const before = await historyPrunedCount(t);
    for (const after of [3, 1]) {
      const res = await pull(user, `?after_bundle_seq=${after}`);
      expect(res.status).toBe(409);
      expect(res.json).toEqual({
        error: 'history_pruned',
        message: `requested checkpoint ${after} is older than retained history floor 3 for user ${user}`,
      });
    }
    expect(await historyPrunedCount(t)).toBe(before + 2);
  });

  it('serves the retained bundles above the floor from checkpoint 0 and floor+1 (I9)', async () => {
    const fromZero = await pull('ret-window', '?after_bundle_seq=0');
    expect(fromZero.status).toBe(200);
    expect(fromZero.json.stable_bundle_seq).toBe(5);
    expect(fromZero.json.bundles.map((b) => b.bundle_seq)).toEqual([4, 5]);
    const fromFour = await pull('ret-window', '?after_bundle_seq=4');
    expect(fromFour.json.bundles.map((b) => b.bundle_seq)).toEqual([5]);
  });

  it('rejects a target at or below the floor', async () => {
    const res = await pull('ret-window', '?after_bundle_seq=0&target_bundle_seq=3');
    expect(res.status).toBe(409);
    expect(res.json.message).toBe(
      'requested checkpoint 3 is older than retained history floor 3 for user ret-window',
    );
    const ok = await pull('ret-window', '?after_bundle_seq=4&target_bundle_seq=4');
    expect(ok.json).toEqual({ stable_bundle_seq: 4, bundles: [], has_more: false });
  });

  it('rejects even after=0 when the floor reached the latest bundle (I2)', async () => {
    const user = 'ret-head';
    await commitBundles(t, user, 1);
    await setFloor(t, user, 1);
    const res = await pull(user);
    expect(res.status).toBe(409);
    expect(res.json).toEqual({
      error: 'history_pruned',
      message: `requested checkpoint 1 is older than retained history floor 1 for user ${user}`,
    });
  });

  it('fails a frozen paging target once later commits pruned it', async () => {
    const user = 'ret-race';
    await commitBundles(t, user, 2);
    const page = await pull(user, '?after_bundle_seq=0&max_bundles=1');
    expect(page.json).toMatchObject({ stable_bundle_seq: 2, has_more: true });
    await commitBundles(t, user, 2); // floor -> 2
    const next = await pull(user, '?after_bundle_seq=1&max_bundles=1&target_bundle_seq=2');
    expect(next.status).toBe(409);
    expect(next.json.error).toBe('history_pruned');
  });

  it('reports retention and the history_pruned counter on /syncx/status (I4)', async () => {
    const user = 'ret-status';
    await q(
      t,
      `WITH u AS (INSERT INTO sync.user_state (user_id, next_bundle_seq, retained_bundle_floor) VALUES ($1, 1000001, 900000) RETURNING user_pk)
       INSERT INTO sync.scope_state (user_pk, state_code, initialized_at, initialized_by_source_id) SELECT user_pk, 2, now(), 'seed' FROM u`,
      [user],
    );
    const before = (await syncCall(t.baseUrl, { path: '/syncx/status' })).json;
    const res = await pull(user, '?after_bundle_seq=899999');
    expect(res.status).toBe(409);
    expect(res.json.message).toBe(
      `requested checkpoint 899999 is older than retained history floor 900000 for user ${user}`,
    );
    const after = (await syncCall(t.baseUrl, { path: '/syncx/status' })).json;
    expect(after).toMatchObject({
      latest_bundle_seq_max: 1000000,
      retained_bundle_floor_max: 900000,
      retained_bundle_window_max: 100000,
      history_pruned_error_count: (before.history_pruned_error_count as number) + 1,
    });
    expect(after.retained_bundle_floor_max as number).toBeGreaterThanOrEqual(
      after.retained_bundle_floor_min as number,
    );
    expect(after.retained_bundle_window_max as number).toBeGreaterThanOrEqual(
      after.retained_bundle_window_min as number,
    );
  });

  it('does not count successful pulls or other errors as history_pruned', async () => {
    const before = await historyPrunedCount(t);
    await pull('ret-window', '?after_bundle_seq=4');
    await pull('ret-window', '?after_bundle_seq=-1');
    await pull('ret-nobody');
    expect(await historyPrunedCount(t)).toBe(before);
  });
});
