import type { Kysely } from 'kysely';
import type { Pool } from 'pg';

/** Where the module gets its PostgreSQL connections. The module closes only what it creates. */
export type OversyncDatabaseOption =
  | {
      /** A libpq connection string; the module creates and closes its own pool. */ connectionString: string;
      /** Connections of the module's pool (0 = the default). @default 10 */ poolSize?: number;
    }
  | { /** A `pg.Pool` the host owns (the module never ends it). */ pool: Pool }
  | {
      /**
       * A Kysely instance over `pg` the host owns (the module never destroys it). Its plugins
       * (`CamelCasePlugin`, `ParseJSONResultsPlugin` …) apply to the host's own queries in scope-write
       * callbacks; the module's queries run without them.
       */
      kysely: Kysely<unknown>;
    };

/** One business table synced to clients. */
export interface RegisteredTableOption {
  /** PostgreSQL schema, e.g. `business`. Lower-cased. */
  schema: string;
  /** Table name. Lower-cased. */
  table: string;
  /** Exactly one column (uuid or text) that identifies a row within a scope. */
  syncKeyColumns: string[];
}

/** Size, time and paging limits. Every field falls back to go-oversync's default. */
export interface OversyncLimitsOption {
  /** Advertised only (go-oversync does not enforce it either). @default 0 */
  maxRowsPerBundle?: number;
  /** Advertised only. @default 0 */
  maxBytesPerBundle?: number;
  /** @default 1000 */
  defaultRowsPerPushChunk?: number;
  /** Rows per uploaded chunk; must be ≥ the clients' chunk size (1000 for go-oversync clients). @default 5000 */
  maxRowsPerPushChunk?: number;
  /** Push session lifetime, refreshed by every chunk. @default 900 */
  pushSessionTtlSeconds?: number;
  /** @default 1000 */
  defaultRowsPerCommittedBundleChunk?: number;
  /** @default 5000 */
  maxRowsPerCommittedBundleChunk?: number;
  /** @default 1000 */
  defaultRowsPerSnapshotChunk?: number;
  /** @default 5000 */
  maxRowsPerSnapshotChunk?: number;
  /** Snapshot session lifetime (not refreshed by reads). @default 900 */
  snapshotSessionTtlSeconds?: number;
  /** 0 = unlimited. @default 0 */
  maxRowsPerSnapshotSession?: number;
  /** 0 = unlimited. @default 0 */
  maxBytesPerSnapshotSession?: number;
  /** First-connect initialization lease. @default 900 */
  initializationLeaseTtlSeconds?: number;
  /** Largest accepted request body on the sync routes; larger ones get 413 before parsing. @default 16 MiB */
  maxRequestBodyBytes?: number;
}

/** How much committed history each scope keeps for incremental pull. */
export interface OversyncRetentionOption {
  /** Bundles kept per scope; older ones are pruned and clients rebuild from a snapshot. @default 10000 */
  retainedBundlesPerUser?: number;
  /** At most this many bundles are pruned per commit, so a commit never pays for a huge prune. @default 1000 */
  pruneBatchSize?: number;
}

/** Server-Sent Events wake-ups on `GET /sync/watch`, fanned out through LISTEN/NOTIFY. */
export interface OversyncWatchOption {
  /** @default true */
  enabled?: boolean;
  /** NOTIFY channel (≤ 63 bytes). @default 'oversync_bundle_change_v1' */
  notifyChannel?: string;
  /** Seconds between `: heartbeat` comments. @default 25 */
  heartbeatIntervalSeconds?: number;
  /**
   * Per-actor gate. Returning false answers that actor's `GET /sync/watch` with 403
   * `bundle_change_watch_forbidden` (clients fall back to polling) and reports
   * `bundle_change_watch: false` in its capabilities.
   * @default every actor may watch
   */
  policy?: (actor: { userId: string; sourceId: string }) => boolean;
}

/** Options of {@link OversyncModule.forRoot}. */
export interface OversyncModuleOptions {
  database: OversyncDatabaseOption;
  registeredTables: RegisteredTableOption[];
  /** Reported in capabilities and status. @default 'oversync-app' */
  appName?: string;
  /** Reported as `schema_version` in capabilities. @default 1 */
  maxSupportedSchemaVersion?: number;
  /** Extra parent edges for ordering (`'schema.table'` → parents); informational, like go-oversync. */
  dependencyOverrides?: Record<string, string[]>;
  limits?: OversyncLimitsOption;
  retention?: OversyncRetentionOption;
  watch?: OversyncWatchOption;
  /**
   * Returns the trusted user id of a request, from the host's own authentication.
   * @default `request.user.id`, then `request.user.sub`
   */
  resolveUserId?: (request: unknown) => string | undefined | null;
}

/** Options after defaults and validation; frozen. */
export interface ResolvedOversyncOptions {
  readonly database: OversyncDatabaseOption;
  readonly registeredTables: readonly Readonly<RegisteredTableOption>[];
  readonly appName: string;
  readonly maxSupportedSchemaVersion: number;
  readonly dependencyOverrides: Readonly<Record<string, readonly string[]>>;
  readonly limits: Readonly<Required<OversyncLimitsOption>>;
  readonly retention: Readonly<Required<OversyncRetentionOption>>;
  readonly watch: Readonly<Required<OversyncWatchOption>>;
  readonly resolveUserId: (request: unknown) => string | undefined | null;
}
