/** Body of `POST /sync/connect`. */
export interface ConnectRequest {
  /** Whether the client holds local rows it wants to seed the scope with; missing means `false`. */
  has_local_pending_rows?: boolean;
}

/** The four resolutions `POST /sync/connect` can answer with (always HTTP 200). */
export const CONNECT_RESOLUTIONS = [
  'remote_authoritative',
  'initialize_local',
  'initialize_empty',
  'retry_later',
] as const;

/** `remote_authoritative` | `initialize_local` | `initialize_empty` | `retry_later`. */
export type ConnectResolution = (typeof CONNECT_RESOLUTIONS)[number];

/** The scope is initialized: rebuild from a snapshot / pull. */
export interface RemoteAuthoritativeConnectResponse {
  resolution: 'remote_authoritative';
}

/** The caller holds the initialization lease and must seed the scope with its local rows. */
export interface InitializeLocalConnectResponse {
  resolution: 'initialize_local';
  /** UUID to send as `initialization_id` on push create while seeding. */
  initialization_id: string;
  /** Lease expiry, Go RFC3339Nano UTC (see `formatRfc3339Nano`). */
  lease_expires_at: string;
}

/** The scope was initialized empty by this call. */
export interface InitializeEmptyConnectResponse {
  resolution: 'initialize_empty';
}

/** Another source holds the initialization lease; HTTP 200, not an error. */
export interface RetryLaterConnectResponse {
  resolution: 'retry_later';
  /** Lease expiry of the other source, Go RFC3339Nano UTC. */
  lease_expires_at: string;
  /** Whole seconds until the lease expires (truncated), at least 1. */
  retry_after_seconds: number;
}

/** Response of `POST /sync/connect`, discriminated by `resolution`. */
export type ConnectResponse =
  | RemoteAuthoritativeConnectResponse
  | InitializeLocalConnectResponse
  | InitializeEmptyConnectResponse
  | RetryLaterConnectResponse;
