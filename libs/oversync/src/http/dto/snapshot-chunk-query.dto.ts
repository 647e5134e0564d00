import { SnapshotChunkInvalidError } from '../../errors/index.js';
import { int64Cursor, parseQueryInt, parseQueryInt64 } from '../../pull/query-int.util.js';

/** Validated cursor of `GET /sync/snapshot-sessions/{snapshot_id}`. */
export interface SnapshotChunkQuery {
  /** 1-based ordinal of the last row already read; 0 to start. */
  afterRowOrdinal: number;
  /**
   * The cursor's digits when it is beyond 2^53 (`afterRowOrdinal` then only approximates it): a
   * page past the end echoes them exactly as `next_row_ordinal`, as go-oversync does.
   */
  afterRowOrdinalText?: string;
  /** Requested page size (capped later at `max_rows_per_snapshot_chunk`). */
  maxRows: number;
}

const invalid = (message: string): Error => new SnapshotChunkInvalidError(message);

/**
 * Parses `after_row_ordinal` (default 0) and `max_rows` (default `defaultMaxRows`) as integers;
 * their ranges are checked by {@link checkSnapshotChunkQuery}, which go-oversync's service runs
 * after `beginOperation`. Every failure is 400 `snapshot_chunk_invalid` naming the parameter.
 *
 * @throws SnapshotChunkInvalidError "… must be an integer".
 */
export function parseSnapshotChunkQuery(params: URLSearchParams, defaultMaxRows: number): SnapshotChunkQuery {
  const after = parseQueryInt64(params, 'after_row_ordinal', invalid) ?? 0n;
  const cursor = int64Cursor(after, Number.MAX_SAFE_INTEGER);
  return {
    afterRowOrdinal: cursor.value,
    ...(cursor.text !== undefined && { afterRowOrdinalText: cursor.text }),
    maxRows: parseQueryInt(params, 'max_rows', invalid) ?? defaultMaxRows,
  };
}

/**
 * `after_row_ordinal` ≥ 0, then `max_rows` > 0.
 * @throws SnapshotChunkInvalidError
 */
export function checkSnapshotChunkQuery(query: SnapshotChunkQuery): SnapshotChunkQuery {
  if (query.afterRowOrdinal < 0) throw invalid('after_row_ordinal must be >= 0');
  if (query.maxRows <= 0) throw invalid('max_rows must be > 0');
  return query;
}
