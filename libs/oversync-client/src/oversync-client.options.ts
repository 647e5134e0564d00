import type { Database, SqlJsStatic } from 'sql.js';

import { type OversyncPersister } from './db/persister.types.js';
import { InvalidConfigError } from './errors/lifecycle.errors.js';
import { type SyncTableConfig } from './schema/table-spec.js';
import { type BackgroundSyncOptions } from './sync/background-sync.js';
import { type ConflictResolver, serverWins } from './sync/conflict.types.js';
import { type FetchLike } from './transport/http-transport.js';
import { resolveRetryPolicy, type ResolvedRetryPolicy, type RetryPolicy } from './transport/retry-policy.js';

/** Options of {@link OversyncClient}. */
export interface OversyncClientOptions {
  /** The sql.js database in which the app created its tables. The client never closes it. */
  db: Database;
  /**
   * The sql.js module that opened `db` (what `initSqlJs()` resolved with). Optional; with it, large
   * pulls and snapshots bind their multi-row statements through one WebAssembly allocation per
   * batch instead of one per value, which makes them much faster. Without it (or with another
   * module's instance) they use sql.js's own `Statement.run`, with the same results.
   */
  sqlJs?: SqlJsStatic;
  /** Server base URL, e.g. `https://api.example.com` (routes are appended as `/sync/...`). */
  baseUrl: string;
  /** Returns the bearer token; called for every request. */
  getToken: () => string | Promise<string>;
  /** Server schema name sent with every row; exactly one per local database. */
  schema: string;
  /** Managed tables and their single sync key column (TEXT, or BLOB holding a 16-byte UUID). */
  tables: readonly SyncTableConfig[];
  /**
   * `fetch` implementation.
   * @default globalThis.fetch
   */
  fetch?: FetchLike;
  /** Where the exported database image is saved. Without one, nothing survives a restart. */
  persistence?: OversyncPersister;
  /**
   * Decides push conflicts.
   * @default serverWins
   */
  conflictResolver?: ConflictResolver;
  /**
   * Rows per push chunk.
   * @default 1000
   */
  uploadChunkRows?: number;
  /**
   * `max_bundles` per pull request and `max_rows` per committed-bundle page.
   * @default 1000
   */
  downloadLimit?: number;
  /**
   * `max_rows` per snapshot page.
   * @default 1000
   */
  snapshotChunkRows?: number;
  /**
   * Retry policy for transient failures; `false` disables retries.
   * @default { enabled: true, maxAttempts: 3, initialBackoffMs: 100, maxBackoffMs: 1000, jitterFraction: 0.2 }
   */
  retry?: RetryPolicy | false;
  /**
   * Longest time one HTTP request may take, from asking `getToken` for the token until its answer
   * is read (for the `/sync/watch` stream: until its headers arrive). A request that takes longer
   * is aborted and fails with `network_error` (`details.timeoutMs` set), which the retry policy
   * retries like a lost connection. Without it a half-open connection would hold the client lock,
   * and with it `stop()`/`close()`, forever. Every step is persisted before each request, so an
   * aborted request only costs a resend.
   * @default 120000 (go-oversync's HTTP client timeout)
   */
  requestTimeoutMs?: number;
  /** Background sync tuning for `start()`. */
  background?: BackgroundSyncOptions;
  /**
   * Delay that coalesces exports after app writes.
   * @default 250
   */
  exportDebounceMs?: number;
  /**
   * Ownership lock name (Web Locks across tabs, registry in-process).
   * @default persistence.lockName
   */
  lockName?: string;
  /**
   * Watch app writes through sql.js `updateHook` to schedule exports and background pushes. The
   * hook slot of the `Database` is then owned by the client until `close()`.
   * @default true
   */
  observeWrites?: boolean;
  /** Receives errors of background work (debounced exports, background sync). */
  onBackgroundError?: (error: unknown) => void;
}

/** Options with defaults applied. */
export interface ResolvedClientOptions {
  readonly db: Database;
  readonly sqlJs: SqlJsStatic | undefined;
  readonly baseUrl: string;
  readonly getToken: () => string | Promise<string>;
  readonly schema: string;
  readonly tables: readonly SyncTableConfig[];
  readonly fetch: FetchLike;
  readonly persistence: OversyncPersister | undefined;
  readonly conflictResolver: ConflictResolver;
  readonly uploadChunkRows: number;
  readonly downloadLimit: number;
  readonly snapshotChunkRows: number;
  readonly retry: ResolvedRetryPolicy;
  readonly requestTimeoutMs: number;
  readonly background: BackgroundSyncOptions;
  readonly exportDebounceMs: number;
  readonly lockName: string | undefined;
  readonly observeWrites: boolean;
  readonly onBackgroundError: (error: unknown) => void;
}

function positiveInt(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value <= 0)
    throw new InvalidConfigError(`${name} must be a positive integer`);
  return value;
}

/** `setTimeout` treats longer delays as 1 ms. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Validates options and applies defaults; the result is frozen. */
export function resolveClientOptions(options: OversyncClientOptions): ResolvedClientOptions {
  if (!options?.db) throw new InvalidConfigError('`db` (a sql.js Database) is required');
  if (!options.baseUrl) throw new InvalidConfigError('`baseUrl` is required');
  // Database.updateHook arrived in sql.js 1.13; without it the write hook would fail inside open().
  if ((options.observeWrites ?? true) && typeof options.db.updateHook !== 'function') {
    throw new InvalidConfigError(
      '`db` has no updateHook: observing app writes needs sql.js >= 1.13 (upgrade sql.js, or pass observeWrites: false)',
    );
  }
  if (typeof options.getToken !== 'function') throw new InvalidConfigError('`getToken` must be a function');
  const schema = options.schema?.trim().toLowerCase();
  if (!schema) throw new InvalidConfigError('`schema` is required: there is no default schema');
  if (!/^[a-z0-9_]+$/.test(schema))
    throw new InvalidConfigError(`schema "${schema}" must match ^[a-z0-9_]+$`);
  const fetchImpl = options.fetch ?? (globalThis.fetch ? globalThis.fetch.bind(globalThis) : undefined);
  if (!fetchImpl) throw new InvalidConfigError('no `fetch` available; pass options.fetch');
  const downloadLimit = positiveInt(options.downloadLimit, 1000, 'downloadLimit');
  if (downloadLimit > 5000) throw new InvalidConfigError('downloadLimit must be at most 5000 (max_bundles)');
  const requestTimeoutMs = positiveInt(options.requestTimeoutMs, 120_000, 'requestTimeoutMs');
  if (requestTimeoutMs > MAX_TIMER_MS)
    throw new InvalidConfigError(`requestTimeoutMs must be at most ${MAX_TIMER_MS} (about 24.8 days)`);
  return Object.freeze({
    db: options.db,
    sqlJs: options.sqlJs,
    baseUrl: options.baseUrl,
    getToken: options.getToken,
    schema,
    tables: Object.freeze([...(options.tables ?? [])]),
    fetch: fetchImpl,
    persistence: options.persistence,
    conflictResolver: options.conflictResolver ?? serverWins,
    uploadChunkRows: positiveInt(options.uploadChunkRows, 1000, 'uploadChunkRows'),
    downloadLimit,
    snapshotChunkRows: positiveInt(options.snapshotChunkRows, 1000, 'snapshotChunkRows'),
    retry: resolveRetryPolicy(options.retry),
    requestTimeoutMs,
    background: { ...options.background },
    exportDebounceMs: options.exportDebounceMs ?? 250,
    lockName: options.lockName ?? options.persistence?.lockName,
    observeWrites: options.observeWrites ?? true,
    onBackgroundError: options.onBackgroundError ?? (() => undefined),
  });
}
