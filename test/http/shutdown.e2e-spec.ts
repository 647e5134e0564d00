import pg from 'pg';
import { createOversyncTestApp, type OversyncTestApp } from '../support/oversync-app.js';
import { commitUsers, openWatch, waitFor } from '../support/read-builders.js';
import { syncCall } from '../support/sync-http.js';

describe('graceful shutdown (A17, hard part 20)', () => {
  let t: OversyncTestApp;
  let locker: pg.Client;

  beforeAll(async () => {
    t = await createOversyncTestApp({ listen: true, options: { watch: { heartbeatIntervalSeconds: 0.2 } } });
    await commitUsers(t, 'drain-user', 2);
    locker = new pg.Client({ connectionString: t.db.url });
    await locker.connect();
  });
  afterAll(async () => {
    await locker.end().catch(() => undefined);
    await t.db.drop();
  });

  it('refuses new sync work with 503 while in-flight work drains, then closes', async () => {
    const status = () => syncCall(t.baseUrl, { path: '/syncx/status' });
    const watch = await openWatch(t.baseUrl, {
      user: 'drain-user',
      source: 'w',
      query: '?after_bundle_seq=1',
    });
    expect(watch.status).toBe(200);
    await watch.waitForText(': heartbeat');

    // Hold the scope lock so a rotated snapshot create stays in flight.
    await locker.query(`SELECT pg_advisory_lock(hashtextextended('drain-user', 0))`);
    const inflight = syncCall(t.baseUrl, {
      method: 'POST',
      path: '/sync/snapshot-sessions',
      user: 'drain-user',
      source: 'old',
      body: {
        source_replacement: { previous_source_id: 'old', new_source_id: 'new', reason: 'history_pruned' },
      },
    });
    await waitFor(
      async () => (await status()).json.inflight_operations === 1,
      3000,
      'one in-flight operation',
    );

    const closing = t.app.close();
    await waitFor(async () => (await status()).json.lifecycle === 'shutting_down', 3000, 'shutting_down');
    await waitFor(() => watch.ended, 2000, 'the watch stream to end');

    const refused = await syncCall(t.baseUrl, { path: '/sync/pull', user: 'drain-user', source: 'r' });
    expect(refused.status).toBe(503);
    expect(refused.json).toEqual({ error: 'service_unavailable', message: 'Sync service is shutting down' });
    const refusedWatch = await openWatch(t.baseUrl, { user: 'drain-user', source: 'w' });
    expect(refusedWatch.status).toBe(503);
    // Every sync route refuses well-formed requests (each handler checks after parsing).
    const id = '00000000-0000-4000-8000-000000000001';
    const routes: Array<{ method?: 'GET' | 'POST' | 'DELETE'; path: string; body?: unknown }> = [
      { method: 'POST', path: '/sync/connect', body: { has_local_pending_rows: false } },
      { method: 'POST', path: '/sync/push-sessions', body: { source_bundle_id: 1, planned_row_count: 1 } },
      { method: 'POST', path: `/sync/push-sessions/${id}/chunks`, body: { start_row_ordinal: 0, rows: [] } },
      { method: 'POST', path: `/sync/push-sessions/${id}/commit` },
      { method: 'DELETE', path: `/sync/push-sessions/${id}` },
      { path: '/sync/committed-bundles/1/rows' },
      { method: 'POST', path: '/sync/snapshot-sessions' },
      { path: `/sync/snapshot-sessions/${id}` },
      { path: '/sync/snapshot-sessions/' },
      { method: 'DELETE', path: `/sync/snapshot-sessions/${id}` },
    ];
    for (const route of routes) {
      const reply = await syncCall(t.baseUrl, { ...route, user: 'drain-user', source: 'r' });
      expect({ route: route.path, status: reply.status, error: reply.json.error }).toEqual({
        route: route.path,
        status: 503,
        error: 'service_unavailable',
      });
    }
    // Capabilities keep answering while draining (go-oversync does not gate them).
    const caps = await syncCall(t.baseUrl, { path: '/sync/capabilities', user: 'drain-user', source: 'r' });
    expect(caps.status).toBe(200);
    const health = await syncCall(t.baseUrl, { path: '/syncx/health' });
    expect(health.status).toBe(503);
    expect(health.json).toMatchObject({
      status: 'unhealthy',
      lifecycle: 'shutting_down',
      accepting_operations: false,
      inflight_operations: 1,
    });
    const snapshot = await status();
    expect(snapshot.status).toBe(200);
    expect(snapshot.json.status).toBe('unhealthy');

    await locker.query(`SELECT pg_advisory_unlock(hashtextextended('drain-user', 0))`);
    const finished = await inflight;
    expect(finished.status).toBe(200);
    expect(finished.json).toMatchObject({ snapshot_bundle_seq: 1, row_count: 2 });
    await closing;
    await expect(fetch(`${t.baseUrl}/syncx/health`)).rejects.toThrow();
    const listeners = await locker.query(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'oversync_watch'`,
    );
    expect(listeners.rows[0].n).toBe(0);
  });
});
