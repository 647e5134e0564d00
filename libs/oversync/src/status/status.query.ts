import { Injectable } from '@nestjs/common';
import type { StatusResponse } from '@oversync/protocol';
import { sql } from 'kysely';
import { toInt } from '../database/pg-values.util.js';
import { LifecycleService, type LifecycleState } from '../lifecycle/lifecycle.service.js';
import { OversyncRuntime } from '../runtime/oversync-runtime.service.js';

/** Global counters over all scopes, computed from what is retained (server-internals §8). */
export type OversyncStatusCounters = Omit<
  StatusResponse,
  | 'status'
  | 'version'
  | 'app_name'
  | 'lifecycle'
  | 'accepting_operations'
  | 'inflight_operations'
  | 'registered_tables'
  | 'features'
>;

/** Status snapshot; the HTTP layer adds `features` and serves it on `/syncx/status`. */
export type OversyncStatus = Omit<StatusResponse, 'features'> & { lifecycle: LifecycleState };

type CounterRow = Record<keyof OversyncStatusCounters, string | number | null>;

/** Reads the status snapshot with one statement (each part guarded in case the layout is gone). */
@Injectable()
export class StatusQuery {
  constructor(
    private readonly runtime: OversyncRuntime,
    private readonly lifecycle: LifecycleService,
  ) {}

  async read(): Promise<OversyncStatus> {
    const { rows } = await sql<CounterRow>`
      WITH u AS (
        SELECT greatest(next_bundle_seq - 1, 0) AS latest, retained_bundle_floor AS floor FROM sync.user_state
      ), seqs AS (
        SELECT (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM sync.history_pruned_error_seq) AS pruned,
               (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM sync.accepted_push_replay_seq) AS replays,
               (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM sync.rejected_registered_write_seq) AS rejected
      )
      SELECT (SELECT count(*) FROM u WHERE floor > latest) AS user_state_retention_floor_ahead_count,
             (SELECT coalesce(max(latest), 0) FROM u) AS latest_bundle_seq_max,
             (SELECT coalesce(min(floor), 0) FROM u) AS retained_bundle_floor_min,
             (SELECT coalesce(max(floor), 0) FROM u) AS retained_bundle_floor_max,
             (SELECT coalesce(min(greatest(latest - floor, 0)), 0) FROM u) AS retained_bundle_window_min,
             (SELECT coalesce(max(greatest(latest - floor, 0)), 0) FROM u) AS retained_bundle_window_max,
             seqs.pruned AS history_pruned_error_count,
             seqs.replays AS accepted_push_replay_count,
             seqs.rejected AS rejected_registered_write_count,
             (SELECT count(*) FROM sync.bundle_log) AS committed_bundle_count,
             (SELECT coalesce(sum(byte_count), 0) FROM sync.bundle_log) AS committed_bundle_bytes
        FROM seqs`.execute(this.runtime.db);
    const r = rows[0];
    const counters = Object.fromEntries(
      Object.entries(r).map(([k, v]) => [k, toInt(v)]),
    ) as unknown as OversyncStatusCounters;
    const lifecycle = this.lifecycle.state;
    const healthy = lifecycle === 'running' && counters.user_state_retention_floor_ahead_count === 0;
    return {
      status: healthy ? 'healthy' : 'unhealthy',
      version: 'v1',
      app_name: this.runtime.options.appName,
      lifecycle,
      accepting_operations: lifecycle === 'running',
      inflight_operations: this.lifecycle.inflight,
      registered_tables: this.runtime.catalog.qualifiedNames,
      ...counters,
    };
  }
}
