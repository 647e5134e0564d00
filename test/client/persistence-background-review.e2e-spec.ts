/**
 * An app developer's review of persistence and background sync in Node: FilePersister close/reopen,
 * a crash inside the save debounce, damaged files, two clients on one file, debounced saves at
 * close(), stop()/close() while a background push is in flight, an outage and recovery, listeners
 * (errors, unsubscribe, app code running inside them), and concurrent use of the API.
 */
import { FilePersister, OversyncClient, isOversyncClientError, type SyncStatusEvent } from '@oversync/client';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  closeDevice,
  failure,
  inspectImage,
  loadSqlJs,
  sqliteCount,
  syncState,
  type Device,
} from '../support/client-devices.js';
import { FaultyFetch, routeOf } from '../support/client-faults.js';
import { deviceHelpers } from '../support/client-scenario.js';
import { CLIENT_TABLES, userId } from '../support/client-schema.js';
import { pgRows, startClientServer, type ClientServer } from '../support/client-server.js';
import { waitFor } from '../support/client-waiters.js';

const BACKGROUND = {
  watch: 'off',
  pollIntervalMs: 600_000,
  minBackoffMs: 20,
  maxBackoffMs: 80,
  localChangeDebounceMs: 5,
} as const;

describe('persistence and background sync, as an app uses them (real server)', () => {
  let server: ClientServer;
  let dir: string;
  const open: Device[] = [];
  const { device, addUser, sameAsServer } = deviceHelpers(() => server, open);

  const file = (name: string) => join(dir, name);
  const bundles = async (user: string) =>
    Number(
      (
        await pgRows<{ n: string }>(
          server.pool,
          'SELECT COUNT(*) AS n FROM sync.bundle_log b JOIN sync.user_state u USING (user_pk) WHERE u.user_id = $1',
          [user],
        )
      )[0]?.n,
    );
  const usersIn = (image: Uint8Array | null, name: string) =>
    inspectImage(image!, (db) => sqliteCount(db, 'SELECT COUNT(*) FROM users WHERE name = ?', [name]));
  const quit = async (d: Device) => {
    await closeDevice(d);
    open.splice(open.indexOf(d), 1);
  };

  beforeAll(async () => {
    server = await startClientServer();
    dir = mkdtempSync(join(tmpdir(), 'oversync-persist-bg-'));
  });
  afterAll(async () => {
    for (const d of open) await closeDevice(d).catch(() => undefined);
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  // --- FilePersister: close, reopen, crash, damage, two owners ------------------------------------

  it('close and reopen from the file keep the source id, checkpoint, a frozen outbox and pending edits', async () => {
    const user = userId('pb-reopen');
    const path = file('reopen.sqlite');
    const peer = await device(user);
    addUser(peer, 'From the peer');
    await peer.client.sync();
    const faults = new FaultyFetch();
    const d = await device(user, { persister: new FilePersister(path), fetch: faults.fetch });
    expect(d.client.lastBundleSeqSeen()).toBe(1);
    // The commit never reaches the server (offline for every attempt): the bundle stays frozen.
    faults.fail({ match: (c) => routeOf(c) === 'commit', times: 10 });
    addUser(d, 'Frozen');
    expect((await failure(d.client.sync())).code).toBe('retry_exhausted');
    addUser(d, 'Dirty after the freeze');
    const before = { source: d.client.sourceInfo().sourceId, state: syncState(d.db) };
    expect(before.state).toMatchObject({
      outbox: 1,
      outboxState: 'prepared',
      dirty: 1,
      lastBundleSeqSeen: 1,
    });
    await quit(d);

    const again = await device(user, { persister: new FilePersister(path), attach: false });
    expect(again.client.sourceInfo().sourceId).toBe(before.source);
    expect(syncState(again.db)).toEqual(before.state);
    expect(again.client.pendingSyncStatus()).toMatchObject({ pendingRowCount: 2, blocksDetach: true });
    expect(await again.client.attach(user)).toMatchObject({ outcome: 'resumed_attached_state' });
    expect((await again.client.sync()).pushOutcome).toBe('committed');
    expect(await bundles(user)).toBe(3);
    expect(syncState(again.db)).toMatchObject({ outbox: 0, dirty: 0, lastBundleSeqSeen: 3 });
    await sameAsServer(again);
  });

  it('a crash inside the save debounce loses only the unsaved write; the file stays the last full image', async () => {
    const user = userId('pb-crash');
    const path = file('crash.sqlite');
    const d = await device(user, { persister: new FilePersister(path), exportDebounceMs: 60_000 });
    addUser(d, 'Synced');
    await d.client.sync();
    addUser(d, 'Not saved yet');
    // What a process killed right now would find (documented: app writes are saved after the debounce).
    const crashed = await new FilePersister(path).load();
    expect([await usersIn(crashed, 'Synced'), await usersIn(crashed, 'Not saved yet')]).toEqual([1, 0]);
    expect(await inspectImage(crashed!, syncState)).toMatchObject({
      dirty: 0,
      outbox: 0,
      lastBundleSeqSeen: 1,
    });
    await d.client.flush();
    expect(await usersIn(await new FilePersister(path).load(), 'Not saved yet')).toBe(1);
  });

  it('a damaged file fails open() with database_unreadable and is left as it was (no silent fresh start over it)', async () => {
    const user = userId('pb-damaged');
    const path = file('damaged.sqlite');
    const d = await device(user, { persister: new FilePersister(path) });
    for (let i = 0; i < 200; i++) addUser(d, `user ${i} ${'x'.repeat(200)}`);
    await d.client.sync();
    await quit(d);
    const full = readFileSync(path);
    for (const damaged of [full.subarray(0, full.length >> 1), Buffer.from('not a database'.repeat(500))]) {
      writeFileSync(path, damaged);
      const opened = await device(user, { persister: new FilePersister(path) }).then(
        () => 'opened',
        (e: Error & { code?: string }) => `${e.code}: ${e.message}`,
      );
      // It once failed with SQLite's bare error, which is not an OversyncClientError.
      expect(opened).toMatch(/^database_unreadable: .*(malformed|not a database)/);
      expect(Buffer.compare(readFileSync(path), damaged)).toBe(0);
    }
  });

  it('two clients on one file: the second is refused while the first owns it, and a stale load after its close', async () => {
    const user = userId('pb-two');
    const path = file('two.sqlite');
    const a = await device(user, { persister: new FilePersister(path) });
    const locked = await failure(device(user, { persister: new FilePersister(path) }));
    expect(locked.code).toBe('database_locked');
    // A second window loaded the file while A still owned it, and opens once A has quit.
    const SQL = await loadSqlJs();
    const lateLoader = new FilePersister(path);
    const lateDb = new SQL.Database((await lateLoader.load()) ?? undefined);
    const late = new OversyncClient({
      db: lateDb,
      baseUrl: server.baseUrl,
      getToken: () => user,
      schema: 'business',
      tables: CLIENT_TABLES,
      persistence: lateLoader,
    });
    addUser(a, 'Written by A before quitting');
    await quit(a);
    expect((await failure(late.open())).code).toBe('stale_image');
    expect(await usersIn(await new FilePersister(path).load(), 'Written by A before quitting')).toBe(1);
    lateDb.close();
  });

  // flush() after close() once exported and saved: the closed client's image overwrote the file of its next owner.
  it('flush() on a closed client does not save over the file the next owner wrote (observeWrites: false)', async () => {
    const user = userId('pb-flush-closed');
    const path = file('flush-closed.sqlite');
    const a = await device(user, { persister: new FilePersister(path), observeWrites: false });
    await a.client.close();
    const b = await device(user, { persister: new FilePersister(path), observeWrites: false });
    addUser(b, 'Saved by the new owner');
    await b.client.flush();
    expect(await usersIn(await new FilePersister(path).load(), 'Saved by the new owner')).toBe(1);
    // e.g. an old "save" handler that still holds the first client.
    const outcome = await a.client.flush().then(
      () => 'resolved',
      (e: { code?: string }) => e.code,
    );
    const kept = await usersIn(await new FilePersister(path).load(), 'Saved by the new owner');
    expect({ outcome, kept }).toEqual({ outcome: 'client_closed', kept: 1 });
  });

  it('a burst of app writes then an immediate close() persists the last write (background running)', async () => {
    const user = userId('pb-burst');
    const path = file('burst.sqlite');
    const d = await device(user, { persister: new FilePersister(path), background: BACKGROUND });
    d.client.start();
    const id = addUser(d, 'v0');
    for (let i = 1; i <= 200; i++) d.db.run('UPDATE users SET name = ? WHERE id = ?', [`v${i}`, id]);
    const extra = addUser(d, 'last insert');
    await quit(d);
    const again = await device(user, { persister: new FilePersister(path) });
    expect(sqliteCount(again.db, "SELECT COUNT(*) FROM users WHERE id = ? AND name = 'v200'", [id])).toBe(1);
    expect(sqliteCount(again.db, 'SELECT COUNT(*) FROM users WHERE id = ?', [extra])).toBe(1);
    await again.client.sync();
    expect(again.client.pendingSyncStatus().pendingRowCount).toBe(0);
    await sameAsServer(again);
  });

  // --- background sync ---------------------------------------------------------------------------

  it('stop() while the commit answer is in flight: no error reported, the next sync replays it once', async () => {
    const user = userId('pb-stop-commit');
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let committed = false;
    const reported: unknown[] = [];
    const events: SyncStatusEvent[] = [];
    const d = await device(user, {
      background: BACKGROUND,
      onBackgroundError: (e) => reported.push(e),
      // The server commits; its answer is held (a slow network) until the test releases it.
      fetch: async (input, init) => {
        const response = await fetch(input, init);
        if (new URL(input).pathname.endsWith('/commit') && !committed) {
          committed = true;
          await gate;
        }
        return response;
      },
    });
    d.client.onStatus((e) => events.push(e));
    d.client.start();
    addUser(d, 'Committed while stopping');
    await waitFor(() => committed, { what: 'the background commit to reach the server' });
    await d.client.stop();
    release();
    expect(reported).toEqual([]);
    const aborted = events.filter((e) => e.state === 'error');
    expect(aborted.map((e) => e.state === 'error' && (e.error as Error).name)).toEqual(['AbortError']);
    expect(syncState(d.db)).toMatchObject({ outbox: 1 });
    expect((await d.client.sync()).pushOutcome).toBe('committed');
    expect(await bundles(user)).toBe(1);
    expect(syncState(d.db)).toMatchObject({ outbox: 0, dirty: 0, lastBundleSeqSeen: 1 });
    await sameAsServer(d);
  });

  it('close() while a background push hangs: the frozen bundle is in the file and goes up exactly once', async () => {
    const user = userId('pb-close-push');
    const path = file('close-push.sqlite');
    let hanging = false;
    const faults = new FaultyFetch();
    faults.fail({
      match: (c) => routeOf(c) === 'chunk',
      when: 'pass',
      run: async () => {
        hanging = true;
        await new Promise(() => undefined); // never answers
      },
    });
    const d = await device(user, {
      persister: new FilePersister(path),
      fetch: faults.fetch,
      background: BACKGROUND,
    });
    d.client.start();
    addUser(d, 'Frozen at close');
    await waitFor(() => hanging, { what: 'the background chunk upload' });
    await quit(d);
    const again = await device(user, { persister: new FilePersister(path) });
    expect(syncState(again.db)).toMatchObject({ outbox: 1, dirty: 0 });
    expect((await again.client.sync()).pushOutcome).toBe('committed');
    expect(await bundles(user)).toBe(1);
    await sameAsServer(again);
  });

  it('server down then up: errors reach onBackgroundError and listeners, unsubscribe works, one bundle per write', async () => {
    const user = userId('pb-outage');
    const faults = new FaultyFetch();
    const reported: unknown[] = [];
    const d = await device(user, {
      fetch: faults.fetch,
      background: BACKGROUND,
      onBackgroundError: (e) => reported.push(e),
    });
    const kept: SyncStatusEvent[] = [];
    const dropped: SyncStatusEvent[] = [];
    d.client.onStatus((e) => kept.push(e));
    const unsubscribe = d.client.onStatus((e) => dropped.push(e));
    // The first commit is processed by the server, then the connection dies with its answer.
    faults.fail({ match: (c) => routeOf(c) === 'commit', when: 'after', crash: true });
    d.client.start();
    addUser(d, 'Committed before the outage');
    await waitFor(() => reported.length >= 1, { what: 'a background error' });
    unsubscribe();
    const droppedCount = dropped.length;
    addUser(d, 'Written during the outage');
    await waitFor(() => reported.length >= 3, { what: 'more background errors' });
    expect(reported.every((e) => isOversyncClientError(e, 'retry_exhausted'))).toBe(true);
    expect(kept.filter((e) => e.state === 'error').length).toBeGreaterThanOrEqual(3);
    expect(dropped.length).toBe(droppedCount);
    faults.offline = false;
    await waitFor(() => d.client.pendingSyncStatus().pendingRowCount === 0, { what: 'recovery' });
    await d.client.stop();
    expect(await bundles(user)).toBe(2);
    expect(faults.count('committed-rows')).toBeGreaterThanOrEqual(1);
    await sameAsServer(d);
  });

  // --- app code inside listeners, concurrent calls ------------------------------------------------

  it('app writes inside status listeners are captured, saved and pushed by background sync', async () => {
    const user = userId('pb-listener-write');
    const d = await device(user, { background: BACKGROUND });
    let syncingWrites = 0;
    let syncedWrites = 0;
    d.client.onStatus((e) => {
      if (e.state === 'syncing' && syncingWrites === 0) addUser(d, `in syncing ${++syncingWrites}`);
      if (e.state === 'synced' && syncedWrites === 0) addUser(d, `in synced ${++syncedWrites}`);
    });
    d.client.start();
    addUser(d, 'Trigger');
    await waitFor(() => syncedWrites === 1 && d.client.pendingSyncStatus().pendingRowCount === 0, {
      what: 'every listener write pushed',
    });
    await d.client.stop();
    expect(sqliteCount(d.db, 'users')).toBe(3);
    await sameAsServer(d);
  });

  // The synced/error events were once emitted under the client lock, so a call from a listener met sync_in_progress.
  it('a sync() started from a synced listener runs instead of failing with sync_in_progress', async () => {
    const d = await device(userId('pb-listener-sync'));
    const followUps: Array<Promise<string>> = [];
    const unsubscribe = d.client.onStatus((e) => {
      // e.g. "synced, but rows are still pending (written meanwhile): sync again".
      if (e.state === 'synced' && e.operation === 'sync' && followUps.length === 0)
        followUps.push(
          d.client.sync().then(
            (r) => r.pushOutcome,
            (error: { code?: string }) => String(error.code),
          ),
        );
    });
    addUser(d, 'First');
    await d.client.sync();
    unsubscribe();
    expect(await Promise.all(followUps)).toEqual(['no_change']);
  });

  it('a foreground sync() during background sync either runs or meets sync_in_progress; nothing is pushed twice', async () => {
    const user = userId('pb-fg-bg');
    const d = await device(user, { background: { ...BACKGROUND, pollIntervalMs: 10 } });
    d.client.start();
    const codes = new Set<string>();
    for (let i = 0; i < 15; i++) {
      addUser(d, `row ${i}`);
      codes.add(
        await d.client.sync().then(
          () => 'ok',
          (e: { code?: string }) => String(e.code),
        ),
      );
    }
    await waitFor(() => d.client.pendingSyncStatus().pendingRowCount === 0, { what: 'the last push' });
    await d.client.stop();
    expect([...codes].every((c) => c === 'ok' || c === 'sync_in_progress')).toBe(true);
    expect(
      Number(
        (
          await pgRows<{ n: string }>(
            server.pool,
            'SELECT COUNT(*) AS n FROM business.users WHERE _sync_scope_id = $1',
            [user],
          )
        )[0]?.n,
      ),
    ).toBe(15);
    await sameAsServer(d);
  });
});
