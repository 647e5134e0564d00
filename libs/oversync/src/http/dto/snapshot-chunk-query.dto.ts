import { SnapshotChunkInvalidError } from '../../errors/index.js';
import { parseQueryInt } from '../../pull/query-int.util.js';

/** Validated cursor of `GET /sync/snapshot-sessions/{snapshot_id}`. */
export interface SnapshotChunkQuery {
  /** 1-based ordinal of the last row already read; 0 to start. */
  afterRowOrdinal: number;
  /** Requested page size (capped later at `max_rows_per_snapshot_chunk`). */
  maxRows: number;
}

const invalid = (message: string): Error => new SnapshotChunkInvalidError(message);

/**
 * Parses `after_row_ordinal` (int64 ≥ 0, default 0) and `max_rows` (> 0, default
 * `defaultMaxRows`); every failure is 400 `snapshot_chunk_invalid` naming the parameter.
 *
 * @throws SnapshotChunkInvalidError
 */
export function parseSnapshotChunkQuery(params: URLSearchParams, defaultMaxRows: number): SnapshotChunkQuery {
  const after = parseQueryInt(params, 'after_row_ordinal', invalid) ?? 0;
  if (after < 0) throw invalid('after_row_ordinal must be >= 0');
  const maxRows = parseQueryInt(params, 'max_rows', invalid) ?? defaultMaxRows;
  if (maxRows <= 0) throw invalid('max_rows must be > 0');
  return { afterRowOrdinal: after, maxRows };
}
