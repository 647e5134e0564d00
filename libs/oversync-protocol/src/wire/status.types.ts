import type { FeatureFlags } from './capabilities.types.js';

/** Service lifecycle reported by `/syncx/status`. */
export type ServiceLifecycle = 'running' | 'shutting_down' | 'closed';

/**
 * Body of `GET /syncx/health` and `GET /syncx/status` (no auth, no source header). All fields are
 * always present; health answers 503 when `status` is `unhealthy`.
 */
export interface StatusResponse {
  /** `unhealthy` when lifecycle is not `running` or a retention floor is ahead. */
  status: 'healthy' | 'unhealthy';
  /** Protocol version, `v1`. */
  version: string;
  app_name: string;
  lifecycle: ServiceLifecycle;
  accepting_operations: boolean;
  inflight_operations: number;
  /** Sorted `"schema.table"` strings, `[]` if none. */
  registered_tables: string[];
  /** Same map as capabilities, not actor-filtered. */
  features: FeatureFlags;
  user_state_retention_floor_ahead_count: number;
  latest_bundle_seq_max: number;
  retained_bundle_floor_min: number;
  retained_bundle_floor_max: number;
  retained_bundle_window_min: number;
  retained_bundle_window_max: number;
  history_pruned_error_count: number;
  accepted_push_replay_count: number;
  rejected_registered_write_count: number;
  committed_bundle_count: number;
  committed_bundle_bytes: number;
}
