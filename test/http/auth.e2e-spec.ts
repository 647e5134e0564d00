import { createOversyncTestApp, type OversyncTestApp } from '../support/oversync-app.js';
import { commitUsers } from '../support/read-builders.js';
import { syncCall, type SyncCall } from '../support/sync-http.js';

const SNAPSHOT_ID = '00000000-0000-4000-8000-000000000000';
const ROUTES: Array<Pick<SyncCall, 'method' | 'path'>> = [
  { method: 'GET', path: '/sync/pull' },
  { method: 'GET', path: '/sync/watch' },
  { method: 'GET', path: '/sync/capabilities' },
  { method: 'POST', path: '/sync/snapshot-sessions' },
  { method: 'GET', path: `/sync/snapshot-sessions/${SNAPSHOT_ID}` },
  { method: 'DELETE', path: `/sync/snapshot-sessions/${SNAPSHOT_ID}` },
];

describe('actor contract of the read routes (B1, B2)', () => {
  let t: OversyncTestApp;

  beforeAll(async () => {
    t = await createOversyncTestApp({ listen: true, options: { limits: { maxRequestBodyBytes: 64 } } });
    await commitUsers(t, 'auth-user', 1);
  });
  afterAll(async () => t.close());

  it.each(ROUTES)('$method $path without a user is 401 authentication_failed', async (route) => {
    const res = await syncCall(t.baseUrl, { ...route, source: 'dev' });
    expect(res.status).toBe(401);
    expect(res.json).toEqual({
      error: 'authentication_failed',
      message: 'authenticated user_id not found in request context',
    });
  });

  it.each(ROUTES)(
    '$method $path without Oversync-Source-ID (absent or blank) is 400 invalid_request',
    async (route) => {
      for (const headers of [{}, { 'oversync-source-id': '   ' }] as Record<string, string>[]) {
        const res = await syncCall(t.baseUrl, { ...route, user: 'auth-user', headers });
        expect(res.status).toBe(400);
        expect(res.json).toEqual({
          error: 'invalid_request',
          message: 'Oversync-Source-ID header is required',
        });
      }
    },
  );

  it('trims the source header and the user id', async () => {
    const res = await syncCall(t.baseUrl, { path: '/sync/pull', user: ' auth-user ', source: ' dev ' });
    expect(res.status).toBe(200);
    expect(res.json.stable_bundle_seq).toBe(1);
  });

  it('answers 413 request_too_large for a body over limits.maxRequestBodyBytes, after auth', async () => {
    const big = {
      source_replacement: {
        previous_source_id: 'dev',
        new_source_id: 'x'.repeat(100),
        reason: 'history_pruned',
      },
    };
    const res = await syncCall(t.baseUrl, {
      method: 'POST',
      path: '/sync/snapshot-sessions',
      user: 'auth-user',
      source: 'dev',
      body: big,
    });
    expect(res.status).toBe(413);
    expect(res.json.error).toBe('request_too_large');
    const anonymous = await syncCall(t.baseUrl, {
      method: 'POST',
      path: '/sync/snapshot-sessions',
      source: 'dev',
      body: big,
    });
    expect(anonymous.status).toBe(401);
    const small = await syncCall(t.baseUrl, {
      method: 'POST',
      path: '/sync/snapshot-sessions',
      user: 'auth-user',
      source: 'dev',
      body: {},
    });
    expect(small.status).toBe(200);
  });
});
