import { OversyncError } from './oversync.error.js';

/** A checkpoint, target or bundle lies at or below the retained floor (wire 409 `history_pruned`). */
export class HistoryPrunedError extends OversyncError {
  constructor(userId: string, requested: number, floor: number) {
    super(
      'history_pruned',
      `requested checkpoint ${requested} is older than retained history floor ${floor} for user ${userId}`,
      { requested, retained_bundle_floor: floor },
    );
  }
}
