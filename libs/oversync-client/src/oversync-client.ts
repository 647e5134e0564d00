import { createRuntime, type ClientRuntime } from './client-runtime.js';
import { StatusEmitter } from './client-status.js';
import { AsyncMutex } from './db/async-mutex.js';
import {
  ClientClosedError,
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
import { attachUser, type AttachResult } from './sync/attach.js';
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
import { pullToStable } from './sync/pull.js';
import { pushPending, type PushOutcome } from './sync/push.js';
import { keepSourceRebuild, rotatedRebuild } from './sync/rebuild.js';
import { type SyncContext, type SyncSession } from './sync/sync-context.js';

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
  #runtime: ClientRuntime | undefined;
  #background: BackgroundSync | undefined;
  #closed = false;

  /**
   * Validates options. Nothing touches the database until {@link OversyncClient.open}.
   *
   * @throws InvalidConfigError for missing or invalid options.
   */
  constructor(options: OversyncClientOptions) {
    this.#options = resolveClientOptions(options);
    this.#status = new StatusEmitter(this.#options.onBackgroundError);
  }

  /**
   * Claims the database (one owner per database), installs metadata tables and triggers, and
   * restores or creates the source identity. Idempotent; after every `open()` the session is not
   * connected until `attach()`.
   *
   * @throws DatabaseLockedError when another client owns the database.
   * @throws InvalidConfigError when the tables do not qualify for sync.
   */
  async open(): Promise<void> {
    await this.#exclusive('open', async () => {
      if (!this.#runtime) {
        const installWriteHook = () => {
          if (this.#options.observeWrites)
            this.#options.db.updateHook((_op, _db, table) => this.#onWrite(table));
        };
        this.#runtime = await createRuntime(this.#options, this.#session, installWriteHook);
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

  /** Pushes pending local changes as at most one bundle. */
  pushPending(): Promise<PushResult> {
    return this.#operation('push', async () => ({ outcome: await this.#push(this.#gated('pushPending')) }));
  }

  /** Pulls and applies remote bundles up to the server's stable point. */
  pullToStable(): Promise<PullResult> {
    return this.#operation('pull', () => this.#pull(this.#gated('pullToStable')));
  }

  /**
   * Push (repeated while edits made during the push remain, at most 3 rounds) then pull.
   * Paused directions report `skipped_paused`.
   */
  sync(): Promise<SyncResult> {
    return this.#operation('sync', async () => {
      const ctx = this.#gated('sync');
      let pushOutcome: PushOutcome = 'skipped_paused';
      if (!this.#session.uploadsPaused) {
        pushOutcome = await pushPending(ctx);
        for (let round = 1; round < 3 && this.#hasLocalIntent(ctx); round++) {
          if ((await pushPending(ctx)) === 'committed') pushOutcome = 'committed';
        }
      }
      // Rows written while this sync was pushing may remain dirty; the pull keeps their local
      // values and intents (see applyBundle), so only a frozen outbox would block it.
      const remote = await this.#pull(ctx, true);
      return {
        pushOutcome,
        remoteOutcome: remote.outcome,
        ...(remote.restore && { restore: remote.restore }),
      };
    });
  }

  /**
   * Rebuilds local synced data from a server snapshot. While source recovery is pending this also
   * rotates the source identity, keeping every pending local change.
   */
  rebuild(): Promise<PullResult> {
    return this.#operation('rebuild', async () => {
      const ctx = requireConnected(this.#runtime?.ctx, 'rebuild');
      const kind = ctx.store.operation().kind;
      if (kind === 'remote_replace') throw new DestructiveTransitionInProgressError(kind);
      if (kind !== 'source_recovery') requireNoLocalIntent(ctx);
      if (this.#session.downloadsPaused) return { outcome: 'skipped_paused' };
      const restore = kind === 'source_recovery' ? await rotatedRebuild(ctx) : await keepSourceRebuild(ctx);
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
      backgroundDeps(ctx, () => this.sync(), this.#options.onBackgroundError),
      this.#options.background,
    );
    this.#background.start();
  }

  /** Stops background sync and waits for its loops to settle. */
  async stop(): Promise<void> {
    await this.#background?.stop();
  }

  /** Persists coalesced app writes now and waits until every pending save is durable. */
  async flush(): Promise<void> {
    await this.#runtime?.exports.flush();
  }

  /**
   * Stops background work, waits for the running operation, flushes, and releases the ownership
   * lock and the update hook. The app's database stays open. Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.stop();
    await this.#mutex.idle();
    const runtime = this.#runtime;
    if (!runtime) return;
    try {
      await runtime.exports.flush();
    } finally {
      if (this.#options.observeWrites) this.#options.db.updateHook(null);
      runtime.ctx.db.clearStatementCache();
      runtime.exports.dispose();
      runtime.lease.release();
      this.#session.connected = false;
    }
  }

  // --- internals -------------------------------------------------------------------------------

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

  #hasLocalIntent(ctx: SyncContext): boolean {
    return ctx.store.dirtyCount() > 0 || ctx.store.outboxRowCount() > 0;
  }

  async #push(ctx: SyncContext): Promise<PushOutcome> {
    return this.#session.uploadsPaused ? 'skipped_paused' : pushPending(ctx);
  }

  async #pull(ctx: SyncContext, allowDirty = false): Promise<PullResult> {
    if (this.#session.downloadsPaused) return { outcome: 'skipped_paused' };
    requireNoLocalIntent(ctx, allowDirty);
    return pullToStable(ctx);
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
    return this.#exclusive(name, () =>
      this.#status.track(name, fn, () => {
        const ctx = this.#runtime?.ctx;
        return {
          lastBundleSeqSeen: ctx ? ctx.store.attachment().lastBundleSeqSeen : 0,
          pendingRowCount: ctx ? pendingStatus(ctx).pendingRowCount : 0,
        };
      }),
    );
  }
}
