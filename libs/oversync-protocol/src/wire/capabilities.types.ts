/**
 * The 20 feature flags of the v1 capabilities map, in the alphabetical order the server emits them.
 * A legacy `push_sessions` flag must never be sent.
 */
export const FEATURE_FLAGS = [
  'accepted_push_replay_visibility',
  'bundle_change_watch',
  'bundle_pull',
  'bundle_push',
  'capabilities_endpoint',
  'committed_bundle_row_fetch',
  'committed_bundle_visibility',
  'connect_lifecycle',
  'graceful_shutdown',
  'history_pruned_errors',
  'history_pruned_visibility',
  'push_session_chunking',
  'registered_write_rejection_enforced',
  'retained_floor_visibility',
  'retained_window_visibility',
  'scope_initialization_leases',
  'server_checkpoint_tracking',
  'snapshot_chunking',
  'status_endpoint',
  'structured_sync_keys',
] as const;

/** One of {@link FEATURE_FLAGS}. */
export type FeatureFlag = (typeof FEATURE_FLAGS)[number];

/** The `features` map: every flag is present. Clients treat a missing flag as `false`. */
export type FeatureFlags = Record<FeatureFlag, boolean>;

/**
 * The v1 flag values: everything `true` except `server_checkpoint_tracking` (always `false`) and
 * `bundle_change_watch`, which a server sets to `true` only when watch is enabled and the actor is
 * allowed. `connect_lifecycle` must be `true` or clients refuse to attach.
 */
export const V1_FEATURE_DEFAULTS: Readonly<FeatureFlags> = Object.freeze(
  Object.fromEntries(
    FEATURE_FLAGS.map((flag) => [
      flag,
      flag !== 'server_checkpoint_tracking' && flag !== 'bundle_change_watch',
    ]),
  ) as FeatureFlags,
);

/** The `bundle_limits` object; every field is omitempty (a 0 value is left out). */
export interface BundleLimits {
  /** Advertised only, not enforced. */
  max_rows_per_bundle?: number;
  /** Advertised only, not enforced. */
  max_bytes_per_bundle?: number;
  /** Constant 5000; pull rejects a larger `max_bundles`. */
  max_bundles_per_pull?: number;
  default_rows_per_push_chunk?: number;
  /** Enforced on chunk upload; must be ≥ the client's upload chunk size (1000 by default). */
  max_rows_per_push_chunk?: number;
  push_session_ttl_seconds?: number;
  default_rows_per_committed_bundle_chunk?: number;
  /** Larger `max_rows` are silently capped. */
  max_rows_per_committed_bundle_chunk?: number;
  default_rows_per_snapshot_chunk?: number;
  /** Larger `max_rows` are silently capped. */
  max_rows_per_snapshot_chunk?: number;
  snapshot_session_ttl_seconds?: number;
  /** 0 = unlimited (omitted); breach answers 500 `snapshot_session_create_failed`. */
  max_rows_per_snapshot_session?: number;
  /** 0 = unlimited (omitted); breach answers 500 `snapshot_session_create_failed`. */
  max_bytes_per_snapshot_session?: number;
  initialization_lease_ttl_seconds?: number;
}

/** One registered table in `registered_table_specs`. */
export interface RegisteredTableSpec {
  schema: string;
  table: string;
  /** Lowercase sync-key column names; omitempty. */
  sync_key_columns?: string[];
}

/** Response of `GET /sync/capabilities`. */
export interface CapabilitiesResponse {
  /** Always `v1`. */
  protocol_version: 'v1';
  /** The server's maximum supported schema version (1 in the examples). */
  schema_version: number;
  /** omitempty. */
  app_name?: string;
  /** Sorted lowercase `"schema.table"`; omitempty. */
  registered_tables?: string[];
  /** Sorted by `schema.table`; omitempty. */
  registered_table_specs?: RegisteredTableSpec[];
  features: FeatureFlags;
  bundle_limits: BundleLimits;
}
