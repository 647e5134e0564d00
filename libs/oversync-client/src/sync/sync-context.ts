import { type CapabilitiesResponse } from '@oversync/protocol';

import { type SqlJsAdapter } from '../db/sql-js.adapter.js';
import { InvalidRowError } from '../errors/sync.errors.js';
import { type TableSpec } from '../schema/table-spec.js';
import { type HttpTransport } from '../transport/http-transport.js';
import { type ConflictResolver } from './conflict.types.js';
import { type DeferredMerges } from './deferred-merges.js';
import { type SyncStateStore } from './sync-state.store.js';

/** Managed tables in apply order (parents first), with lookup by name. */
export class TableRegistry {
  readonly #byName: Map<string, TableSpec>;
  readonly #index: Map<string, number>;

  constructor(readonly ordered: readonly TableSpec[]) {
    this.#byName = new Map(ordered.map((t) => [t.name, t]));
    this.#index = new Map(ordered.map((t, i) => [t.name, i]));
  }

  /** The spec of a managed table; throws for unknown tables. */
  get(name: string): TableSpec {
    const spec = this.#byName.get(name);
    if (!spec) throw new InvalidRowError(name, `table "${name}" is not a managed table`);
    return spec;
  }

  has(name: string): boolean {
    return this.#byName.has(name);
  }

  /** Position in apply order. */
  order(name: string): number {
    return this.#index.get(name) ?? Number.MAX_SAFE_INTEGER;
  }
}

/** Page sizes used by the sync engine. */
export interface SyncLimits {
  uploadChunkRows: number;
  downloadLimit: number;
  snapshotChunkRows: number;
}

/** In-memory session state of one client (not durable). */
export interface SyncSession {
  /** Current source id ('' before `open()`). */
  sourceId: string;
  /** Attached user ('' when anonymous). */
  userId: string;
  /** `attach()` succeeded in this process for `userId` and `sourceId`. */
  connected: boolean;
  uploadsPaused: boolean;
  downloadsPaused: boolean;
  capabilities: CapabilitiesResponse | undefined;
}

/** Everything the sync modules share. */
export interface SyncContext {
  readonly db: SqlJsAdapter;
  readonly store: SyncStateStore;
  readonly tables: TableRegistry;
  readonly schema: string;
  readonly transport: HttpTransport;
  readonly limits: SyncLimits;
  readonly resolver: ConflictResolver;
  readonly session: SyncSession;
  /** Merge resolutions waiting for a pull (in memory). */
  readonly deferredMerges: DeferredMerges;
  /** Exports and saves the database; resolves once durable. */
  persist(): Promise<void>;
}

/**
 * `ctx` whose every request (and retry backoff) is also aborted by `signal`, e.g. a background sync
 * that `stop()` cancels. Only network calls are cut short: every durable step before them was
 * persisted, and SQLite work is synchronous, so an aborted operation resumes on its next run.
 */
export function withSignal(ctx: SyncContext, signal: AbortSignal | undefined): SyncContext {
  return signal ? { ...ctx, transport: ctx.transport.withSignal(signal) } : ctx;
}
