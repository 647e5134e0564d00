/**
 * `POST /sync/connect` over real HTTP: the decision table of wire-protocol §5, lazy lease expiry,
 * body decoding and the actor/lifecycle error contract (scenarios B1–B4, B10, C1–C6).
 */
import pg from 'pg';
import { createOversyncTestApp, type OversyncTestApp } from '../support/oversync-app.js';
import { connect, newUser, scopeState, setScopeLease } from '../support/push-builders.js';
import { syncCall, syncClient } from '../support/sync-http.js';

const RFC3339_NANO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d*[1-9])?Z$/;
const LEASE_TTL = 120;

describe('POST /sync/connect', () => {
  let t: OversyncTestApp;
  const client = (user: string, source: string) => syncClient(t.baseUrl, user, source);
  const setLease = (user: string, expr: string) => setScopeLease(t.db.url, user, expr);

  beforeAll(async () => {
    t = await createOversyncTestApp({
      listen: true,
      options: { limits: { initializationLeaseTtlSeconds: LEASE_TTL } },
    });
  });
  afterAll(async () => {
    await t.close();
  });

  it('initializes an empty scope for a caller without local rows (C1)', async () => {
    const user = newUser();
    const reply = await connect(client(user, 'device-a'), false);
    expect(reply.status).toBe(200);
    expect(reply.headers.get('content-type')).toBe('application/json');
    expect(reply.text).toBe('{"resolution":"initialize_empty"}\n');
    expect(await scopeState(t.db.url, user)).toMatchObject({
      state_code: 2,
      initialized_by_source_id: 'device-a',
    });
  });

  it('gives the first caller with local rows a lease; the same source keeps its id and gets a later expiry (C2)', async () => {
    const user = newUser();
    const before = Date.now();
    const first = await connect(client(user, 'device-a'), true);
    expect(first.status).toBe(200);
    expect(Object.keys(first.json)).toEqual(['resolution', 'initialization_id', 'lease_expires_at']);
    expect(first.json.resolution).toBe('initialize_local');
    expect(first.json.lease_expires_at).toMatch(RFC3339_NANO_UTC);
    const expiry = Date.parse(first.json.lease_expires_at as string);
    expect(expiry).toBeGreaterThanOrEqual(before + LEASE_TTL * 1000 - 1000);
    expect(expiry).toBeLessThanOrEqual(Date.now() + LEASE_TTL * 1000 + 1000);

    await new Promise((r) => setTimeout(r, 25));
    const second = await connect(client(user, 'device-a'), true);
    expect(second.json.resolution).toBe('initialize_local');
    expect(second.json.initialization_id).toBe(first.json.initialization_id);
    expect(Date.parse(second.json.lease_expires_at as string)).toBeGreaterThan(expiry);
    expect(await scopeState(t.db.url, user)).toMatchObject({
      state_code: 1,
      initializer_source_id: 'device-a',
      initialization_id: first.json.initialization_id,
    });
  });

  it('lets the lease owner give up seeding: initialize_empty without an id (C3)', async () => {
    const user = newUser();
    await connect(client(user, 'device-a'), true);
    const reply = await connect(client(user, 'device-a'), false);
    expect(reply.text).toBe('{"resolution":"initialize_empty"}\n');
    expect(await scopeState(t.db.url, user)).toMatchObject({
      state_code: 2,
      initialized_by_source_id: 'device-a',
      initialization_id: null,
      lease_expires_at: null,
    });
  });

  it('answers remote_authoritative to everyone once the scope is initialized (C4)', async () => {
    const user = newUser();
    await connect(client(user, 'device-a'), false);
    const reply = await connect(client(user, 'device-b'), true);
    expect(reply.text).toBe('{"resolution":"remote_authoritative"}\n');
    expect(await scopeState(t.db.url, user)).toMatchObject({
      state_code: 2,
      initialized_by_source_id: 'device-a',
    });
  });

  it('tells another source to retry later with whole seconds until the lease ends', async () => {
    const user = newUser();
    const owner = await connect(client(user, 'device-a'), true);
    const other = await connect(client(user, 'device-b'), true);
    expect(other.status).toBe(200);
    expect(Object.keys(other.json)).toEqual(['resolution', 'lease_expires_at', 'retry_after_seconds']);
    expect(other.json).toMatchObject({
      resolution: 'retry_later',
      lease_expires_at: owner.json.lease_expires_at,
    });
    expect([LEASE_TTL - 1, LEASE_TTL]).toContain(other.json.retry_after_seconds);

    await setLease(user, "clock_timestamp() + interval '5.6 seconds'");
    const truncated = await connect(client(user, 'device-b'), false);
    expect(truncated.json).toMatchObject({ resolution: 'retry_later', retry_after_seconds: 5 });

    await setLease(user, "clock_timestamp() + interval '300 milliseconds'");
    const minimum = await connect(client(user, 'device-b'), true);
    expect(minimum.json).toMatchObject({ resolution: 'retry_later', retry_after_seconds: 1 });
    expect(await scopeState(t.db.url, user)).toMatchObject({
      state_code: 1,
      initializer_source_id: 'device-a',
    });
  });

  it('expires a stale lease lazily and commits the expiry: another source initializes with a new id (C6)', async () => {
    const user = newUser();
    const first = await connect(client(user, 'device-a'), true);
    await setLease(user, "clock_timestamp() - interval '1 second'");
    const second = await connect(client(user, 'device-b'), true);
    expect(second.json.resolution).toBe('initialize_local');
    expect(second.json.initialization_id).not.toBe(first.json.initialization_id);
    expect(await scopeState(t.db.url, user)).toMatchObject({
      state_code: 1,
      initializer_source_id: 'device-b',
      initialization_id: second.json.initialization_id,
    });

    // An expired lease followed by an empty connect from a third source initializes empty.
    await setLease(user, "clock_timestamp() - interval '1 second'");
    const third = await connect(client(user, 'device-c'), false);
    expect(third.json).toEqual({ resolution: 'initialize_empty' });
    expect(await scopeState(t.db.url, user)).toMatchObject({
      state_code: 2,
      initialized_by_source_id: 'device-c',
    });
  });

  it('uses only the header as the source; body source_id is ignored and the header is trimmed (B2, B3)', async () => {
    const user = newUser();
    const reply = await syncCall(t.baseUrl, {
      path: '/sync/connect',
      user,
      source: '  device-a  ',
      body: { source_id: 'wrong-source', has_local_pending_rows: true },
    });
    expect(reply.json.resolution).toBe('initialize_local');
    expect(await scopeState(t.db.url, user)).toMatchObject({ initializer_source_id: 'device-a' });
  });

  it.each([
    ['truncated JSON', '{"source_id":'],
    ['an empty body', ''],
    ['a string flag', '{"has_local_pending_rows":"yes"}'],
    ['a numeric flag', '{"has_local_pending_rows":1}'],
    ['an array body', '[]'],
    ['a scalar body', '42'],
  ])('rejects %s with 400 invalid_request (B4)', async (_name, body) => {
    const user = newUser();
    const reply = await syncCall(t.baseUrl, {
      method: 'POST',
      path: '/sync/connect',
      user,
      source: 'device-a',
      body,
    });
    expect(reply.status).toBe(400);
    expect(reply.text).toBe('{"error":"invalid_request","message":"Failed to parse connect request"}\n');
    expect(await scopeState(t.db.url, user)).toBeUndefined();
  });

  it.each([
    ['null', 'null'],
    ['an object without the flag', '{"other":1}'],
    ['a null flag', '{"has_local_pending_rows":null}'],
  ])('decodes %s as has_local_pending_rows=false', async (_name, body) => {
    const user = newUser();
    const reply = await syncCall(t.baseUrl, {
      method: 'POST',
      path: '/sync/connect',
      user,
      source: 'device-a',
      body,
    });
    expect(reply.json).toEqual({ resolution: 'initialize_empty' });
  });

  it('requires an authenticated user, then the source header (B1, B2)', async () => {
    const anonymous = await syncCall(t.baseUrl, { path: '/sync/connect', source: 'device-a', body: {} });
    expect(anonymous.status).toBe(401);
    expect(anonymous.json).toEqual({
      error: 'authentication_failed',
      message: 'authenticated user_id not found in request context',
    });
    for (const source of [undefined, '   ']) {
      const reply = await syncCall(t.baseUrl, { path: '/sync/connect', user: newUser(), source, body: {} });
      expect(reply.status).toBe(400);
      expect(reply.json).toEqual({
        error: 'invalid_request',
        message: 'Oversync-Source-ID header is required',
      });
    }
  });

  it('answers other methods with 405 method_not_allowed (B10)', async () => {
    const reply = await client(newUser(), 'device-a')({ method: 'GET', path: '/sync/connect' });
    expect(reply.status).toBe(405);
    expect(reply.json).toEqual({ error: 'method_not_allowed', message: 'Only POST method is allowed' });
  });
});

describe('POST /sync/connect during shutdown', () => {
  it('answers 503 service_unavailable while in-flight operations drain', async () => {
    const t = await createOversyncTestApp({ listen: true });
    const user = newUser();
    // Hold the scope's advisory lock so one connect stays in flight while the app shuts down.
    const blocker = new pg.Client({ connectionString: t.db.url });
    await blocker.connect();
    await blocker.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [user]);
    const inflight = connect(syncClient(t.baseUrl, user, 'device-a'), false);
    await new Promise((r) => setTimeout(r, 200));
    const closing = t.app.close();
    await new Promise((r) => setTimeout(r, 100));
    const refused = await connect(syncClient(t.baseUrl, newUser(), 'device-b'), false);
    expect(refused.status).toBe(503);
    expect(refused.json).toEqual({ error: 'service_unavailable', message: 'Sync service is shutting down' });
    await blocker.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [user]);
    expect((await inflight).json).toEqual({ resolution: 'initialize_empty' });
    await closing;
    await blocker.end();
    await t.db.drop();
  });
});
