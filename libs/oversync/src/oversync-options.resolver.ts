import { OversyncConfigError } from './errors/index.js';
import type {
  OversyncLimitsOption,
  OversyncModuleOptions,
  OversyncRetentionOption,
  OversyncWatchOption,
  ResolvedOversyncOptions,
} from './oversync.options.js';

/** The longest delay a Node timer can hold (2^31-1 ms), in whole seconds. */
const MAX_TIMER_SECONDS = Math.floor(2147483647 / 1000);

const DEFAULT_LIMITS: Required<OversyncLimitsOption> = {
  maxRowsPerBundle: 0,
  maxBytesPerBundle: 0,
  defaultRowsPerPushChunk: 1000,
  maxRowsPerPushChunk: 5000,
  pushSessionTtlSeconds: 900,
  defaultRowsPerCommittedBundleChunk: 1000,
  maxRowsPerCommittedBundleChunk: 5000,
  defaultRowsPerSnapshotChunk: 1000,
  maxRowsPerSnapshotChunk: 5000,
  snapshotSessionTtlSeconds: 900,
  maxRowsPerSnapshotSession: 0,
  maxBytesPerSnapshotSession: 0,
  initializationLeaseTtlSeconds: 900,
  maxRequestBodyBytes: 16 * 1024 * 1024,
};

/** Limits where 0 means "unlimited / not advertised" rather than "use the default". */
const ZERO_ALLOWED = new Set<keyof OversyncLimitsOption>([
  'maxRowsPerBundle',
  'maxBytesPerBundle',
  'maxRowsPerSnapshotSession',
  'maxBytesPerSnapshotSession',
]);

/** Reads a user id from `request.user.id`, then `request.user.sub` (the usual Passport/JWT shapes). */
export function defaultResolveUserId(request: unknown): string | undefined {
  const user = (request as { user?: { id?: unknown; sub?: unknown } } | undefined)?.user;
  const id = user?.id ?? user?.sub;
  if (typeof id === 'string') return id;
  if (typeof id === 'number' || typeof id === 'bigint') return String(id);
  return undefined;
}

function fail(field: string, problem: string, fix: string): never {
  throw new OversyncConfigError(`OversyncModule option \`${field}\` ${problem}. Fix: ${fix}`, { field });
}

function resolveLimits(raw: OversyncLimitsOption | undefined): Required<OversyncLimitsOption> {
  const limits = { ...DEFAULT_LIMITS };
  for (const [name, value] of Object.entries(raw ?? {}) as [keyof OversyncLimitsOption, unknown][]) {
    if (!(name in DEFAULT_LIMITS))
      fail(
        `limits.${name}`,
        'is not a known limit',
        `remove it; known limits: ${Object.keys(DEFAULT_LIMITS).join(', ')}`,
      );
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
      fail(
        `limits.${name}`,
        `must be a non-negative integer (got ${JSON.stringify(value)})`,
        'pass a whole number',
      );
    }
    // go-oversync treats a zero limit as "use the default"; keep that except where 0 means unlimited.
    limits[name] = value === 0 && !ZERO_ALLOWED.has(name) ? DEFAULT_LIMITS[name] : value;
  }
  if (limits.maxRowsPerPushChunk < 1000) {
    fail(
      'limits.maxRowsPerPushChunk',
      `is ${limits.maxRowsPerPushChunk}, below the 1000-row chunks go-oversync clients send`,
      'use at least 1000',
    );
  }
  // After the floor above, so a too-small maximum is reported as itself, not as a default above it.
  if (limits.defaultRowsPerPushChunk > limits.maxRowsPerPushChunk) {
    fail(
      'limits.defaultRowsPerPushChunk',
      'exceeds limits.maxRowsPerPushChunk',
      'lower the default or raise the maximum',
    );
  }
  return limits;
}

function resolveRetention(raw: OversyncRetentionOption | undefined): Required<OversyncRetentionOption> {
  const retained = raw?.retainedBundlesPerUser ?? 10000;
  const batch = raw?.pruneBatchSize ?? 1000;
  if (!Number.isSafeInteger(retained) || retained < 1) {
    fail(
      'retention.retainedBundlesPerUser',
      `must be an integer ≥ 1 (got ${retained})`,
      'retention cannot be switched off; pick a window such as 10000',
    );
  }
  if (!Number.isSafeInteger(batch) || batch < 1)
    fail('retention.pruneBatchSize', `must be an integer ≥ 1 (got ${batch})`, 'use e.g. 1000');
  return { retainedBundlesPerUser: retained, pruneBatchSize: batch };
}

function resolveWatch(raw: OversyncWatchOption | undefined): Required<OversyncWatchOption> {
  const watch = {
    enabled: raw?.enabled ?? true,
    notifyChannel: raw?.notifyChannel ?? 'oversync_bundle_change_v1',
    heartbeatIntervalSeconds: raw?.heartbeatIntervalSeconds ?? 25,
    policy: raw?.policy ?? (() => true),
  };
  // A config service hands out environment text: 'false' would read as true and leave watch on.
  if (typeof watch.enabled !== 'boolean') {
    fail(
      'watch.enabled',
      `must be a boolean (got ${JSON.stringify(watch.enabled)})`,
      "pass true or false (convert environment text, e.g. process.env.X === 'true')",
    );
  }
  if (typeof watch.policy !== 'function') {
    fail(
      'watch.policy',
      'must be a function',
      'pass (actor) => boolean, or leave it out to allow every actor',
    );
  }
  const bytes = new TextEncoder().encode(watch.notifyChannel).length;
  if (bytes === 0 || bytes > 63 || watch.notifyChannel.includes('\0')) {
    fail(
      'watch.notifyChannel',
      'must be 1–63 bytes without NUL',
      'use a short identifier such as oversync_bundle_change_v1',
    );
  }
  // Node timers hold at most 2^31-1 ms and silently fire every 1 ms beyond it.
  if (!(watch.heartbeatIntervalSeconds > 0) || watch.heartbeatIntervalSeconds > MAX_TIMER_SECONDS)
    fail('watch.heartbeatIntervalSeconds', `must be > 0 and at most ${MAX_TIMER_SECONDS}`, 'use e.g. 25');
  return watch;
}

function checkDatabase(options: OversyncModuleOptions): void {
  const db = options.database as unknown as Record<string, unknown> | undefined;
  if (!db || typeof db !== 'object')
    fail('database', 'is required', 'pass { connectionString }, { pool } or { kysely }');
  const given = ['connectionString', 'pool', 'kysely'].filter((k) => db[k] !== undefined);
  if (given.length !== 1)
    fail(
      'database',
      `must set exactly one of connectionString, pool, kysely (got ${given.join(', ') || 'none'})`,
      'pick one source of connections',
    );
  if (
    given[0] === 'connectionString' &&
    (typeof db.connectionString !== 'string' || db.connectionString.trim() === '')
  ) {
    fail('database.connectionString', 'must be a non-empty string', 'pass e.g. postgres://user@host:5432/db');
  }
  // pg-pool waits for ever for a connection from a pool of negative size (and reads 0 as its default).
  const poolSize = db.poolSize;
  if (
    given[0] === 'connectionString' &&
    poolSize !== undefined &&
    (typeof poolSize !== 'number' || !Number.isSafeInteger(poolSize) || poolSize < 0)
  ) {
    fail(
      'database.poolSize',
      `must be a whole number ≥ 1, or 0 for the default of 10 (got ${typeof poolSize === 'number' ? poolSize : JSON.stringify(poolSize)})`,
      'pass e.g. 10, or leave it out',
    );
  }
}

function checkTables(options: OversyncModuleOptions): void {
  if (!Array.isArray(options.registeredTables) || options.registeredTables.length === 0) {
    fail(
      'registeredTables',
      'must list at least one table',
      'register e.g. { schema: "business", table: "posts", syncKeyColumns: ["id"] }',
    );
  }
  const seen = new Set<string>();
  options.registeredTables.forEach((t, i) => {
    if (!t || typeof t.table !== 'string' || t.table.trim() === '')
      fail(`registeredTables[${i}].table`, 'is required', 'name the table');
    if (!Array.isArray(t.syncKeyColumns))
      fail(`registeredTables[${i}].syncKeyColumns`, 'must be an array', 'pass e.g. ["id"]');
    const name = `${(t.schema ?? '').trim().toLowerCase() || 'public'}.${t.table.trim().toLowerCase()}`;
    if (seen.has(name)) fail(`registeredTables[${i}]`, `registers ${name} twice`, 'list each table once');
    seen.add(name);
  });
}

/** Validates module options once at start-up and returns them with defaults applied, frozen. */
export function resolveOversyncOptions(options: OversyncModuleOptions): ResolvedOversyncOptions {
  if (!options || typeof options !== 'object')
    fail('options', 'are required', 'call OversyncModule.forRoot({ database, registeredTables })');
  checkDatabase(options);
  checkTables(options);
  const version = options.maxSupportedSchemaVersion ?? 1;
  if (!Number.isSafeInteger(version) || version < 1)
    fail('maxSupportedSchemaVersion', 'must be an integer ≥ 1', 'use 1');
  const resolved: ResolvedOversyncOptions = {
    database: options.database,
    registeredTables: Object.freeze(
      options.registeredTables.map((t) => Object.freeze({ ...t, syncKeyColumns: [...t.syncKeyColumns] })),
    ),
    appName: options.appName?.trim() || 'oversync-app',
    maxSupportedSchemaVersion: version,
    dependencyOverrides: Object.freeze({ ...(options.dependencyOverrides ?? {}) }),
    limits: Object.freeze(resolveLimits(options.limits)),
    retention: Object.freeze(resolveRetention(options.retention)),
    watch: Object.freeze(resolveWatch(options.watch)),
    resolveUserId: options.resolveUserId ?? defaultResolveUserId,
  };
  return Object.freeze(resolved);
}
