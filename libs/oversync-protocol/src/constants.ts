import type { BundleLimits } from './wire/capabilities.types.js';

/** The wire protocol version (`protocol_version` in capabilities, `version` in status). */
export const PROTOCOL_VERSION = 'v1';

/** Header carrying the client runtime's source id on every `/sync/*` request (value is trimmed). */
export const SOURCE_ID_HEADER = 'Oversync-Source-ID';

/** Upper bound of `max_bundles` on `GET /sync/pull` (a protocol constant, not configurable). */
export const MAX_BUNDLES_PER_PULL = 5000;

/** Default `max_bundles` on `GET /sync/pull`. */
export const DEFAULT_MAX_BUNDLES_PER_PULL = 1000;

/** HTTP statuses clients retry automatically (with backoff); every other failure is final. */
export const RETRYABLE_HTTP_STATUSES: readonly number[] = Object.freeze([429, 502, 503, 504]);

/**
 * The default `bundle_limits` advertised by a v1 server (wire names). Zero-valued limits
 * (`max_rows_per_bundle`, `max_bytes_per_bundle`, `max_rows_per_snapshot_session`,
 * `max_bytes_per_snapshot_session`) mean "unlimited" and are omitted.
 */
export const DEFAULT_LIMITS = Object.freeze({
  max_bundles_per_pull: MAX_BUNDLES_PER_PULL,
  default_rows_per_push_chunk: 1000,
  max_rows_per_push_chunk: 5000,
  push_session_ttl_seconds: 900,
  default_rows_per_committed_bundle_chunk: 1000,
  max_rows_per_committed_bundle_chunk: 5000,
  default_rows_per_snapshot_chunk: 1000,
  max_rows_per_snapshot_chunk: 5000,
  snapshot_session_ttl_seconds: 900,
  initialization_lease_ttl_seconds: 900,
} as const satisfies BundleLimits);
