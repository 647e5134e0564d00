/**
 * A wrong HTTP method on any `/sync/*` route answers `405 method_not_allowed` in the JSON error
 * envelope (after authentication), naming the allowed methods; nothing is written.
 */
import { createOversyncTestApp, type OversyncTestApp } from '../support/oversync-app.js';
import { syncCall } from '../support/sync-http.js';

const ID = '00000000-0000-4000-8000-000000000001';

describe('wrong HTTP methods on the sync routes', () => {
  let t: OversyncTestApp;

  beforeAll(async () => {
    t = await createOversyncTestApp({ listen: true });
  });
  afterAll(async () => {
    await t.close();
  });

  it.each([
    ['PUT', '/sync/connect', 'Only POST method is allowed'],
    ['GET', '/sync/push-sessions', 'Only POST method is allowed'],
    ['GET', `/sync/push-sessions/${ID}/chunks`, 'Only POST method is allowed'],
    ['GET', `/sync/push-sessions/${ID}/commit`, 'Only POST method is allowed'],
    ['POST', `/sync/push-sessions/${ID}`, 'Only DELETE method is allowed'],
    ['POST', '/sync/committed-bundles/1/rows', 'Only GET method is allowed'],
    ['POST', '/sync/pull', 'Only GET method is allowed'],
    ['DELETE', '/sync/watch', 'Only GET method is allowed'],
    ['POST', '/sync/capabilities', 'Only GET method is allowed'],
    ['PUT', '/sync/snapshot-sessions', 'Only POST method is allowed'],
    ['POST', `/sync/snapshot-sessions/${ID}`, 'Only GET and DELETE methods are allowed'],
  ])('%s %s → 405', async (method, path, message) => {
    const reply = await fetch(`${t.baseUrl}${path}`, {
      method,
      headers: { authorization: 'Bearer method-user', 'oversync-source-id': 'device' },
    });
    expect(reply.status).toBe(405);
    expect(await reply.json()).toEqual({ error: 'method_not_allowed', message });
  });

  it('still authenticates first (401 without a user)', async () => {
    const reply = await syncCall(t.baseUrl, { method: 'POST', path: '/sync/pull', source: 'device' });
    expect(reply.status).toBe(401);
  });
});
