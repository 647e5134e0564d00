import { createRuntime, type ClientRuntime } from './client-runtime.js';
import { StatusEmitter } from './client-status.js';
import { AsyncMutex } from './db/async-mutex.js';
import {
  ClientClosedError,
  DatabaseUnreadableError,
  DestructiveTransitionInProgressError,
  InvalidConfigError,
  OpenRequiredError,
  SyncInProgressError,
} from './errors/lifecycle.errors.js';
import {
  resolveClientOptions,
  type OversyncClientOptions,
  type ResolvedClientOptions,
} from './oversync-client.options.js';
import {
  type PullResult,
  type PushResult,
  type SourceInfo,
  type SyncOperationName,
  type SyncResult,
  type SyncStatusListener,
} from './oversync-client.types.js';
import { attachUser, refuseConflictingAttach, type AttachResult } from './sync/attach.js';
import { backgroundDeps } from './sync/background-deps.js';
import { BackgroundSync } from './sync/background-sync.js';
import {
  detachUser,
  openSource,
  pendingStatus,
  type DetachResult,
  type PendingSyncStatus,
} from './sync/lifecycle.js';
import { requireConnected, requireNoLocalIntent, requireNoRecovery } from './sync/preconditions.js';
import { rotatedRebuild } from './sync/rebuild.js';
import { hasInterruptedRebuild, keepSourceRebuildOrResume } from './sync/rebuild-resume.js';
import { withSignal, type SyncContext, type SyncSession } from './sync/sync-context.js';
import { backgroundSyncCycle, pullUnlessPaused, pushUnlessPaused, syncCycle } from './sync/sync-cycle.js';

/**
 * Offline-first sync of a sql.js database with an Oversync (go-oversync v1) server.
 *
 * Local writes to the managed tables are captured by SQLite triggers; `pushPending()` uploads them
 * as one idempotent bundle, `pullToStable()` applies complete remote bundles, and `start()` keeps
 * both running in the background (using `/sync/watch` when the server offers it). Every public
 * operation takes a fail-fast client lock: a second call while one runs fails with
 * `sync_in_progress`.
 *
 * @example
 * ```ts
 * const SQL = await initSqlJs();
 * const persistence = new IndexedDbPersister({ key: 'todos' });
 * const db = new SQL.Database((await persistence.load()) ?? undefined);
 * db.run('CREATE TABLE IF NOT EXISTS todos (id TEXT PRIMARY KEY, title TEXT, done INTEGER)');
 *
 * const client = new OversyncClient({
 *   db,
 *   sqlJs: SQL, // optional: much faster large pulls and snapshots
 *   baseUrl: 'https://api.example.com',
 *   getToken: () => auth.token(),
 *   schema: 'business',
 *   tables: [{ table: 'todos', syncKeyColumn: 'id' }],
 *   persistence,
 * });
 * await client.open();
 * await client.attach(userId);
 * db.run("INSERT INTO todos VALUES ('t1', 'Write docs', 0)");
 * await client.sync();
 * client.start(); // background sync
 * ```
 */
export class OversyncClient {
  readonly #options: ResolvedClientOptions;
  readonly #mutex = new AsyncMutex();
  readonly #session: SyncSession = {
    sourceId: '',
    userId: '',
    connected: false,
    uploadsPaused: false,
    downloadsPaused: false,
    capabilities: undefined,
  };
  readonly #status: StatusEmitter;
  /** The persister's revision of the image `db` was loaded from, recorded before any save. */
  readonly #loadedRevision: string | null | undefined;
  #runtime: ClientRuntime | undefined;
  #background: BackgroundSync | undefined;
  #closed = false;
  /** The first `close()`; later calls share its outcome. */
  #closing: Promise<void> | undefined;

  /**
   * Validates options. Nothing touches the database until {@link OversyncClient.open}.
   *
   * @throws InvalidConfigError for missing or invalid options.
   */
  constructor(options: OversyncClientOptions) {
    this.#options = resolveClientOptions(options);
    this.#status = new StatusEmitter(this.#options.onBackgroundError);
    // Apps construct the client right after loading the image, so this is the loaded revision.
    this.#loadedRevision = this.#options.persistence?.knownRevision?.();
  }

  /**
   * Claims the database (one owner per database), installs metadata tables and triggers, and
   * restores or creates the source identity. Idempotent; after every `open()` the session is not
   * connected until `attach()`.
   *
   * @throws DatabaseLockedError when another client owns the database.
   * @throws StaleImageError when the persisted image changed after `db` was loaded from it (e.g.
   *   another tab saved it before releasing the lock): load it again and create a new `Database`
   *   and client. Nothing was saved.
   * @throws InvalidConfigError when the tables do not qualify for sync.
   * @throws DatabaseUnreadableError when SQLite cannot read `db` (a damaged persisted image).
   */
  async open(): Promise<void> {
    await this.#exclusive('open', async () => {
      if (!this.#runtime) {
        const installWriteHook = () => {
          if (this.#options.observeWrites)
            this.#options.db.updateHook((_op, _db, table) => this.#onWrite(table));
        };
        this.#runtime = await createRuntime(
          this.#options,
          this.#session,
          installWriteHook,
          this.#loadedRevision,
        ).catch((error: unknown) => {
          throw DatabaseUnreadableError.from(error) ?? error;
        });
        installWriteHook();
      }
      openSource(this.#runtime.ctx);
      await this.#runtime.ctx.persist();
    });
  }

  /**
   * Binds the database to `userId` and connects. Resuming the same user works offline.
   *
   * @returns `connected` with an outcome, or `retry_later` with `retryAfterSeconds`.
   * @throws OpenRequiredError, AttachBindingConflictError, AttachLifecycleUnsupportedError, …
   */
  async attach(userId: string): Promise<AttachResult> {
    const result = await this.#operation('attach', async () => {
      const ctx = this.#opened('attach');
      if (!userId.trim()) throw new InvalidConfigError('attach(userId) needs a non-blank userId');
      // Before openSource, which disconnects the session: a refused attach must leave the attached
      // user's session (and its background sync) as it was.
      refuseConflictingAttach(ctx, userId);
      openSource(ctx);
      return attachUser(ctx, userId);
    });
    // After the lock is released, so the woken background sync does not meet sync_in_progress.
    if (result.status === 'connected') this.#background?.sessionChanged();
    return result;
  }

  /** Unbinds the user and clears synced data, unless unsynced data blocks it (a result, not an error). */
  async detach(): Promise<DetachResult> {
    const result = await this.#operation('detach', () => detachUser(this.#opened('detach')));
    // The watch stream was opened with the detached user's token and checkpoint: close it now.
    if (result.outcome === 'detached') this.#background?.sessionChanged();
    return result;
  }

  /**
   * Pushes pending local changes as at most one bundle.
   *
   * @throws ConflictPullRequiredError when a `keep_merged` resolution references a parent row not
   *   pulled yet; every change is pending again, and `sync()` pulls first and applies it.
   */
  pushPending(): Promise<PushResult> {
    return this.#operation('push', async () => ({
      outcome: await pushUnlessPaused(this.#gated('pushPending')),
    }));
  }

  /** Pulls and applies remote bundles up to the server's stable point. */
  pullToStable(): Promise<PullResult> {
    return this.#operation('pull', () => pullUnlessPaused(this.#gated('pullToStable')));
  }

  /**
   * Push (repeated while edits made during the push remain, at most 3 rounds) then pull.
   * Paused directions report `skipped_paused`. A `keep_merged` resolution whose row references a
   * parent not pulled yet makes it pull first and push again (at most twice).
   *
   * @throws ConflictPullRequiredError when that resolution still waits (downloads paused, or the
   *   server kept moving the row); every change stays pending.
   */
  sync(): Promise<SyncResult> {
    return this.#sync(undefined);
  }

  /**
   * Rebuilds local synced data from a server snapshot. While source recovery is pending this also
   * rotates the source identity, keeping every pending local change. After a rebuild that was cut
   * short (`rebuild_required`), it resumes that rebuild: local edits made since are kept, and a
   * committed bundle whose replay was pruned is finished as the interrupted rebuild would have.
   *
   * @throws DirtyStateRejectedError, PendingPushReplayError for a fresh rebuild with unpushed changes.
   */
  rebuild(): Promise<PullResult> {
    return this.#operation('rebuild', async () => {
      const ctx = requireConnected(this.#runtime?.ctx, 'rebuild');
      const kind = ctx.store.operation().kind;
      if (kind === 'remote_replace') throw new DestructiveTransitionInProgressError(kind);
      if (kind !== 'source_recovery' && !hasInterruptedRebuild(ctx)) requireNoLocalIntent(ctx);
      if (this.#session.downloadsPaused) return { outcome: 'skipped_paused' };
      const restore =
        kind === 'source_recovery' ? await rotatedRebuild(ctx) : await keepSourceRebuildOrResume(ctx);
      return { outcome: 'applied_snapshot', restore };
    });
  }

  /** Counts pending local data (dirty rows, outbox rows, pending seed). */
  pendingSyncStatus(): PendingSyncStatus {
    this.#ensureNotClosed('pendingSyncStatus');
    return pendingStatus(this.#opened('pendingSyncStatus'));
  }

  /** The durable pull checkpoint. */
  lastBundleSeqSeen(): number {
    this.#ensureNotClosed('lastBundleSeqSeen');
    return requireConnected(this.#runtime?.ctx, 'lastBundleSeqSeen').store.attachment().lastBundleSeqSeen;
  }

  /** Debug view of the source identity and recovery state. */
  sourceInfo(): SourceInfo {
    this.#ensureNotClosed('sourceInfo');
    const ctx = this.#opened('sourceInfo');
    const operation = ctx.store.operation();
    const recovery = operation.kind === 'source_recovery';
    return {
      sourceId: this.#session.sourceId,
      rebuildRequired: ctx.store.attachment().rebuildRequired,
      sourceRecoveryRequired: recovery,
      ...(recovery && { sourceRecoveryReason: operation.reason }),
    };
  }

  /** Pauses or resumes the push direction (in memory). */
  setUploadsPaused(paused: boolean): void {
    this.#session.uploadsPaused = paused;
  }

  /** Pauses or resumes the pull direction (in memory). */
  setDownloadsPaused(paused: boolean): void {
    this.#session.downloadsPaused = paused;
  }

  /**
   * Subscribes to status changes.
   *
   * @returns a function that unsubscribes.
   */
  onStatus(listener: SyncStatusListener): () => void {
    return this.#status.subscribe(listener);
  }

  /**
   * Starts background sync (watch stream when supported, polling otherwise). Idempotent. The loops
   * follow `attach()` and `detach()`: a user switch closes the previous user's watch stream and
   * syncs the new user at once.
   *
   * @throws ClientClosedError after `close()`.
   * @throws OpenRequiredError before `open()`.
   */
  start(): void {
    this.#ensureNotClosed('start');
    const ctx = this.#opened('start');
    this.#background ??= new BackgroundSync(
      backgroundDeps(ctx, (signal) => this.#sync(signal), this.#options.onBackgroundError),
      this.#options.background,
    );
    this.#background.start();
  }

  /**
   * Stops background sync: aborts its sleeps and its requests in flight, and resolves once its
   * loops have returned (so the next call does not meet `sync_in_progress`). Every call made while
   * a stop is settling resolves with it.
   */
  async stop(): Promise<void> {
    await this.#background?.stop();
  }

  /**
   * Persists the latest image now and waits until every pending save is durable. With
   * `observeWrites: false` the client cannot see app writes, so this always exports.
   *
   * @throws the persister's error when the image could not be saved (also a failed background save).
   * @throws {@link ClientClosedError} after `close()`: the image may belong to another client by
   *   then (one that opened the same persisted database), and saving it would overwrite that one's.
   */
  async flush(): Promise<void> {
    this.#ensureNotClosed('flush');
    const runtime = this.#runtime;
    if (runtime) await this.#flushExports(runtime);
  }

  /**
   * Stops background work (aborting its requests), waits for the running operation (whose every
   * request is bounded by `requestTimeoutMs`), flushes, and releases the ownership lock, the
   * update hook and what the persister holds open (its IndexedDB connection). The app's database
   * stays open. Idempotent: every call returns the first call's promise, so each caller resolves
   * only once the client is closed (and rejects with its error).
   *
   * @throws the persister's error when the final image could not be saved; the lock is released anyway.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  // --- internals -------------------------------------------------------------------------------

  /**
   * `sync()`, with every request also aborted by `signal` (background sync, ended by `stop()`).
   * Background sync first resumes a rebuild that was cut short (see {@link backgroundSyncCycle});
   * a foreground `sync()` keeps go-oversync's contract and fails with `rebuild_required`.
   */
  #sync(signal: AbortSignal | undefined): Promise<SyncResult> {
    return this.#operation('sync', () => {
      if (!signal) return syncCycle(this.#gated('sync'));
      return backgroundSyncCycle(withSignal(requireConnected(this.#runtime?.ctx, 'sync'), signal));
    });
  }

  async #close(): Promise<void> {
    // Set before the first await: from here on every new operation is refused.
    this.#closed = true;
    await this.stop();
    await this.#mutex.idle();
    const runtime = this.#runtime;
    if (!runtime) return;
    try {
      await this.#flushExports(runtime);
    } finally {
      if (this.#options.observeWrites) this.#options.db.updateHook(null);
      runtime.ctx.db.clearStatementCache();
      runtime.exports.dispose();
      runtime.lease.release();
      // Lets IndexedDB close its connection, so the app's deleteDatabase or upgrade is not blocked.
      this.#options.persistence?.release?.();
      this.#session.connected = false;
    }
  }

  /** Without the update hook no app write marks the image dirty, so every flush exports. */
  #flushExports(runtime: ClientRuntime): Promise<void> {
    return this.#options.observeWrites ? runtime.exports.flush() : runtime.exports.persistNow();
  }

  #ensureNotClosed(operation: string): void {
    if (this.#closed) throw new ClientClosedError(operation);
  }

  #opened(operation: string): SyncContext {
    const ctx = this.#runtime?.ctx;
    if (!ctx || !this.#session.sourceId) throw new OpenRequiredError(operation);
    return ctx;
  }

  #gated(operation: string): SyncContext {
    const ctx = requireConnected(this.#runtime?.ctx, operation);
    requireNoRecovery(ctx);
    return ctx;
  }

  #onWrite(table: string): void {
    const runtime = this.#runtime;
    // Writes inside the client's own (synchronous) transactions are persisted explicitly.
    if (!runtime || runtime.ctx.db.inTransaction) return;
    runtime.exports.schedule();
    if (table === '_sync_dirty_rows' || runtime.ctx.tables.has(table.toLowerCase())) {
      this.#background?.notifyLocalChange();
    }
  }

  async #exclusive<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    this.#ensureNotClosed(operation);
    const release = this.#mutex.tryAcquire(operation);
    if (!release) throw new SyncInProgressError(operation, this.#mutex.holder);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  #operation<T>(name: SyncOperationName, fn: () => Promise<T>): Promise<T> {
    return this.#status.track(
      name,
      (body) => this.#exclusive(name, body),
      fn,
      () => {
        const ctx = this.#runtime?.ctx;
        return {
          lastBundleSeqSeen: ctx ? ctx.store.attachment().lastBundleSeqSeen : 0,
          pendingRowCount: ctx ? pendingStatus(ctx).pendingRowCount : 0,
        };
      },
    );
  }
}
