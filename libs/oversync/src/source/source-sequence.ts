import {
  type OversyncError,
  SourceRetiredError,
  SourceSequenceOutOfOrderError,
  SourceTupleHistoryPrunedError,
} from '../errors/index.js';
import type { LockedScope } from '../scope/locked-scope.js';

function retiredError(scope: LockedScope, sourceId: string): SourceRetiredError | null {
  return scope.source.state === 'retired'
    ? new SourceRetiredError(scope.userId, sourceId, scope.source.replacedBySourceId)
    : null;
}

/** The next `source_bundle_id` the source may commit; throws when the source is retired. */
export function expectedSourceBundleId(scope: LockedScope, sourceId: string): number {
  const retired = retiredError(scope, sourceId);
  if (retired) throw retired;
  return scope.source.maxCommitted + 1;
}

/**
 * Contiguous per-source ids: the error for an id below the watermark (history, `history_pruned`),
 * above it (skips ids, `source_sequence_out_of_order`) or from a retired source; null when the id
 * is the next one.
 */
export function sourceSequenceError(
  scope: LockedScope,
  sourceId: string,
  sourceBundleId: number,
): OversyncError | null {
  const retired = retiredError(scope, sourceId);
  if (retired) return retired;
  const expected = scope.source.maxCommitted + 1;
  if (sourceBundleId < expected) {
    return new SourceTupleHistoryPrunedError(
      scope.userId,
      sourceId,
      sourceBundleId,
      scope.source.maxCommitted,
    );
  }
  if (sourceBundleId > expected) {
    return new SourceSequenceOutOfOrderError(scope.userId, sourceId, expected, sourceBundleId);
  }
  return null;
}

/** Enforces contiguous per-source ids ({@link sourceSequenceError}). */
export function checkSourceSequence(scope: LockedScope, sourceId: string, sourceBundleId: number): void {
  const error = sourceSequenceError(scope, sourceId, sourceBundleId);
  if (error) throw error;
}
