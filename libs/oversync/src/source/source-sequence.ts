import {
  SourceRetiredError,
  SourceSequenceOutOfOrderError,
  SourceTupleHistoryPrunedError,
} from '../errors/index.js';
import type { LockedScope } from '../scope/locked-scope.js';

/** The next `source_bundle_id` the source may commit; throws when the source is retired. */
export function expectedSourceBundleId(scope: LockedScope, sourceId: string): number {
  if (scope.source.state === 'retired') {
    throw new SourceRetiredError(scope.userId, sourceId, scope.source.replacedBySourceId);
  }
  return scope.source.maxCommitted + 1;
}

/**
 * Enforces contiguous per-source ids: an id below the watermark is history (`history_pruned`), an
 * id above it skips ids (`source_sequence_out_of_order`).
 */
export function checkSourceSequence(scope: LockedScope, sourceId: string, sourceBundleId: number): void {
  const expected = expectedSourceBundleId(scope, sourceId);
  if (sourceBundleId < expected) {
    throw new SourceTupleHistoryPrunedError(
      scope.userId,
      sourceId,
      sourceBundleId,
      scope.source.maxCommitted,
    );
  }
  if (sourceBundleId > expected) {
    throw new SourceSequenceOutOfOrderError(scope.userId, sourceId, expected, sourceBundleId);
  }
}
