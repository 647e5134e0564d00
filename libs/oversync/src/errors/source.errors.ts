import { OversyncError } from './oversync.error.js';

/** The source was retired by a rotated rebuild (wire 409 `source_retired`, special body). */
export class SourceRetiredError extends OversyncError {
  constructor(
    readonly userId: string,
    readonly sourceId: string,
    readonly replacedBySourceId: string,
  ) {
    super(
      'source_retired',
      `source ${sourceId} for user ${userId} was retired and replaced by ${replacedBySourceId}`,
      { source_id: sourceId, replaced_by_source_id: replacedBySourceId },
    );
  }
}

/** The source tuple is older than what the server still remembers (wire 409 `history_pruned`). */
export class SourceTupleHistoryPrunedError extends OversyncError {
  constructor(userId: string, sourceId: string, sourceBundleId: number, maxCommitted: number) {
    super(
      'history_pruned',
      `source tuple (${sourceId}, ${sourceBundleId}) for user ${userId} is older than retained duplicate history; max committed source_bundle_id is ${maxCommitted}`,
      { source_id: sourceId, source_bundle_id: sourceBundleId, max_committed_source_bundle_id: maxCommitted },
    );
  }
}

/** The source skipped ids (wire 409 `source_sequence_out_of_order`). */
export class SourceSequenceOutOfOrderError extends OversyncError {
  constructor(userId: string, sourceId: string, expected: number, actual: number) {
    super(
      'source_sequence_out_of_order',
      `source ${sourceId} for user ${userId} expected next source_bundle_id ${expected}, got ${actual}`,
      { source_id: sourceId, expected, actual },
    );
  }
}

/** The expected id moved between staging and commit (wire 409 `source_sequence_changed`). */
export class SourceSequenceChangedError extends OversyncError {
  constructor(userId: string, sourceId: string, staged: number, expected: number) {
    super(
      'source_sequence_changed',
      `source ${sourceId} for user ${userId} changed expected next source_bundle_id from staged ${staged} to ${expected} before commit`,
      { source_id: sourceId, staged, expected },
    );
  }
}
