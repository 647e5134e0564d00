import type { ErrorCodeValue } from './error-codes.js';

/** HTTP status and required client behaviour for one error code. */
export interface ErrorCodeInfo {
  /** The HTTP status the server answers with. */
  readonly status: number;
  /** What a client must do when it receives this code. */
  readonly clientAction: string;
}

const GENERIC_500 =
  'Unexpected server error: report it and retry the whole operation later (not auto-retried).';
const BUG_400 = 'Client or integration bug: do not retry the same request; fix the request.';

/**
 * HTTP status and client action for every {@link ErrorCode}. The server's exception filter maps
 * codes to statuses from here; clients use `clientAction` as the documented contract. Only 429,
 * 502, 503 and 504 are retried automatically by clients.
 */
export const ERROR_CODE_INFO: Readonly<Record<ErrorCodeValue, ErrorCodeInfo>> = Object.freeze({
  invalid_request: {
    status: 400,
    clientAction: 'Malformed body/query or missing Oversync-Source-ID header: fix the request; do not retry.',
  },
  connect_invalid: { status: 400, clientAction: BUG_400 },
  push_session_invalid: {
    status: 400,
    clientAction:
      'Bad source_bundle_id/planned_row_count, or initialization_id sent/missing for the scope state: reconnect (POST /sync/connect) before pushing again.',
  },
  push_chunk_invalid: {
    status: 400,
    clientAction: 'A row failed validation (see message): delete the push session and fix the outbox row.',
  },
  push_commit_invalid: {
    status: 400,
    clientAction:
      'Staging incomplete, non-contiguous or duplicate, nothing was captured, or the database refused a row (a value its column cannot hold, NOT NULL, CHECK, UNIQUE, a host trigger; the message names the row): fix or drop the row, then push again.',
  },
  committed_bundle_chunk_invalid: { status: 400, clientAction: BUG_400 },
  snapshot_session_invalid: {
    status: 400,
    clientAction:
      'Bad snapshot request or source_replacement (previous id must be the header source): fix it.',
  },
  snapshot_chunk_invalid: { status: 400, clientAction: BUG_400 },
  authentication_failed: {
    status: 401,
    clientAction: 'No trusted user: refresh credentials, then retry.',
  },
  push_session_forbidden: {
    status: 403,
    clientAction: 'The push session belongs to another user: create a new push session.',
  },
  snapshot_session_forbidden: {
    status: 403,
    clientAction: 'The snapshot belongs to another user: create a new snapshot session.',
  },
  bundle_change_watch_forbidden: {
    status: 403,
    clientAction: 'Watch is denied for this actor: stop opening /sync/watch and poll /sync/pull instead.',
  },
  push_session_not_found: {
    status: 404,
    clientAction:
      'Session unknown, superseded or already committed: re-run push create with the same source_bundle_id (it may answer already_committed).',
  },
  committed_bundle_not_found: {
    status: 404,
    clientAction:
      'No such bundle for this user: treat as fatal for this push; re-run push create to re-verify.',
  },
  snapshot_session_not_found: {
    status: 404,
    clientAction: 'Snapshot unknown or purged: create a new snapshot session and restart the rebuild.',
  },
  method_not_allowed: {
    status: 405,
    clientAction: 'Server does not support this route: treat as unsupported.',
  },
  scope_uninitialized: {
    status: 409,
    clientAction: 'The scope is not initialized: call POST /sync/connect first.',
  },
  scope_initializing: {
    status: 409,
    clientAction: 'Another source holds the initialization lease: wait, then reconnect (POST /sync/connect).',
  },
  initialization_stale: {
    status: 409,
    clientAction:
      'The initialization lease is no longer ours: drop the stored initialization_id and reconnect.',
  },
  history_pruned: {
    status: 409,
    clientAction:
      'History below the retained floor is gone: on pull/committed rows rebuild from a snapshot; on push create rotate the source (snapshot with source_replacement).',
  },
  source_sequence_out_of_order: {
    status: 409,
    clientAction: 'source_bundle_id skipped ahead: rotate the source (snapshot with source_replacement).',
  },
  source_sequence_changed: {
    status: 409,
    clientAction:
      'The expected source_bundle_id changed before commit: rotate the source (snapshot with source_replacement).',
  },
  source_retired: {
    status: 409,
    clientAction:
      'This source was retired (see replaced_by_source_id): rotate the source (snapshot with source_replacement).',
  },
  source_replacement_invalid: {
    status: 409,
    clientAction:
      'The replacement source id is already known: pick a fresh new_source_id and retry the rebuild.',
  },
  push_chunk_out_of_order: {
    status: 409,
    clientAction: 'start_row_ordinal is not the expected one: restart the push from push create.',
  },
  push_conflict: {
    status: 409,
    clientAction:
      'Optimistic-concurrency conflict, or a pushed row that breaks a foreign key on the server (see conflict): resolve the row against conflict.server_row, then push again.',
  },
  initialization_expired: {
    status: 410,
    clientAction: 'The initialization lease expired: drop the stored initialization_id and reconnect.',
  },
  push_session_expired: {
    status: 410,
    clientAction: 'The push session expired: restart the push from push create.',
  },
  snapshot_session_expired: {
    status: 410,
    clientAction: 'The snapshot expired: create a new snapshot session and restart the rebuild.',
  },
  request_too_large: {
    status: 413,
    clientAction: 'The body exceeds the server limit: send smaller push chunks.',
  },
  service_unavailable: {
    status: 503,
    clientAction: 'The server is shutting down: retry with backoff.',
  },
  bundle_change_watch_disabled: {
    status: 503,
    clientAction: 'Watch is disabled on this server: poll /sync/pull instead.',
  },
  connect_failed: { status: 500, clientAction: GENERIC_500 },
  push_session_create_failed: { status: 500, clientAction: GENERIC_500 },
  push_chunk_failed: { status: 500, clientAction: GENERIC_500 },
  push_session_commit_failed: {
    status: 500,
    clientAction:
      'The commit failed unexpectedly (our server answers rows the database refuses with 400 push_commit_invalid): retry later; the session still exists.',
  },
  push_session_delete_failed: { status: 500, clientAction: 'Ignore: push-session deletes are best-effort.' },
  committed_bundle_rows_failed: { status: 500, clientAction: GENERIC_500 },
  pull_failed: { status: 500, clientAction: GENERIC_500 },
  bundle_change_watch_failed: {
    status: 500,
    clientAction: 'Fall back to polling, then reopen the watch later.',
  },
  snapshot_session_create_failed: {
    status: 500,
    clientAction: 'Snapshot creation failed (also when a snapshot size limit is exceeded): retry later.',
  },
  snapshot_chunk_failed: { status: 500, clientAction: GENERIC_500 },
  snapshot_session_delete_failed: { status: 500, clientAction: 'Ignore: snapshot deletes are best-effort.' },
  status_failed: { status: 500, clientAction: 'Operability endpoint failed: not used by sync clients.' },
  health_failed: { status: 500, clientAction: 'Health check failed: treat the server as unhealthy.' },
});
