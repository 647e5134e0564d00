import type { StatusResponse } from '@oversync/protocol';
import { createOversyncTestApp, type OversyncTestApp } from '../support/oversync-app.js';
import { commitBundles, q } from '../support/read-builders.js';
import { syncCall } from '../support/sync-http.js';

const STATUS_KEYS = [
  'status',
  'version',
  'app_name',
  'lifecycle',
  'accepting_operations',
  'inflight_operations',
  'registered_tables',
  'features',
  'user_state_retention_floor_ahead_count',
  'latest_bundle_seq_max',
  'retained_bundle_floor_min',
  'retained_bundle_floor_max',
  'retained_bundle_window_min',
  'retained_bundle_window_max',
  'history_pruned_error_count',
  'accepted_push_replay_count',
  'rejected_registered_write_count',
  'committed_bundle_count',
  'committed_bundle_bytes',
];

describe('GET /syncx/status and /syncx/health', () => {
  let t: OversyncTestApp;

  beforeAll(async () => {
    t = await createOversyncTestApp({ listen: true });
  });
  afterAll(async () => t.close());

  const get = (path: string) => syncCall<StatusResponse & { error?: string }>(t.baseUrl, { path });

  it('answers without auth or source header, in go-oversync field order (A17)', async () => {
    const status = await get('/syncx/status');
    expect(status.status).toBe(200);
    expect(status.headers.get('content-type')).toBe('application/json');
    expect(Object.keys(status.json)).toEqual(STATUS_KEYS);
    expect(status.json).toMatchObject({
      status: 'healthy',
      version: 'v1',
      app_name: 'oversync-test',
      lifecycle: 'running',
      accepting_operations: true,
      inflight_operations: 0,
      registered_tables: [
        'business.categories',
        'business.docs',
        'business.files',
        'business.posts',
        'business.typed_rows',
        'business.users',
      ],
      user_state_retention_floor_ahead_count: 0,
      accepted_push_replay_count: 0,
    });
    expect(Object.keys(status.json.features)).toHaveLength(20);
    expect(status.json.features).toMatchObject({
      connect_lifecycle: true,
      server_checkpoint_tracking: false,
      bundle_change_watch: true,
    });
    const health = await get('/syncx/health');
    expect(health.status).toBe(200);
    expect(health.json).toEqual(status.json);
    // Credentials are simply ignored.
    expect((await syncCall(t.baseUrl, { path: '/syncx/health', user: 'u', source: 's' })).status).toBe(200);
  });

  it('counts retained bundles and their bytes from the database', async () => {
    const bundles = await commitBundles(t, 'status-user', 3);
    const status = (await get('/syncx/status')).json;
    const db = await q(
      t,
      `SELECT count(*)::int AS n, coalesce(sum(byte_count), 0)::int AS bytes FROM sync.bundle_log`,
    );
    expect(status.committed_bundle_count).toBe(db.rows[0].n);
    expect(status.committed_bundle_bytes).toBe(db.rows[0].bytes);
    expect(status.committed_bundle_bytes).toBe(bundles.reduce((sum, b) => sum + b.byte_count, 0));
    expect(status.latest_bundle_seq_max).toBeGreaterThanOrEqual(3);
  });

  it('reports unhealthy (503 on health, 200 on status) when a retention floor is ahead of its head', async () => {
    await commitBundles(t, 'status-tamper', 1);
    await q(t, `ALTER TABLE sync.user_state DROP CONSTRAINT user_state_floor_chk`);
    try {
      await q(t, `UPDATE sync.user_state SET retained_bundle_floor = 5 WHERE user_id = 'status-tamper'`);
      const health = await get('/syncx/health');
      expect(health.status).toBe(503);
      expect(health.json).toMatchObject({
        status: 'unhealthy',
        lifecycle: 'running',
        user_state_retention_floor_ahead_count: 1,
      });
      const status = await get('/syncx/status');
      expect(status.status).toBe(200);
      expect(status.json.status).toBe('unhealthy');
    } finally {
      await q(t, `UPDATE sync.user_state SET retained_bundle_floor = 0 WHERE user_id = 'status-tamper'`);
      await q(
        t,
        `ALTER TABLE sync.user_state ADD CONSTRAINT user_state_floor_chk
                  CHECK (retained_bundle_floor >= 0 AND retained_bundle_floor <= next_bundle_seq - 1)`,
      );
    }
    expect((await get('/syncx/health')).status).toBe(200);
  });

  it('answers 500 status_failed / health_failed when the database cannot be read', async () => {
    await q(t, `ALTER TABLE sync.bundle_log RENAME TO bundle_log_moved`);
    try {
      const status = await get('/syncx/status');
      expect(status.status).toBe(500);
      expect(status.json.error).toBe('status_failed');
      const health = await get('/syncx/health');
      expect(health.status).toBe(500);
      expect(health.json.error).toBe('health_failed');
      expect(health.text).not.toContain('bundle_log');
    } finally {
      await q(t, `ALTER TABLE sync.bundle_log_moved RENAME TO bundle_log`);
    }
  });
});
