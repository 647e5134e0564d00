/**
 * Retention, snapshot sessions and the status counters at their edges: what `/syncx/status`
 * reports while requests are in flight, and pruning racing the read paths.
 */
import type { StatusResponse } from '@oversync/protocol';
import pg from 'pg';
import { createOversyncTestApp, type OversyncTestApp } from '../support/oversync-app.js';
import { commitUsers, waitFor } from '../support/read-builders.js';
import { syncCall, syncClient } from '../support/sync-http.js';

describe('status while requests are in flight', () => {
  let t: OversyncTestApp;
  let locker: pg.Client;

  beforeAll(async () => {
    t = await createOversyncTestApp({ listen: true });
    locker = new pg.Client({ connectionString: t.db.url });
    await locker.connect();
  });
  afterAll(async () => {
    await locker?.end();
    await t?.close();
  });

  const status = async () => (await syncCall<StatusResponse>(t.baseUrl, { path: '/syncx/status' })).json;
  const waitingForLock = async () =>
    (
      await locker.query(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
      )
    ).rows[0].n as number;

  it.each([
    [
      'POST /sync/connect',
      { method: 'POST' as const, path: '/sync/connect', body: { has_local_pending_rows: false } },
    ],
    [
      'POST /sync/push-sessions',
      {
        method: 'POST' as const,
        path: '/sync/push-sessions',
        body: { source_bundle_id: 1, planned_row_count: 1 },
      },
    ],
  ])('counts one %s waiting for its scope as one in-flight operation', async (_route, call) => {
    const user = `inflight-${_route.length}-${call.path.length}`;
    await commitUsers(t, user, 1);
    await locker.query(`SELECT pg_advisory_lock(hashtextextended($1, 0))`, [user]);
    let reply: Promise<unknown> | undefined;
    try {
      reply = syncClient(t.baseUrl, user, 'device')(call);
      await waitFor(async () => (await waitingForLock()) === 1, 3000, 'the request to wait for the scope');
      expect((await status()).inflight_operations).toBe(1);
    } finally {
      await locker.query(`SELECT pg_advisory_unlock(hashtextextended($1, 0))`, [user]);
    }
    await reply;
    expect((await status()).inflight_operations).toBe(0);
  });
});
