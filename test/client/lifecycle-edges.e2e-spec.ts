/**
 * Edges of the client lifecycle, persistence and background sync against the real server: calls
 * racing each other (stop/start, repeated stop and close, detach under background sync), requests
 * that never answer, an error reporter that throws, saving without the update hook, ownership of one
 * database file under different spellings, file persister permissions and failures, and status
 * events.
 */
import { BundleChangeHub } from '@oversync/nestjs';
import {
  FilePersister,
  MemoryPersister,
  OversyncClient,
  isOversyncClientError,
  type SyncStatusEvent,
} from '@oversync/client';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  closeDevice,
  failure,
  inspectImage,
  openDevice,
  sqliteCount,
  sqliteRows,
  type Device,
  type DeviceOptions,
} from '../support/client-devices.js';
import { FaultyFetch, routeOf } from '../support/client-faults.js';
import { CLIENT_TABLES, uuid, userId } from '../support/client-schema.js';
import { startClientServer, type ClientServer } from '../support/client-server.js';
import { waitFor } from '../support/client-waiters.js';

const NO_POLLING = {
  watch: 'auto',
  pollIntervalMs: 600_000,
  watchFallbackIntervalMs: 600_000,
  minBackoffMs: 20,
  localChangeDebounceMs: 5,
} as const;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves to 'settled' or 'timeout', whichever comes first (never leaves a timer behind). */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<'settled' | 'timeout'> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms)));
  try {
    return await Promise.race([
      promise.then(
        () => 'settled' as const,
        () => 'settled' as const,
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

describe('client lifecycle edges (real server)', () => {
  let server: ClientServer;
  let dir: string;
  const open: Device[] = [];

  const device = async (user: string, options: Partial<DeviceOptions> = {}) => {
    const d = await openDevice({ baseUrl: server.baseUrl, userId: user, ...options });
    open.push(d);
    return d;
  };
  const addUser = (d: Device, name: string, id = uuid()) => {
    d.db.run('INSERT INTO users (id, name, email) VALUES (?, ?, ?)', [id, name, `${name}@x`]);
    return id;
  };
  const subscribers = () => server.t.get(BundleChangeHub).subscriberCount();

  beforeAll(async () => {
    server = await startClientServer();
    dir = mkdtempSync(join(tmpdir(), 'oversync-lifecycle-edges-'));
  });
  afterAll(async () => {
    for (const d of open) await settlesWithin(closeDevice(d), 2000);
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  // --- background sync ---------------------------------------------------------------------------

  it('start() right after an un-awaited stop() keeps one watch stream; close() ends it and the first stop() settles', async () => {
    const user = userId('le-restart');
    const faults = new FaultyFetch();
    const baseline = subscribers();
    const d = await device(user, { fetch: faults.fetch, background: NO_POLLING });
    d.client.start();
    await waitFor(() => subscribers() === baseline + 1, { what: 'the first watch stream' });
    // A UI framework's effect cleanup cannot await: stop() then start() in one tick.
    const firstStop = d.client.stop();
    d.client.start();
    await sleep(300);
    const streamsWhileRunning = subscribers() - baseline;
    // close() stops background work; nothing of it may outlive the client.
    const closed = await settlesWithin(d.client.close(), 3000);
    const firstStopSettled = await settlesWithin(firstStop, 100);
    await sleep(200);
    expect({
      streamsWhileRunning,
      closed,
      firstStopSettled,
      streamsAfterClose: subscribers() - baseline,
    }).toEqual({
      streamsWhileRunning: 1,
      closed: 'settled',
      firstStopSettled: 'settled',
      streamsAfterClose: 0,
    });
  });

  it('stop() aborts a background sync request that never answers and frees the client lock', async () => {
    const user = userId('le-hang');
    const faults = new FaultyFetch();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let hanging = false;
    const d = await device(user, { fetch: faults.fetch, background: { ...NO_POLLING, watch: 'off' } });
    // A half-open connection: the pull request is sent and no answer ever comes.
    faults.fail({
      match: (c) => routeOf(c) === 'pull',
      when: 'pass',
      run: async () => {
        hanging = true;
        await gate;
      },
    });
    d.client.start();
    await waitFor(() => hanging, { what: 'the background pull to hang' });
    const stopped = await settlesWithin(d.client.stop(), 3000);
    // The aborted request no longer holds the client lock: the next call runs.
    const push = await d.client.pushPending().catch((e: { code?: string }) => e.code);
    release();
    await waitFor(() => settlesWithin(d.client.stop(), 50).then((r) => r === 'settled'), { what: 'cleanup' });
    expect({ stopped, push }).toEqual({ stopped: 'settled', push: { outcome: 'no_change' } });
  });

  it('a second stop() waits for the loops too, so the next call does not meet sync_in_progress', async () => {
    const faults = new FaultyFetch();
    let inFlight = false;
    const d = await device(userId('le-stop2'), {
      fetch: faults.fetch,
      background: { ...NO_POLLING, watch: 'off' },
    });
    faults.fail({
      match: (c) => routeOf(c) === 'pull',
      when: 'pass',
      run: async () => {
        inFlight = true;
        await sleep(300);
      },
    });
    d.client.start();
    await waitFor(() => inFlight, { what: 'the background pull' });
    const first = d.client.stop();
    await d.client.stop();
    const push = await d.client.pushPending().then(
      (r) => r.outcome,
      (e: { code?: string }) => e.code,
    );
    await first;
    expect(push).toBe('no_change');
  });

  it('detach under background sync closes the watch stream, makes no requests while detached, and the next user starts from zero', async () => {
    const alice = userId('le-alice');
    const bob = userId('le-bob');
    let token = alice;
    const faults = new FaultyFetch();
    const baseline = subscribers();
    const d = await device(alice, { getToken: () => token, fetch: faults.fetch, background: NO_POLLING });
    const peerA = await device(alice);
    for (const name of ['A1', 'A2', 'A3']) {
      addUser(peerA, name);
      await peerA.client.sync();
    }
    d.client.start();
    await waitFor(() => d.client.lastBundleSeqSeen() === 3, { what: 'Alice’s bundles on the device' });
    await waitFor(() => subscribers() === baseline + 1, { what: 'Alice’s watch stream' });
    const detached = await waitFor(() =>
      d.client.detach().catch((error: unknown) => {
        if (isOversyncClientError(error, 'sync_in_progress')) return undefined;
        throw error;
      }),
    );
    expect(detached).toEqual({ outcome: 'detached', pendingRowCount: 0 });
    await waitFor(() => subscribers() === baseline, { what: 'Alice’s stream to close' });
    expect(sqliteCount(d.db, 'users')).toBe(0);
    const requestsWhileDetached = faults.calls.length;
    await sleep(200);
    expect(faults.calls.length).toBe(requestsWhileDetached);
    token = bob;
    // Bob's scope is empty: no snapshot, so only the reset checkpoint decides what is pulled.
    expect(await d.client.attach(bob)).toEqual({ status: 'connected', outcome: 'started_empty' });
    const peerB = await device(bob);
    addUser(peerB, 'B1');
    await peerB.client.sync();
    await waitFor(() => sqliteCount(d.db, 'users') === 1, { what: 'Bob’s bundle via watch' });
    expect(sqliteRows(d.db, 'SELECT name FROM users')).toEqual([{ name: 'B1' }]);
    expect(d.client.lastBundleSeqSeen()).toBe(1);
    const bobPulls = faults.calls.slice(requestsWhileDetached).filter((c) => routeOf(c) === 'pull');
    expect(bobPulls[0]?.query).toContain('after_bundle_seq=0');
    await d.client.stop();
  });

  it('a background pull reports synced only after the image holding its bundle is saved', async () => {
    const user = userId('le-synced');
    const saved: Uint8Array[] = [];
    class SlowPersister extends MemoryPersister {
      override async save(image: Uint8Array): Promise<void> {
        await sleep(30);
        await super.save(image);
        saved.push(image.slice());
      }
    }
    const persister = new SlowPersister();
    const a = await device(user);
    const b = await device(user, { persister, background: NO_POLLING });
    const seen: Array<Promise<number>> = [];
    b.client.onStatus((e: SyncStatusEvent) => {
      if (e.state !== 'synced' || e.lastBundleSeqSeen < 1) return;
      // What a reload at this instant would load.
      seen.push(
        persister
          .load()
          .then((img) =>
            inspectImage(img!, (db) =>
              Number(
                sqliteRows(db, 'SELECT last_bundle_seq_seen AS s FROM _sync_attachment_state')[0]?.['s'],
              ),
            ),
          ),
      );
    });
    b.client.start();
    addUser(a, 'Durable');
    await a.client.sync();
    await waitFor(() => seen.length > 0, { what: 'a synced event for bundle 1' });
    await b.client.stop();
    expect(await Promise.all(seen)).toEqual(seen.map(() => 1));
  });

  it('background sync survives an onBackgroundError callback that throws', async () => {
    const user = userId('le-onerror');
    const faults = new FaultyFetch();
    const reported: unknown[] = [];
    const d = await device(user, {
      fetch: faults.fetch,
      background: { ...NO_POLLING, watch: 'off', pollIntervalMs: 50 },
      // An app's error reporter that rethrows (or a logger that fails).
      onBackgroundError: (error) => {
        reported.push(error);
        throw new Error('reporter failed');
      },
    });
    faults.offline = true;
    d.client.start();
    await waitFor(() => reported.length >= 1, { what: 'a background error' });
    faults.offline = false;
    const id = addUser(d, 'After the outage');
    const pushed = await waitFor(
      async () =>
        (
          await server.pool.query('SELECT 1 FROM business.users WHERE _sync_scope_id = $1 AND id = $2', [
            user,
            id,
          ])
        ).rowCount === 1,
      { timeoutMs: 3000 },
    ).catch(() => false);
    await d.client.stop();
    expect(pushed).toBe(true);
  });

  // --- close ----------------------------------------------------------------------------------

  it('a second close() resolves only once the client is closed (flushed, lock released)', async () => {
    const persister = new MemoryPersister('le-double-close');
    const d = await device(userId('le-close2'), { persister, exportDebounceMs: 60_000 });
    const id = addUser(d, 'Written before close');
    // Two parts of an app shut the client down (a view's unmount and the app's shutdown hook).
    const first = d.client.close();
    await d.client.close();
    const persisted = await inspectImage((await persister.load())!, (db) =>
      sqliteCount(db, 'SELECT COUNT(*) FROM users WHERE id = ?', [id]),
    );
    const next = new OversyncClient({
      db: d.db,
      baseUrl: server.baseUrl,
      getToken: () => 'x',
      schema: 'business',
      tables: CLIENT_TABLES,
      persistence: persister,
    });
    const reopen = await next.open().then(
      () => 'opened',
      (e: { code?: string }) => e.code,
    );
    await first;
    await next.close();
    expect({ persisted, reopen }).toEqual({ persisted: 1, reopen: 'opened' });
  });

  it('flush() persists app writes when the app owns the update hook (observeWrites: false)', async () => {
    const persister = new MemoryPersister();
    // An app that uses sql.js's single updateHook slot for its own reactive queries.
    const d = await device(userId('le-observe'), { persister, observeWrites: false });
    const id = addUser(d, 'Saved by flush');
    await d.client.flush();
    const image = await persister.load();
    expect(
      await inspectImage(image!, (db) => sqliteCount(db, 'SELECT COUNT(*) FROM users WHERE id = ?', [id])),
    ).toBe(1);
    // close() flushes too: a restart must see the row.
    const other = addUser(d, 'Saved by close');
    await d.client.close();
    expect(
      await inspectImage((await persister.load())!, (db) =>
        sqliteCount(db, 'SELECT COUNT(*) FROM users WHERE id = ?', [other]),
      ),
    ).toBe(1);
  });

  // --- ownership and file persistence --------------------------------------------------------------

  it('one database file has one owner, however its path is spelled', async () => {
    const file = join(dir, 'owned.sqlite');
    const a = await device(userId('le-own'), { attach: false, persister: new FilePersister(file) });
    await a.client.flush();
    // The same file through an equivalent path (client-spec §1.1: the ownership key is the
    // absolute path of the file).
    const second = await device(userId('le-own'), {
      attach: false,
      persister: new FilePersister(`${dir}/./owned.sqlite`),
    }).catch((error: { code?: string }) => error.code);
    // Were there two owners, each would save its own image over the other's and lose A's write.
    const idA = addUser(a, 'Written through A');
    await a.client.flush();
    if (typeof second === 'object') {
      addUser(second, 'Written through B');
      await second.client.flush();
    }
    const image = await new FilePersister(file).load();
    const persistedA = await inspectImage(image!, (db) =>
      sqliteCount(db, 'SELECT COUNT(*) FROM users WHERE id = ?', [idA]),
    );
    expect({ second: typeof second === 'object' ? 'opened' : second, persistedA }).toEqual({
      second: 'database_locked',
      persistedA: 1,
    });
  });

  it('a FilePersister save keeps the permissions the app gave the database file', async () => {
    const file = join(dir, 'private.sqlite');
    writeFileSync(file, new Uint8Array(0));
    chmodSync(file, 0o600);
    await new FilePersister(file).save(new Uint8Array(16).fill(1));
    expect((statSync(file).mode & 0o777).toString(8)).toBe('600');
  });

  it('close() under background sync persists to the file; a restart resumes offline with the same source', async () => {
    const user = userId('le-file');
    const file = join(dir, 'resume.sqlite');
    const faults = new FaultyFetch();
    const d = await device(user, {
      persister: new FilePersister(file),
      fetch: faults.fetch,
      background: NO_POLLING,
    });
    const source = d.client.sourceInfo().sourceId;
    d.client.start();
    addUser(d, 'Pushed in background');
    await waitFor(() => d.client.pendingSyncStatus().pendingRowCount === 0 && faults.count('commit') === 1, {
      what: 'the background push',
    });
    const late = addUser(d, 'Written just before close');
    await d.client.close();
    d.db.close();
    const after = new FaultyFetch();
    const restarted = await device(user, { persister: new FilePersister(file), fetch: after.fetch });
    expect(restarted.client.sourceInfo().sourceId).toBe(source);
    expect(after.calls).toHaveLength(0);
    expect(sqliteCount(restarted.db, 'SELECT COUNT(*) FROM users WHERE id = ?', [late])).toBe(1);
    expect(readdirSync(dir).filter((n) => n.startsWith('resume.sqlite.'))).toEqual([]);
  });

  it('a FilePersister save that fails leaves no temporary file behind', async () => {
    const sub = join(dir, 'temp-leak');
    mkdirSync(sub);
    // The target is occupied by a directory, so the final rename fails after the temp file was
    // written and fsynced (the same cleanup path as ENOSPC/EIO while writing).
    const target = join(sub, 'db.sqlite');
    mkdirSync(target);
    writeFileSync(join(target, 'keep'), 'x');
    const persister = new FilePersister(target);
    const image = new Uint8Array(64 * 1024).fill(7);
    for (let i = 0; i < 3; i++) await failure(persister.save(image));
    expect(readdirSync(sub).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });
});
