/**
 * Every `error` code the v1 protocol can put in an error envelope, keyed by a PascalCase name.
 * Values are the exact wire spelling. `RequestTooLarge` (HTTP 413) is an Oversync addition; Go
 * servers never send it.
 */
export const ErrorCode = {
  // 400
  InvalidRequest: 'invalid_request',
  ConnectInvalid: 'connect_invalid',
  PushSessionInvalid: 'push_session_invalid',
  PushChunkInvalid: 'push_chunk_invalid',
  PushCommitInvalid: 'push_commit_invalid',
  CommittedBundleChunkInvalid: 'committed_bundle_chunk_invalid',
  SnapshotSessionInvalid: 'snapshot_session_invalid',
  SnapshotChunkInvalid: 'snapshot_chunk_invalid',
  // 401
  AuthenticationFailed: 'authentication_failed',
  // 403
  PushSessionForbidden: 'push_session_forbidden',
  SnapshotSessionForbidden: 'snapshot_session_forbidden',
  BundleChangeWatchForbidden: 'bundle_change_watch_forbidden',
  // 404
  PushSessionNotFound: 'push_session_not_found',
  CommittedBundleNotFound: 'committed_bundle_not_found',
  SnapshotSessionNotFound: 'snapshot_session_not_found',
  // 405
  MethodNotAllowed: 'method_not_allowed',
  // 409
  ScopeUninitialized: 'scope_uninitialized',
  ScopeInitializing: 'scope_initializing',
  InitializationStale: 'initialization_stale',
  HistoryPruned: 'history_pruned',
  SourceSequenceOutOfOrder: 'source_sequence_out_of_order',
  SourceSequenceChanged: 'source_sequence_changed',
  SourceRetired: 'source_retired',
  SourceReplacementInvalid: 'source_replacement_invalid',
  PushChunkOutOfOrder: 'push_chunk_out_of_order',
  PushConflict: 'push_conflict',
  // 410
  InitializationExpired: 'initialization_expired',
  PushSessionExpired: 'push_session_expired',
  SnapshotSessionExpired: 'snapshot_session_expired',
  // 413 (Oversync only)
  RequestTooLarge: 'request_too_large',
  // 503
  ServiceUnavailable: 'service_unavailable',
  BundleChangeWatchDisabled: 'bundle_change_watch_disabled',
  // 500: the route-specific "unexpected error" codes
  ConnectFailed: 'connect_failed',
  PushSessionCreateFailed: 'push_session_create_failed',
  PushChunkFailed: 'push_chunk_failed',
  PushSessionCommitFailed: 'push_session_commit_failed',
  PushSessionDeleteFailed: 'push_session_delete_failed',
  CommittedBundleRowsFailed: 'committed_bundle_rows_failed',
  PullFailed: 'pull_failed',
  BundleChangeWatchFailed: 'bundle_change_watch_failed',
  SnapshotSessionCreateFailed: 'snapshot_session_create_failed',
  SnapshotChunkFailed: 'snapshot_chunk_failed',
  SnapshotSessionDeleteFailed: 'snapshot_session_delete_failed',
  StatusFailed: 'status_failed',
  HealthFailed: 'health_failed',
} as const;

/** Union of every wire error code (`'history_pruned' | 'push_conflict' | …`). */
export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

const ALL_CODES: ReadonlySet<string> = new Set(Object.values(ErrorCode));

/**
 * Narrows an arbitrary `error` string from a response body to a known code.
 *
 * @param value - the value to test.
 * @returns true when `value` is one of {@link ErrorCode}'s values.
 */
export function isErrorCode(value: unknown): value is ErrorCodeValue {
  return typeof value === 'string' && ALL_CODES.has(value);
}

/**
 * The push-side failures after which a client must rotate its source: create a snapshot session
 * with `source_replacement.reason` set to one of these, switch to the new source id and restart
 * `source_bundle_id` at 1. Also the only reasons the server accepts in `source_replacement`.
 */
export const SOURCE_RECOVERY_REASONS = [
  'history_pruned',
  'source_sequence_out_of_order',
  'source_sequence_changed',
  'source_retired',
] as const;

/** One of {@link SOURCE_RECOVERY_REASONS}. */
export type SourceRecoveryReason = (typeof SOURCE_RECOVERY_REASONS)[number];

/**
 * Narrows a string to a {@link SourceRecoveryReason}.
 *
 * @param value - the value to test.
 * @returns true when `value` is an accepted `source_replacement.reason`.
 */
export function isSourceRecoveryReason(value: unknown): value is SourceRecoveryReason {
  return typeof value === 'string' && (SOURCE_RECOVERY_REASONS as readonly string[]).includes(value);
}
