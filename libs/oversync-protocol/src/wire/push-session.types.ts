/** Body of `POST /sync/push-sessions`. */
export interface PushSessionCreateRequest {
  /** Contiguous per source, starting at 1; must be > 0. */
  source_bundle_id: number;
  /** Number of rows the client will upload; must be > 0. */
  planned_row_count: number;
  /** Required while the scope is INITIALIZING (the lease owner's id); absent otherwise. */
  initialization_id?: string;
}

/** The `status` values of a push-session create response. */
export type PushSessionStatus = 'staging' | 'already_committed';

/** A new staging session was created. */
export interface PushSessionStagingResponse {
  /** Fresh UUID of the session. */
  push_id: string;
  status: 'staging';
  /** Echo of the request. */
  planned_row_count: number;
  /** Always 0 and therefore omitted by the Go server; clients accept absence or 0. */
  next_expected_row_ordinal?: number;
}

/** The `(source_id, source_bundle_id)` tuple is already committed: replay its metadata. */
export interface PushSessionAlreadyCommittedResponse {
  status: 'already_committed';
  bundle_seq: number;
  /** Equal to the request's `Oversync-Source-ID`. */
  source_id: string;
  source_bundle_id: number;
  row_count: number;
  /** Lowercase hex SHA-256, identical to the original commit response. */
  bundle_hash: string;
}

/** Response of `POST /sync/push-sessions`, discriminated by `status`. */
export type PushSessionCreateResponse = PushSessionStagingResponse | PushSessionAlreadyCommittedResponse;
