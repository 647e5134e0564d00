import { OversyncError } from './oversync.error.js';

/** The snapshot create body or its `source_replacement` is invalid (wire 400 `snapshot_session_invalid`). */
export class SnapshotSessionInvalidError extends OversyncError {
  constructor(message: string) {
    super('snapshot_session_invalid', message);
  }
}

/** A snapshot chunk cursor or id is malformed (wire 400 `snapshot_chunk_invalid`). */
export class SnapshotChunkInvalidError extends OversyncError {
  constructor(message: string) {
    super('snapshot_chunk_invalid', message);
  }
}

/** No snapshot session with this id (unknown, deleted or purged; wire 404 `snapshot_session_not_found`). */
export class SnapshotSessionNotFoundError extends OversyncError {
  constructor(snapshotId: string) {
    super('snapshot_session_not_found', `snapshot session ${snapshotId} was not found`, {
      snapshot_id: snapshotId,
    });
  }
}

/** The snapshot session belongs to another user (wire 403 `snapshot_session_forbidden`). */
export class SnapshotSessionForbiddenError extends OversyncError {
  constructor(snapshotId: string) {
    super(
      'snapshot_session_forbidden',
      `snapshot session ${snapshotId} does not belong to the authenticated user`,
      { snapshot_id: snapshotId },
    );
  }
}

/** The snapshot session's TTL passed; reads never extend it (wire 410 `snapshot_session_expired`). */
export class SnapshotSessionExpiredError extends OversyncError {
  constructor(snapshotId: string) {
    super(
      'snapshot_session_expired',
      `snapshot session ${snapshotId} has expired; start a new snapshot session`,
      { snapshot_id: snapshotId },
    );
  }
}

/** The requested replacement source cannot take over (wire 409 `source_replacement_invalid`). */
export class SourceReplacementInvalidError extends OversyncError {
  constructor(message: string, details: { new_source_id: string }) {
    super('source_replacement_invalid', message, details);
  }
}

/**
 * The snapshot exceeds `limits.maxRowsPerSnapshotSession` or `limits.maxBytesPerSnapshotSession`;
 * nothing was persisted. Like go-oversync this answers 500 `snapshot_session_create_failed`, but
 * with a message naming the limit.
 */
export class SnapshotSessionLimitExceededError extends OversyncError {
  constructor(measure: 'row_count' | 'byte_count', value: number, limit: number) {
    super(
      'snapshot_session_create_failed',
      `snapshot session ${measure} ${value} exceeds limit ${limit}. Fix: raise limits.${
        measure === 'row_count' ? 'maxRowsPerSnapshotSession' : 'maxBytesPerSnapshotSession'
      } (0 = unlimited).`,
      { measure, value, limit },
    );
  }
}

/**
 * Business rows and live `sync.row_state` entries of a scope disagree, so no consistent snapshot
 * can be built. The create fails closed (500 `snapshot_session_create_failed`) and rolls back.
 */
export class SnapshotMaterializationError extends OversyncError {
  constructor(
    table: string,
    counts: { snapshot_rows: number; business_rows: number; live_row_state: number },
  ) {
    super(
      'snapshot_session_create_failed',
      `snapshot materialization for ${table} found ${counts.business_rows} business rows and ${counts.live_row_state} live row_state entries ` +
        `but only ${counts.snapshot_rows} matched; rows were written to a registered table outside sync capture. ` +
        'Fix: write registered tables only through the sync paths, then repair sync.row_state.',
      { table, ...counts },
    );
  }
}
