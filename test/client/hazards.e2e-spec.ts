/**
 * Adversarial hazards against the real server: persistence failures, the app's own transactions,
 * resolver mistakes, app-local tables next to managed ones, values at the edges of JSON, rows the
 * server refuses for good, and lifecycle calls in odd orders (user switch under background sync,
 * start after close). Found by an adversarial review: the tests of fixed bugs failed before their
 * fix; the others pin behaviour that worked and had no test.
 */
import { isOversyncClientError, MemoryPersister, type ConflictResolver } from '@oversync/client';
import {
  closeDevice,
  failure,
  inspectImage,
  sqliteCount,
  sqliteRows,
  syncState,
  type Device,
} from '../support/client-devices.js';
import { FaultyFetch, routeOf } from '../support/client-faults.js';
import { deviceHelpers } from '../support/client-scenario.js';
import { uuid, userId } from '../support/client-schema.js';
import { lit, rawSql, startClientServer, type ClientServer } from '../support/client-server.js';
import { waitFor } from '../support/client-waiters.js';

/** A memory persister whose next `failures` saves reject (a full quota, an aborted IDB transaction). */
class FlakyPersister extends MemoryPersister {
  failures = 0;

  override save(image: Uint8Array): Promise<void> {
    if (this.failures > 0) {
      this.failures -= 1;
      return Promise.reject(new Error('QuotaExceededError (injected)'));
    }
    return super.save(image);
  }
}

const NO_POLLING = {
  watch: 'auto',
  pollIntervalMs: 600_000,
  watchFallbackIntervalMs: 600_000,
  minBackoffMs: 20,
  localChangeDebounceMs: 5,
} as const;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('client hazards (real server)', () => {
  let server: ClientServer;
  const open: Device[] = [];

  const { device, addUser, serverNames } = deviceHelpers(() => server, open);
  const rename = (d: Device, id: string, name: string): void => {
    d.db.run('UPDATE users SET name = ? WHERE id = ?', [name, id]);
  };
  const names = (d: Device) => sqliteRows(d.db, 'SELECT name FROM users ORDER BY name').map((r) => r['name']);
  const serverSetName = (user: string, id: string, name: string) =>
    server.write(
      user,
      rawSql(
        `UPDATE business.users SET name = ${lit(name)} WHERE _sync_scope_id = ${lit(user)} AND id = '${id}'`,
      ),
    );
  /** Rows of `users` with `id` in the persisted image (what a reload would see). */
  const persistedUsers = async (persister: MemoryPersister, id: string) => {
    const image = await persister.load();
    if (!image) return 0;
    return inspectImage(image, (db) => sqliteCount(db, 'SELECT COUNT(*) FROM users WHERE id = ?', [id]));
  };
  /** Retries a lifecycle call that may collide with the background loop (`sync_in_progress`). */
  const whenIdle = <T>(call: () => Promise<T>) =>
    waitFor(() =>
      call().catch((error: unknown) => {
        if (isOversyncClientError(error, 'sync_in_progress')) return undefined;
        throw error;
      }),
    );

  beforeAll(async () => {
    server = await startClientServer();
  });
  afterAll(async () => {
    for (const d of open) await closeDevice(d).catch(() => undefined);
    await server.close();
  });

  // --- persistence -----------------------------------------------------------------------------

  it('flush() after a failed background save persists the app write (or rejects)', async () => {
    const persister = new FlakyPersister();
    const errors: unknown[] = [];
    const d = await device(userId('hz-flush'), { persister, onBackgroundError: (e) => errors.push(e) });
    persister.failures = 1;
    const id = addUser(d, 'Unsaved');
    await waitFor(() => errors.length === 1, { what: 'the failed debounced save' });
    // flush() promises "every pending save is durable". It resolves, so the write must be in the
    // image a reload would load (the failed save used to clear the pending flag, and flush() then
    // awaited only the settled chain: the row was lost on reload).
    await d.client.flush();
    expect(await persistedUsers(persister, id)).toBe(1);
  });

  it('flush() after the app commits its own long transaction persists its rows', async () => {
    const persister = new MemoryPersister();
    const d = await device(userId('hz-apptx'), { persister, onBackgroundError: () => undefined });
    d.db.run('BEGIN');
    const id = addUser(d, 'In app transaction');
    // The debounced export fires while the app transaction is open: sql.js refuses to export
    // ("SQLite is busy or locked") and the request is dropped.
    await sleep(50);
    d.db.run('COMMIT');
    await d.client.flush();
    expect(await persistedUsers(persister, id)).toBe(1);
  });

  it('sync() while the app holds an open transaction fails with app_transaction_open, then works after COMMIT', async () => {
    const d = await device(userId('hz-opentx'));
    d.db.run('BEGIN');
    addUser(d, 'Pending');
    const error = await failure(d.client.sync());
    d.db.run('COMMIT');
    // It used to be a bare Error "cannot start a transaction within a transaction" without a code.
    expect(isOversyncClientError(error, 'app_transaction_open')).toBe(true);
    expect((await d.client.sync()).pushOutcome).toBe('committed');
  });

  it('close() during pushPending waits for the push and persists its committed state', async () => {
    const persister = new MemoryPersister();
    const d = await device(userId('hz-close'), { persister });
    addUser(d, 'Closing');
    const push = d.client.pushPending();
    await d.client.close();
    expect(await push).toEqual({ outcome: 'committed' });
    const image = await persister.load();
    expect(image && (await inspectImage(image, syncState))).toMatchObject({
      dirty: 0,
      outbox: 0,
      lastBundleSeqSeen: 1,
      nextSourceBundleId: 2,
    });
    expect((await failure(d.client.pushPending())).code).toBe('client_closed');
  });

  it('start() after close() fails with client_closed instead of starting loops', async () => {
    const d = await device(userId('hz-start'));
    await d.client.close();
    let error: unknown;
    try {
      d.client.start();
    } catch (e) {
      error = e;
    } finally {
      await d.client.stop();
    }
    expect(isOversyncClientError(error, 'client_closed')).toBe(true);
  });

  // --- conflicts -------------------------------------------------------------------------------

  it('keep_merged with a row under another key is rejected, not written as a phantom row', async () => {
    const user = userId('hz-phantom');
    const a = await device(user);
    const id = addUser(a, 'Ada');
    await a.client.pushPending();
    const phantom = uuid();
    const resolver: ConflictResolver = (c) => ({
      action: 'keep_merged',
      row: { ...(c.serverRow ?? {}), id: phantom, name: 'Merged' },
    });
    const b = await device(user, { conflictResolver: resolver });
    await serverSetName(user, id, 'Server');
    rename(b, id, 'Local');
    const result: unknown = await b.client.sync().catch((e: unknown) => e);
    // It used to be upserted under the phantom key in apply mode (never captured, never pushed),
    // while the conflicting key was re-pushed with its old local value.
    expect(sqliteCount(b.db, 'SELECT COUNT(*) FROM users WHERE id = ?', [phantom])).toBe(0);
    expect(isOversyncClientError(result, 'invalid_conflict_resolution')).toBe(true);
  });

  it('edits made while a pull or a rebuild is in flight survive and are pushed (keep_local)', async () => {
    const user = userId('hz-inflight');
    const a = await device(user);
    const id = addUser(a, 'Ada');
    await a.client.sync();
    const faults = new FaultyFetch();
    const b = await device(user, { fetch: faults.fetch, conflictResolver: () => ({ action: 'keep_local' }) });
    rename(a, id, 'Peer');
    await a.client.sync();
    faults.fail({
      match: (c) => routeOf(c) === 'pull',
      when: 'pass',
      run: () => rename(b, id, 'During pull'),
    });
    expect((await b.client.pullToStable()).outcome).toBe('applied_incremental');
    expect(names(b)).toEqual(['During pull']);
    expect(syncState(b.db)).toMatchObject({ dirty: 1, lastBundleSeqSeen: 2 });
    expect((await b.client.sync()).pushOutcome).toBe('committed');
    expect(await serverNames(user)).toEqual(['During pull']);
    faults.fail({
      match: (c) => routeOf(c) === 'snapshot-chunk',
      when: 'pass',
      run: () => rename(b, id, 'During rebuild'),
    });
    expect((await b.client.rebuild()).outcome).toBe('applied_snapshot');
    expect(names(b)).toEqual(['During rebuild']);
    expect((await b.client.sync()).pushOutcome).toBe('committed');
    expect(await serverNames(user)).toEqual(['During rebuild']);
    await a.client.sync();
    expect(names(a)).toEqual(['During rebuild']);
  });

  // --- app schema next to managed tables ---------------------------------------------------------

  it('a snapshot rebuild keeps app-local rows that reference managed rows (ON DELETE CASCADE)', async () => {
    const user = userId('hz-cascade');
    const d = await device(user, {
      seed: (db) =>
        db.exec(
          'CREATE TABLE local_notes (id INTEGER PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE, body TEXT)',
        ),
    });
    const id = addUser(d, 'Ada');
    await d.client.sync();
    d.db.run("INSERT INTO local_notes (user_id, body) VALUES (?, 'a private, never synced note')", [id]);
    // The snapshot holds the very same users row. The rebuild used to clear every managed table
    // first, and the delete cascaded into the app's own table. The same rebuild runs automatically
    // when a pull meets history_pruned.
    expect(await d.client.rebuild()).toMatchObject({ outcome: 'applied_snapshot' });
    expect(sqliteCount(d.db, 'users')).toBe(1);
    expect(sqliteRows(d.db, 'SELECT body FROM local_notes')).toEqual([
      { body: 'a private, never synced note' },
    ]);
  });

  // --- values and keys ---------------------------------------------------------------------------

  it('text keys that are empty, quoted, multi-line, non-BMP or 5000 characters long round-trip', async () => {
    const user = userId('hz-keys');
    const a = await device(user);
    const keys = ['', 'a"b\\c', 'ключ 🔑', 'line\nbreak', '\u2028sep', 'x'.repeat(5000), 'null', ' padded '];
    for (const k of keys) a.db.run('INSERT INTO docs (doc_id, body) VALUES (?, ?)', [k, 'v1']);
    expect((await a.client.sync()).pushOutcome).toBe('committed');
    expect(syncState(a.db)).toMatchObject({ dirty: 0, outbox: 0 });
    expect(sqliteCount(a.db, '_sync_row_state')).toBe(keys.length);
    const b = await device(user);
    a.db.run("UPDATE docs SET body = 'v2'");
    await a.client.sync();
    await b.client.sync();
    const docs = (d: Device) => sqliteRows(d.db, 'SELECT doc_id, body FROM docs ORDER BY doc_id');
    expect(docs(b)).toEqual(docs(a));
    expect(docs(b).map((r) => r['body'])).toEqual(keys.map(() => 'v2'));
    expect(sqliteCount(b.db, '_sync_row_state')).toBe(keys.length);
    expect(syncState(a.db)).toMatchObject({ dirty: 0, outbox: 0 });
  });

  // --- server answers ----------------------------------------------------------------------------

  it('a row the server rejects for good does not wedge sync once the app removes it', async () => {
    const user = userId('hz-wedge');
    const d = await device(user);
    d.db.run("INSERT INTO users (id, name, email) VALUES ('not-a-uuid', 'Bad', 'b@x')");
    const first = await failure(d.client.sync());
    expect(first.message).toContain('push_chunk_invalid');
    // The app fixes its data: the bad row is deleted and a good one written.
    d.db.run("DELETE FROM users WHERE id = 'not-a-uuid'");
    addUser(d, 'Good');
    // The uncommitted bundle used to stay frozen with the bad row and be re-sent forever.
    expect((await d.client.sync()).pushOutcome).toBe('committed');
    expect(await serverNames(user)).toEqual(['Good']);
  });

  it('a row the server database refuses at commit goes back to the dirty set, named, and syncs once fixed', async () => {
    await server.pool.query(
      `ALTER TABLE business.users ADD CONSTRAINT hz_no_forbidden CHECK (name <> 'Forbidden')`,
    );
    try {
      const user = userId('hz-commit');
      const d = await device(user);
      addUser(d, 'Fine');
      const bad = addUser(d, 'Forbidden');
      const error = await failure(d.client.sync());
      // BUG: go-oversync's answer (500 push_session_commit_failed) left the bundle frozen for good:
      // every sync re-sent the refused row and the app could not reach it to fix it.
      expect(isOversyncClientError(error, 'push_rejected')).toBe(true);
      expect((error as Error & { details: Record<string, unknown> }).details).toMatchObject({
        status: 400,
        serverCode: 'push_commit_invalid',
        table: 'users',
        key: { id: bad },
      });
      expect(syncState(d.db)).toMatchObject({ dirty: 2, outbox: 0 });
      rename(d, bad, 'Allowed');
      expect((await d.client.sync()).pushOutcome).toBe('committed');
      expect(await serverNames(user)).toEqual(['Allowed', 'Fine']);
    } finally {
      await server.pool.query('ALTER TABLE business.users DROP CONSTRAINT hz_no_forbidden');
    }
  });

  // --- lifecycle -------------------------------------------------------------------------------

  it('after a user switch under background sync, the new user’s remote changes arrive promptly', async () => {
    const alice = userId('hz-alice');
    const bob = userId('hz-bob');
    let token = alice;
    const faults = new FaultyFetch();
    const d = await device(alice, { getToken: () => token, fetch: faults.fetch, background: NO_POLLING });
    d.client.start();
    await waitFor(() => faults.count('watch') === 1, { what: 'Alice’s watch stream' });
    expect(await whenIdle(() => d.client.detach())).toMatchObject({ outcome: 'detached' });
    token = bob;
    const bobPhone = await device(bob);
    addUser(bobPhone, 'Bob first');
    await bobPhone.client.sync();
    expect(await whenIdle(() => d.client.attach(bob))).toMatchObject({ outcome: 'used_remote_state' });
    expect(names(d)).toEqual(['Bob first']);
    addUser(bobPhone, 'Bob second');
    await bobPhone.client.sync();
    // A watching device applies a peer bundle within milliseconds (P9). The sync loop used to keep
    // sleeping (nothing kicked it on attach) and the watch loop kept Alice's stream, so Bob's
    // bundle only arrived on the fallback timer.
    const arrived = await waitFor(() => names(d).includes('Bob second'), { timeoutMs: 3000 }).catch(
      () => false,
    );
    expect({ arrived, watchOpens: faults.count('watch') }).toMatchObject({ arrived: true });
    await d.client.stop();
  });
});
