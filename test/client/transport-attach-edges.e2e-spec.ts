/**
 * Edges of the client's transport, attach lifecycle and background sync against the real server:
 * what a refused attach leaves behind, capabilities a server cannot serve, the seed lease when
 * there is nothing to seed, the watch stream while the scope is still being seeded, and a server
 * restart under an open watch stream.
 */
import { isOversyncClientError, type FetchLike } from '@oversync/client';
import { BundleChangeHub } from '@oversync/nestjs';
import {
  closeDevice,
  failure,
  openDevice,
  type Device,
  type DeviceOptions,
} from '../support/client-devices.js';
import { FaultyFetch, routeOf } from '../support/client-faults.js';
import { userId, uuid } from '../support/client-schema.js';
import { startClientServer, type ClientServer } from '../support/client-server.js';
import { waitFor } from '../support/client-waiters.js';
import { createOversyncTestApp, type OversyncTestApp } from '../support/oversync-app.js';
import { createTestDatabase } from '../support/test-database.js';

describe('client transport and attach edges (real server)', () => {
  let server: ClientServer;
  const open: Device[] = [];

  const device = async (user: string, options: Partial<DeviceOptions> = {}) => {
    const d = await openDevice({ baseUrl: server.baseUrl, userId: user, ...options });
    open.push(d);
    return d;
  };
  const addUser = (d: Device, name: string) =>
    d.db.run('INSERT INTO users (id, name, email) VALUES (?, ?, ?)', [uuid(), name, `${name}@x`]);

  beforeAll(async () => {
    server = await startClientServer();
  });
  afterAll(async () => {
    for (const d of open) await closeDevice(d).catch(() => undefined);
    await server.close();
  });

  it('attach(other user) while attached fails with attach_binding_conflict and keeps the session connected', async () => {
    const user = userId('ta-conflict');
    const d = await device(user);
    const error = await failure(d.client.attach(userId('ta-other')));
    expect(error.code).toBe('attach_binding_conflict');
    addUser(d, 'Still Connected');
    await expect(d.client.pushPending()).resolves.toEqual({ outcome: 'committed' });
  });

  it('a capabilities answer that is not JSON means the server lacks the connect lifecycle', async () => {
    // A web app's fallback route answers every unknown path with its HTML page, status 200.
    const html: FetchLike = async (input, init) => {
      if (new URL(input).pathname === '/sync/capabilities')
        return new Response('<!doctype html><title>app</title>', { status: 200 });
      return fetch(input, init);
    };
    const d = await device(userId('ta-html'), { fetch: html, attach: false });
    const error = await failure(d.client.attach(d.userId));
    expect(error.code).toBe('attach_lifecycle_unsupported');
    expect(isOversyncClientError(error)).toBe(true);
  });

  it('background sync does not report scope_initializing while its own seed is not pushed yet', async () => {
    const user = userId('ta-seed');
    const errors: unknown[] = [];
    const faults = new FaultyFetch();
    const d = await device(user, {
      attach: false,
      fetch: faults.fetch,
      seed: (db) =>
        db.run('INSERT INTO users (id, name, email) VALUES (?, ?, ?)', [uuid(), 'Seed', 'seed@x']),
      onBackgroundError: (e) => errors.push(e),
      background: { watch: 'auto', minBackoffMs: 20, pollIntervalMs: 50, localChangeDebounceMs: 5 },
    });
    await expect(d.client.attach(user)).resolves.toMatchObject({ outcome: 'seeded_from_local' });
    d.client.setUploadsPaused(true);
    d.client.start();
    await new Promise((r) => setTimeout(r, 300));
    d.client.setUploadsPaused(false);
    await waitFor(() => d.client.pendingSyncStatus().pendingRowCount === 0, { what: 'the seed push' });
    await waitFor(() => faults.calls.some((c) => routeOf(c) === 'watch'), { what: 'the watch stream' });
    await d.client.stop();
    expect(errors).toEqual([]);
  });

  it('watch resumes on the restarted server and brings the next bundle without polling', async () => {
    const db = await createTestDatabase();
    let app: OversyncTestApp = await createOversyncTestApp({ database: db, listen: true });
    let target = app.baseUrl;
    const errors: unknown[] = [];
    const redirect: FetchLike = (input, init) => {
      const url = new URL(input);
      return fetch(target + url.pathname + url.search, init);
    };
    const user = userId('ta-restart');
    const options = { fetch: redirect, baseUrl: app.baseUrl };
    const a = await device(user, options);
    const b = await device(user, {
      ...options,
      onBackgroundError: (e) => errors.push(e),
      background: {
        watch: 'auto',
        pollIntervalMs: 600_000,
        watchFallbackIntervalMs: 600_000,
        minBackoffMs: 20,
        maxBackoffMs: 200,
        localChangeDebounceMs: 5,
      },
    });
    try {
      b.client.start();
      await waitFor(() => app.get(BundleChangeHub).subscriberCount() === 1, { what: 'the first stream' });
      await app.close();
      app = await createOversyncTestApp({ database: db, listen: true, skipSchema: true });
      target = app.baseUrl;
      await waitFor(() => app.get(BundleChangeHub).subscriberCount() === 1, { what: 'the new stream' });
      addUser(a, 'After Restart');
      await a.client.pushPending();
      await waitFor(() => b.db.exec("SELECT 1 FROM users WHERE name = 'After Restart'").length === 1, {
        timeoutMs: 3000,
        what: 'the bundle through the new watch stream',
      });
    } finally {
      await b.client.stop();
      await app.close();
      await db.drop();
    }
  });

  it('a row written and deleted before the first attach does not take the seed lease', async () => {
    const user = userId('ta-noop-seed');
    const id = uuid();
    const a = await device(user, {
      attach: false,
      seed: (db) => {
        db.run('INSERT INTO users (id, name, email) VALUES (?, ?, ?)', [id, 'Gone', 'g@x']);
      },
    });
    a.db.run('DELETE FROM users WHERE id = ?', [id]);
    // Nothing is left to seed: the server must not hold the scope for this device's lease.
    expect(await a.client.attach(user)).toMatchObject({ status: 'connected', outcome: 'started_empty' });
    await a.client.sync();
    const b = await device(user, { attach: false });
    b.db.run('INSERT INTO users (id, name, email) VALUES (?, ?, ?)', [uuid(), 'B', 'b@x']);
    expect(await b.client.attach(user)).toMatchObject({ status: 'connected' });
    expect(await a.client.detach()).toMatchObject({ outcome: 'detached' });
  });

  it('a seed whose rows were all deleted before its push releases the lease on the next sync', async () => {
    const user = userId('ta-empty-seed');
    const id = uuid();
    const a = await device(user, {
      attach: false,
      seed: (db) => db.run('INSERT INTO users (id, name, email) VALUES (?, ?, ?)', [id, 'Gone', 'g@x']),
    });
    expect(await a.client.attach(user)).toMatchObject({ outcome: 'seeded_from_local' });
    a.db.run('DELETE FROM users WHERE id = ?', [id]);
    await a.client.sync();
    expect(a.client.pendingSyncStatus()).toMatchObject({ pendingRowCount: 0, blocksDetach: false });
    const b = await device(user, { attach: false });
    expect(await b.client.attach(user)).toMatchObject({ status: 'connected' });
  });

  it('an empty seed whose lease lapsed meanwhile resets the binding (initialization_reset) instead of claiming the scope', async () => {
    const user = userId('ta-lapsed-seed');
    const id = uuid();
    const a = await device(user, {
      attach: false,
      seed: (db) => db.run('INSERT INTO users (id, name, email) VALUES (?, ?, ?)', [id, 'Gone', 'g@x']),
    });
    expect(await a.client.attach(user)).toMatchObject({ outcome: 'seeded_from_local' });
    a.db.run('DELETE FROM users WHERE id = ?', [id]);
    // The lease lapses and another device initializes the scope empty before A syncs again.
    await server.pool.query(
      `UPDATE sync.scope_state SET lease_expires_at = now() - interval '1 second'
        WHERE user_pk = (SELECT user_pk FROM sync.user_state WHERE user_id = $1)`,
      [user],
    );
    const b = await device(user, { attach: false });
    expect(await b.client.attach(user)).toMatchObject({ outcome: 'started_empty' });
    const error = await a.client.sync().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isOversyncClientError(error, 'initialization_reset')).toBe(true);
    expect(a.client.pendingSyncStatus()).toMatchObject({ pendingRowCount: 0 });
    expect(await a.client.attach(user)).toMatchObject({ status: 'connected', outcome: 'used_remote_state' });
  });
});
