import type { PushConflict } from '@oversync/protocol';
import { OversyncError } from './oversync.error.js';

/** A push-session create request has bad values for the scope state (wire 400 `push_session_invalid`). */
export class PushSessionInvalidError extends OversyncError {
  constructor(message: string) {
    super('push_session_invalid', message);
  }
}

/** An uploaded chunk or one of its rows failed validation (wire 400 `push_chunk_invalid`). */
export class PushChunkInvalidError extends OversyncError {
  constructor(message: string) {
    super('push_chunk_invalid', message);
  }
}

/** The staged rows cannot be committed as they are (wire 400 `push_commit_invalid`). */
export class PushCommitInvalidError extends OversyncError {
  constructor(message: string) {
    super('push_commit_invalid', message);
  }
}

/** No push session with this id (unknown, superseded, committed or not a UUID; wire 404). */
export class PushSessionNotFoundError extends OversyncError {
  constructor(pushId: string) {
    super('push_session_not_found', `push session ${pushId} was not found`, { push_id: pushId });
  }
}

/** The push session belongs to another user (wire 403 `push_session_forbidden`). */
export class PushSessionForbiddenError extends OversyncError {
  constructor(pushId: string) {
    super('push_session_forbidden', `push session ${pushId} does not belong to the authenticated user`, {
      push_id: pushId,
    });
  }
}

/** The push session outlived its TTL (wire 410 `push_session_expired`). */
export class PushSessionExpiredError extends OversyncError {
  constructor(pushId: string) {
    super('push_session_expired', `push session ${pushId} has expired; start a new push session`, {
      push_id: pushId,
    });
  }
}

/** A chunk did not start where the session expects the next row (wire 409 `push_chunk_out_of_order`). */
export class PushChunkOutOfOrderError extends OversyncError {
  constructor(pushId: string, expected: number, actual: number) {
    super(
      'push_chunk_out_of_order',
      `push session ${pushId} expected start_row_ordinal ${expected}, got ${actual}`,
      {
        push_id: pushId,
        expected,
        actual,
      },
    );
  }
}

/**
 * Optimistic-concurrency failure of the first conflicting staged row, or the first staged row that
 * breaks a foreign key on the server (wire 409 `push_conflict`; the HTTP body carries
 * `details.conflict`). Nothing of the push was applied.
 */
export class PushConflictError extends OversyncError {
  constructor(
    message: string,
    readonly conflict: PushConflict,
  ) {
    super('push_conflict', message, { conflict });
  }
}

/** The initialization lease is no longer this session's (wire 409 `initialization_stale`). */
export class InitializationStaleError extends OversyncError {
  constructor(message: string) {
    super('initialization_stale', message);
  }
}

/** An `initialization_id` was sent after the lease ended (wire 410 `initialization_expired`). */
export class InitializationExpiredError extends OversyncError {
  constructor() {
    super('initialization_expired', 'initialization lease is no longer active');
  }
}

/** Bad path or query values on the committed-rows route (wire 400 `committed_bundle_chunk_invalid`). */
export class CommittedBundleChunkInvalidError extends OversyncError {
  constructor(message: string) {
    super('committed_bundle_chunk_invalid', message);
  }
}

/** No committed bundle with this `bundle_seq` for the user (wire 404 `committed_bundle_not_found`). */
export class CommittedBundleNotFoundError extends OversyncError {
  constructor(bundleSeq: number | bigint) {
    super('committed_bundle_not_found', `committed bundle ${bundleSeq} was not found`, {
      // Details stay JSON-safe: an int64 beyond 2^53 is kept as its digits.
      bundle_seq: typeof bundleSeq === 'bigint' ? bundleSeq.toString() : bundleSeq,
    });
  }
}
