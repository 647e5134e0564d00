/**
 * Conflict resolution against the real server (scenarios E5–E13): a server-originated write makes
 * a device's push stale; every built-in and custom resolver is checked on SQLite and PostgreSQL.
 */
import {
  clientWins,
  isOversyncClientError,
  serverWins,
  type ConflictResolver,
  type SyncConflict,
} from '@oversync/client';
import {
  closeDevice,
  openDevice,
  sqliteRows,
  syncState,
  type Device,
  type DeviceOptions,
} from '../support/client-devices.js';
import { FaultyFetch } from '../support/client-faults.js';
import { uuid, userId } from '../support/client-schema.js';
import { lit, rawSql, serverTable, startClientServer, type ClientServer } from '../support/client-server.js';

describe('client conflicts (real server)', () => {
  let server: ClientServer;
  const open: Device[] = [];

  const device = async (user: string, options: Partial<DeviceOptions> = {}) => {
    const d = await openDevice({ baseUrl: server.baseUrl, userId: user, ...options });
    open.push(d);
    return d;
  };
  const addUser = (d: Device, name: string, id = uuid()) => {
    d.db.run('INSERT INTO users (id, name, email) VALUES (?, ?, ?)', [id, name, `${name}@example.com`]);
    return id;
  };
  const serverSet = (user: string, id: string, set: string) =>
    server.write(
      user,
      rawSql(`UPDATE business.users SET ${set} WHERE _sync_scope_id = ${lit(user)} AND id = '${id}'`),
    );
  const local = (d: Device, id: string) => sqliteRows(d.db, 'SELECT * FROM users WHERE id = ?', [id])[0];
  const remote = async (user: string, id: string) =>
    (await serverTable(server.pool, 'users', user)).find((r) => r['id'] === id);

  /** Device A seeds "Ada" (bundle 1); device B attaches afterwards with `resolver`. */
  const setup = async (label: string, resolver: ConflictResolver, options: Partial<DeviceOptions> = {}) => {
    const user = userId(label);
    const a = await device(user);
    const id = addUser(a, 'Ada');
    await a.client.pushPending();
    const faults = new FaultyFetch();
    const b = await device(user, { conflictResolver: resolver, fetch: faults.fetch, ...options });
    return { user, a, b, id, faults };
  };

  beforeAll(async () => {
    server = await startClientServer();
  });
  afterAll(async () => {
    for (const d of open) await closeDevice(d).catch(() => undefined);
    await server.close();
  });

  it('E5: serverWins takes the server row without committing anything', async () => {
    const { user, b, id, faults } = await setup('e5', serverWins);
    await serverSet(user, id, "name = 'Ada Server'");
    b.db.run("UPDATE users SET name = 'Ada Local' WHERE id = ?", [id]);
    expect((await b.client.pushPending()).outcome).toBe('no_change');
    expect(local(b, id)?.['name']).toBe('Ada Server');
    expect(syncState(b.db)).toMatchObject({
      dirty: 0,
      outbox: 0,
      nextSourceBundleId: 1,
      lastBundleSeqSeen: 1,
    });
    expect(sqliteRows(b.db, 'SELECT row_version FROM _sync_row_state')[0]?.['row_version']).toBe(2);
    await b.client.pullToStable();
    expect(b.client.lastBundleSeqSeen()).toBe(2);
    expect(faults.count('commit')).toBe(1);
    expect((await remote(user, id))?.['name']).toBe('Ada Server');
  });

  it('E6: clientWins retries the same source bundle on the server version and converges', async () => {
    const { user, a, b, id, faults } = await setup('e6', clientWins);
    addUser(a, 'Peer');
    await a.client.pushPending();
    await serverSet(user, id, "name = 'Grace Server'");
    b.db.run("UPDATE users SET name = 'Grace Client' WHERE id = ?", [id]);
    expect((await b.client.pushPending()).outcome).toBe('committed');
    const creates = faults.of('push-create').map((c) => c.body as { source_bundle_id: number });
    expect(creates.map((c) => c.source_bundle_id)).toEqual([1, 1]);
    const retried = faults.of('chunk').at(-1)?.body as { rows: Array<{ base_row_version: number }> };
    expect(retried.rows[0]?.base_row_version).toBe(3);
    expect(b.client.lastBundleSeqSeen()).toBe(1);
    await b.client.pullToStable();
    expect(b.client.lastBundleSeqSeen()).toBe(4);
    expect(sqliteRows(b.db, 'SELECT name FROM users ORDER BY name').map((r) => r['name'])).toEqual([
      'Grace Client',
      'Peer',
    ]);
    expect(syncState(b.db)).toMatchObject({ dirty: 0, outbox: 0, nextSourceBundleId: 2 });
    expect((await remote(user, id))?.['name']).toBe('Grace Client');
  });

  it('E7: keep_merged pushes exactly the merged wire row', async () => {
    const merge: ConflictResolver = (c: SyncConflict) => ({
      action: 'keep_merged',
      row: { ...c.localRow, name: c.serverRow?.['name'] ?? null },
    });
    const { user, b, id, faults } = await setup('e7', merge);
    await serverSet(user, id, "name = 'Ada Server'");
    b.db.run("UPDATE users SET email = 'local@example.com' WHERE id = ?", [id]);
    expect((await b.client.pushPending()).outcome).toBe('committed');
    const retried = faults.of('chunk').at(-1)?.body as { rows: Array<{ payload: Record<string, unknown> }> };
    expect(retried.rows[0]?.payload).toMatchObject({ name: 'Ada Server', email: 'local@example.com' });
    await b.client.pullToStable();
    expect(local(b, id)).toMatchObject({ name: 'Ada Server', email: 'local@example.com' });
    expect(await remote(user, id)).toMatchObject({ name: 'Ada Server', email: 'local@example.com' });
  });

  it('E8: a latest-updated_at resolver keeps whichever side is newer', async () => {
    const updatedAt = (row: SyncConflict['serverRow']) => {
      const value = row?.['updated_at'];
      return typeof value === 'string' ? Date.parse(value) : Number.NaN;
    };
    const latest: ConflictResolver = (c) =>
      updatedAt(c.localRow) > updatedAt(c.serverRow) ? { action: 'keep_local' } : { action: 'accept_server' };
    const { user, b, id } = await setup('e8', latest);
    await serverSet(user, id, "name = 'Server', updated_at = '2026-03-24T18:01:00Z'");
    b.db.run("UPDATE users SET name = 'Local', updated_at = '2026-03-24T18:02:00Z' WHERE id = ?", [id]);
    await b.client.sync();
    expect(local(b, id)?.['name']).toBe('Local');
    expect(new Date(String(local(b, id)?.['updated_at'])).toISOString()).toBe('2026-03-24T18:02:00.000Z');
    await serverSet(user, id, "name = 'Server later', updated_at = '2026-03-24T18:06:00Z'");
    b.db.run("UPDATE users SET name = 'Local older', updated_at = '2026-03-24T18:05:00Z' WHERE id = ?", [id]);
    await b.client.sync();
    expect(local(b, id)?.['name']).toBe('Server later');
    expect((await remote(user, id))?.['name']).toBe('Server later');
  });

  it('E9/E13: sibling rows of a rejected chunked bundle are re-sent and committed', async () => {
    const { user, b, id, faults } = await setup('e13', clientWins, { uploadChunkRows: 2 });
    await serverSet(user, id, "name = 'Grace Server'");
    b.db.run("UPDATE users SET name = 'Grace Client' WHERE id = ?", [id]);
    addUser(b, 'Extra One');
    addUser(b, 'Extra Two');
    expect((await b.client.pushPending()).outcome).toBe('committed');
    expect(faults.count('push-create')).toBe(2);
    expect(faults.count('chunk')).toBeGreaterThan(2);
    expect(syncState(b.db)).toMatchObject({ dirty: 0, outbox: 0, nextSourceBundleId: 2 });
    const names = (await serverTable(server.pool, 'users', user)).map((r) => r['name']).sort();
    expect(names).toEqual(['Extra One', 'Extra Two', 'Grace Client']);
  });

  it('E10: conflicts on every retry exhaust and leave the intent replayable', async () => {
    let user = '';
    let id = '';
    let round = 0;
    // Each resolution races another server write, so every retry conflicts again.
    const racing: ConflictResolver = async () => {
      await serverSet(user, id, `name = 'Server ${++round}'`);
      return { action: 'keep_local' };
    };
    const ctx = await setup('e10', racing);
    ({ user, id } = ctx);
    await serverSet(user, id, "name = 'Server 0'");
    ctx.b.db.run("UPDATE users SET name = 'Mine' WHERE id = ?", [id]);
    const error: unknown = await ctx.b.client.pushPending().catch((e: unknown) => e);
    expect(isOversyncClientError(error, 'conflict_retry_exhausted')).toBe(true);
    expect(ctx.faults.count('commit')).toBe(3);
    const dirty = sqliteRows(ctx.b.db, 'SELECT op, base_row_version, payload FROM _sync_dirty_rows');
    expect(dirty).toHaveLength(1);
    expect(dirty[0]).toMatchObject({ op: 'UPDATE' });
    expect(Number(dirty[0]?.['base_row_version'])).toBeGreaterThanOrEqual(2);
    expect(syncState(ctx.b.db)).toMatchObject({ outbox: 0, nextSourceBundleId: 1, lastBundleSeqSeen: 1 });
    expect(local(ctx.b, id)?.['name']).toBe('Mine');
    expect((await remote(user, id))?.['name']).toBe('Server 3');
  });

  it('E11: an invalid resolution fails closed with every intent back in the dirty set', async () => {
    const mergeDelete: ConflictResolver = () => ({ action: 'keep_merged', row: {} });
    const { user, b, id } = await setup('e11', mergeDelete);
    await serverSet(user, id, "name = 'Server'");
    b.db.run('DELETE FROM users WHERE id = ?', [id]);
    const error: unknown = await b.client.pushPending().catch((e: unknown) => e);
    expect(isOversyncClientError(error, 'invalid_conflict_resolution')).toBe(true);
    expect(sqliteRows(b.db, 'SELECT op, base_row_version, payload FROM _sync_dirty_rows')).toEqual([
      { op: 'DELETE', base_row_version: 1, payload: null },
    ]);
    expect(syncState(b.db)).toMatchObject({ outbox: 0, nextSourceBundleId: 1 });
    expect(local(b, id)).toBeUndefined();
    expect((await remote(user, id))?.['name']).toBe('Server');
  });
});
