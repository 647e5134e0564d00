import {
  IndexedDbPersister,
  isOversyncClientError,
  OversyncClient,
  type OversyncPersister,
  type SyncOperationName,
  type SyncStatusEvent,
} from '@oversync/client';
import initSqlJs, { type Database, type SqlJsStatic } from 'sql.js';
import { type StoredLogin } from './auth.js';
import { ConflictLog, type ConflictPolicy } from './conflict-log.js';
import { LOCAL_SCHEMA_SQL, SERVER_SCHEMA, SYNC_TABLES } from './local-schema.js';
import { PostsRepo } from './posts.repo.js';

/** What the page shows about sync. */
export interface SessionState {
  /** `starting` until attach finished (the first attach downloads a snapshot). */
  phase: 'starting' | 'ready';
  online: boolean;
  status: 'idle' | 'syncing' | 'synced' | 'error';
  operation: SyncOperationName | undefined;
  /** True while the first snapshot (or a rebuild) downloads. */
  downloading: boolean;
  pendingRowCount: number;
  lastSyncAt: Date | undefined;
  lastBundleSeq: number;
  error: string | undefined;
}

const OFFLINE_KEY = 'oversync-demo:offline';

/** Where the time of `userId`'s last sync on this device is kept across reloads. */
const lastSyncKey = (userId: string) => `oversync-demo:last-sync:${userId}`;

function storedLastSync(userId: string | undefined): Date | undefined {
  const value = userId === undefined ? null : localStorage.getItem(lastSyncKey(userId));
  const date = value === null ? undefined : new Date(value);
  return date && !Number.isNaN(date.getTime()) ? date : undefined;
}

/**
 * The state of a session that has not connected yet: the remembered Online/Offline switch and,
 * for `userId`, when this device last synced.
 */
export function initialState(userId?: string): SessionState {
  return {
    phase: 'starting',
    online: localStorage.getItem(OFFLINE_KEY) !== '1',
    status: 'idle',
    operation: undefined,
    downloading: false,
    pendingRowCount: 0,
    lastSyncAt: storedLastSync(userId),
    lastBundleSeq: 0,
    error: undefined,
  };
}

/** Loads of the image before giving up when other tabs keep replacing it (`stale_image`). */
const MAX_OPEN_ATTEMPTS = 3;
let sqlJs: Promise<SqlJsStatic> | undefined;

/** sql.js (browser build) with its WebAssembly served by the demo server at `/sql-wasm.wasm`. */
function loadSqlJs(baseUrl: string): Promise<SqlJsStatic> {
  sqlJs ??= initSqlJs({ locateFile: () => `${baseUrl}/sql-wasm.wasm` });
  return sqlJs;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A save of the local database that the browser refused (storage full, IndexedDB unavailable). */
class LocalSaveError extends Error {
  constructor(readonly reason: unknown) {
    super(reason instanceof Error ? reason.message : String(reason));
  }
}

/**
 * The IndexedDB persister, with every failed save marked as a {@link LocalSaveError}, so the page
 * can tell "not saved on this device" apart from sync errors wherever the failure surfaces (a
 * write, a debounced save, or the save the sync engine makes before each request).
 */
class DemoPersister implements OversyncPersister {
  readonly lockName: string;

  constructor(private readonly inner: IndexedDbPersister) {
    this.lockName = inner.lockName;
  }

  load(): Promise<Uint8Array | null> {
    return this.inner.load();
  }

  async save(image: Uint8Array): Promise<void> {
    try {
      await this.inner.save(image);
    } catch (error) {
      throw new LocalSaveError(error);
    }
  }

  clear(): Promise<void> {
    return this.inner.clear();
  }

  knownRevision(): string | null | undefined {
    return this.inner.knownRevision();
  }

  storedRevision(): Promise<string | null> {
    return this.inner.storedRevision();
  }

  release(): void {
    this.inner.release();
  }
}

function message(error: unknown): string {
  if (error instanceof LocalSaveError) {
    const reason = error.reason;
    const detail = reason instanceof Error ? `${reason.name}: ${reason.message}` : String(reason);
    return `Changes not saved on this device (${detail}). They are only in this tab until a save succeeds: reloading or closing it loses them.`;
  }
  if (isOversyncClientError(error, 'http_status') && error.details['status'] === 401) {
    return 'The server no longer accepts this sign-in (its JWT_SECRET changed or the token expired): sign out and in again.';
  }
  if (isOversyncClientError(error)) return `${error.code}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

/**
 * One signed-in user's local database (sql.js, saved to IndexedDB per user) and its
 * `OversyncClient`: attach, background sync with watch, the offline switch and local writes.
 */
export class DemoSession {
  readonly state: SessionState;
  readonly repo: PostsRepo;
  readonly conflicts: ConflictLog;
  #closed = false;
  /** The page's message for a failed save, until a save succeeds. */
  #saveError: string | undefined;

  private constructor(
    readonly login: StoredLogin,
    private readonly db: Database,
    private readonly client: OversyncClient,
    conflicts: ConflictLog,
    private readonly firstRun: boolean,
    private readonly onChange: () => void,
  ) {
    this.repo = new PostsRepo(db);
    this.conflicts = conflicts;
    this.state = initialState(login.userId);
    client.onStatus((event) => this.#onStatus(event));
    conflicts.onChange(onChange);
  }

  /**
   * Loads the user's saved database (or creates it) and opens the client; call
   * {@link DemoSession.connect} next.
   */
  static async open(
    baseUrl: string,
    login: StoredLogin,
    policy: () => ConflictPolicy,
    onChange: () => void,
  ): Promise<DemoSession> {
    const SQL = await loadSqlJs(baseUrl);
    for (let attempt = 1; ; attempt++) {
      const persistence = new DemoPersister(
        new IndexedDbPersister({ databaseName: 'oversync-demo', key: `user:${login.userId}` }),
      );
      const image = await persistence.load();
      const db = new SQL.Database(image ?? undefined);
      let client: OversyncClient | undefined;
      try {
        db.run(LOCAL_SCHEMA_SQL);
        const conflicts = new ConflictLog(policy);
        // Background errors can only arrive after open(), when the session exists.
        const sink: { session?: DemoSession } = {};
        client = new OversyncClient({
          db,
          sqlJs: SQL,
          baseUrl,
          getToken: () => login.token,
          schema: SERVER_SCHEMA,
          tables: SYNC_TABLES,
          persistence,
          conflictResolver: conflicts.resolver,
          onBackgroundError: (error) => sink.session?.reportError(error),
        });
        const session = new DemoSession(login, db, client, conflicts, image === null, onChange);
        sink.session = session;
        await client.open();
        session.#refreshPending();
        return session;
      } catch (error) {
        // Nothing else will close them: the client (its lock, if it got that far) and the
        // Database, whose memory lives in sql.js's WebAssembly heap.
        await client?.close().catch(() => undefined);
        db.close();
        // Another tab saved the image between our load and our lock: load it again.
        if (attempt < MAX_OPEN_ATTEMPTS && isOversyncClientError(error, 'stale_image')) continue;
        throw error;
      }
    }
  }

  /** Attaches the user (retrying while the server asks to), then syncs in the background when online. */
  async connect(): Promise<void> {
    for (let delay = 1000; !this.#closed; delay = Math.min(delay * 2, 30_000)) {
      try {
        const result = await this.client.attach(this.login.userId);
        if (result.status === 'connected') break;
        this.state.error = `The server is preparing this account; retrying in ${result.retryAfterSeconds} s.`;
        this.onChange();
        await sleep(result.retryAfterSeconds * 1000);
      } catch (error) {
        this.#fail(error);
        await sleep(delay);
      }
    }
    if (this.#closed) return;
    this.state.phase = 'ready';
    this.state.downloading = false;
    await this.setOnline(this.state.online);
  }

  /** Online: background sync (watch stream + pushes on local writes). Offline: both directions paused. */
  async setOnline(online: boolean): Promise<void> {
    this.state.online = online;
    localStorage.setItem(OFFLINE_KEY, online ? '0' : '1');
    this.client.setUploadsPaused(!online);
    this.client.setDownloadsPaused(!online);
    if (this.state.phase === 'ready') {
      if (online) {
        // Restarting resets the error backoff, so a reconnect syncs at once.
        await this.client.stop();
        this.client.start();
      } else await this.client.stop();
    }
    this.onChange();
  }

  /**
   * Runs a local write, waits until it is saved to IndexedDB, and updates the page. A save the
   * browser refuses (storage full) is reported on the page: the change is then only in this tab.
   */
  async write(change: (repo: PostsRepo) => void): Promise<void> {
    change(this.repo);
    try {
      await this.client.flush();
      if (this.state.error === this.#saveError) this.state.error = undefined;
      this.#saveError = undefined;
    } catch (error) {
      this.#fail(error instanceof LocalSaveError ? error : new LocalSaveError(error));
      this.#saveError = this.state.error;
    } finally {
      this.#refreshPending();
      this.onChange();
    }
  }

  /** Stops sync and saves; the local database stays in IndexedDB for the next sign-in. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.client.close();
    this.db.close();
  }

  #refreshPending(): void {
    if (this.#closed) return;
    this.state.pendingRowCount = this.client.pendingSyncStatus().pendingRowCount;
  }

  /** Shows a background error (a failed sync retries by itself). */
  reportError(error: unknown): void {
    this.#fail(error);
  }

  #fail(error: unknown): void {
    if (isOversyncClientError(error, 'sync_in_progress')) return;
    this.state.status = 'error';
    this.state.error = message(error);
    this.onChange();
  }

  #onStatus(event: SyncStatusEvent): void {
    if (this.#closed) return;
    this.state.operation = event.operation;
    if (event.state === 'syncing') {
      this.state.status = 'syncing';
      if ((event.operation === 'attach' && this.firstRun) || event.operation === 'rebuild') {
        this.state.downloading = true;
      }
    } else if (event.state === 'synced') {
      this.state.status = 'synced';
      this.state.downloading = false;
      this.state.error = undefined;
      this.state.lastBundleSeq = event.lastBundleSeqSeen;
      // Paused directions do not count as a sync with the server.
      if (this.state.online) {
        this.state.lastSyncAt = new Date();
        localStorage.setItem(lastSyncKey(this.login.userId), this.state.lastSyncAt.toISOString());
      }
      this.state.pendingRowCount = event.pendingRowCount;
    } else {
      this.state.downloading = false;
      this.#fail(event.error);
    }
    this.#refreshPending();
    this.onChange();
  }
}
