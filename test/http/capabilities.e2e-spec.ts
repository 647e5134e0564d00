import { createOversyncTestApp, type OversyncTestApp } from '../support/oversync-app.js';
import { syncCall } from '../support/sync-http.js';

const FEATURES = {
  accepted_push_replay_visibility: true,
  bundle_change_watch: true,
  bundle_pull: true,
  bundle_push: true,
  capabilities_endpoint: true,
  committed_bundle_row_fetch: true,
  committed_bundle_visibility: true,
  connect_lifecycle: true,
  graceful_shutdown: true,
  history_pruned_errors: true,
  history_pruned_visibility: true,
  push_session_chunking: true,
  registered_write_rejection_enforced: true,
  retained_floor_visibility: true,
  retained_window_visibility: true,
  scope_initialization_leases: true,
  server_checkpoint_tracking: false,
  snapshot_chunking: true,
  status_endpoint: true,
  structured_sync_keys: true,
};

const TABLES = [
  'business.categories',
  'business.docs',
  'business.files',
  'business.posts',
  'business.typed_rows',
  'business.users',
];

describe('GET /sync/capabilities', () => {
  let t: OversyncTestApp;

  afterEach(async () => t?.close());

  it('matches the v1 surface byte for byte with default limits (A15)', async () => {
    t = await createOversyncTestApp({ listen: true });
    const res = await syncCall(t.baseUrl, { path: '/sync/capabilities', user: 'cap-user', source: 'dev' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    const expected = {
      protocol_version: 'v1',
      schema_version: 1,
      app_name: 'oversync-test',
      registered_tables: TABLES,
      registered_table_specs: TABLES.map((name) => {
        const [schema, table] = name.split('.');
        return { schema, table, sync_key_columns: [table === 'docs' ? 'doc_id' : 'id'] };
      }),
      features: FEATURES,
      bundle_limits: {
        max_bundles_per_pull: 5000,
        default_rows_per_push_chunk: 1000,
        max_rows_per_push_chunk: 5000,
        push_session_ttl_seconds: 900,
        default_rows_per_committed_bundle_chunk: 1000,
        max_rows_per_committed_bundle_chunk: 5000,
        default_rows_per_snapshot_chunk: 1000,
        max_rows_per_snapshot_chunk: 5000,
        snapshot_session_ttl_seconds: 900,
        initialization_lease_ttl_seconds: 900,
      },
    };
    expect(res.text).toBe(`${JSON.stringify(expected)}\n`);
    expect(Object.keys(res.json.features as object)).toHaveLength(20);
    expect(res.text).not.toContain('push_sessions"');
    expect(res.text).not.toContain('sync_key_type');
    expect(res.text).not.toContain('_sync_scope_id');
  });

  it('echoes configured limits verbatim and advertises watch off when disabled (A15 variant, P1)', async () => {
    t = await createOversyncTestApp({
      listen: true,
      options: {
        appName: 'cap-variant',
        maxSupportedSchemaVersion: 3,
        watch: { enabled: false },
        limits: {
          maxRowsPerBundle: 250,
          maxBytesPerBundle: 4096,
          maxRowsPerPushChunk: 1321,
          pushSessionTtlSeconds: 17,
          defaultRowsPerCommittedBundleChunk: 45,
          maxRowsPerCommittedBundleChunk: 67,
          maxRowsPerSnapshotSession: 890,
          maxBytesPerSnapshotSession: 98765,
        },
      },
    });
    const res = await syncCall(t.baseUrl, { path: '/sync/capabilities', user: 'cap-user', source: 'dev' });
    expect(res.json).toMatchObject({ schema_version: 3, app_name: 'cap-variant' });
    expect((res.json.features as Record<string, boolean>).bundle_change_watch).toBe(false);
    expect(res.json.bundle_limits).toEqual({
      max_rows_per_bundle: 250,
      max_bytes_per_bundle: 4096,
      max_bundles_per_pull: 5000,
      default_rows_per_push_chunk: 1000,
      max_rows_per_push_chunk: 1321,
      push_session_ttl_seconds: 17,
      default_rows_per_committed_bundle_chunk: 45,
      max_rows_per_committed_bundle_chunk: 67,
      default_rows_per_snapshot_chunk: 1000,
      max_rows_per_snapshot_chunk: 5000,
      snapshot_session_ttl_seconds: 900,
      max_rows_per_snapshot_session: 890,
      max_bytes_per_snapshot_session: 98765,
      initialization_lease_ttl_seconds: 900,
    });
    expect(Object.keys(res.json.bundle_limits as object)[0]).toBe('max_rows_per_bundle');
    const status = await syncCall(t.baseUrl, { path: '/syncx/status' });
    expect((status.json.features as Record<string, boolean>).bundle_change_watch).toBe(false);
  });

  it('applies the per-actor watch policy (A16); status keeps the global map', async () => {
    t = await createOversyncTestApp({
      listen: true,
      options: { watch: { policy: (actor) => actor.sourceId !== 'blocked-device' } },
    });
    const allowed = await syncCall(t.baseUrl, {
      path: '/sync/capabilities',
      user: 'u',
      source: 'allowed-device',
    });
    const blocked = await syncCall(t.baseUrl, {
      path: '/sync/capabilities',
      user: 'u',
      source: 'blocked-device',
    });
    expect((allowed.json.features as Record<string, boolean>).bundle_change_watch).toBe(true);
    expect((blocked.json.features as Record<string, boolean>).bundle_change_watch).toBe(false);
    const status = await syncCall(t.baseUrl, { path: '/syncx/status' });
    expect((status.json.features as Record<string, boolean>).bundle_change_watch).toBe(true);
  });

  it('needs the actor like every /sync route (401, then 400 for the header)', async () => {
    t = await createOversyncTestApp({ listen: true });
    const anonymous = await syncCall(t.baseUrl, { path: '/sync/capabilities', source: 'dev' });
    expect(anonymous.status).toBe(401);
    expect(anonymous.json).toEqual({
      error: 'authentication_failed',
      message: 'authenticated user_id not found in request context',
    });
    const noHeader = await syncCall(t.baseUrl, { path: '/sync/capabilities', user: 'u' });
    expect(noHeader.status).toBe(400);
    expect(noHeader.json).toEqual({
      error: 'invalid_request',
      message: 'Oversync-Source-ID header is required',
    });
  });
});
