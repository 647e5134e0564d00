import { CommittedBundleChunkInvalidError } from '../errors/index.js';
import type { CommittedBundleRowsQuery } from './committed-bundle-rows.service.js';

const INT64_MAX = 9223372036854775807n;
const INT64_MIN = -9223372036854775808n;
const DECIMAL = /^-?[0-9]+$/;

/** Page-size limits of the committed-rows route. */
export interface CommittedRowsLimits {
  defaultRowsPerCommittedBundleChunk: number;
  maxRowsPerCommittedBundleChunk: number;
}

/**
 * Strict int64 parsing (no whitespace, no `+`, no fraction): `null` when absent or empty,
 * `undefined` when not an integer. Values beyond 2^53 keep only double precision, which is harmless
 * for sequence numbers and ordinals that can never get that large.
 */
function parseInt64(raw: unknown): number | null | undefined {
  const text = Array.isArray(raw) ? (raw[0] as unknown) : raw;
  if (text === undefined || text === '') return null;
  if (typeof text !== 'string' || !DECIMAL.test(text)) return undefined;
  const value = BigInt(text);
  return value > INT64_MAX || value < INT64_MIN ? undefined : Number(value);
}

/**
 * Validates `GET /sync/committed-bundles/{bundle_seq}/rows` in go-oversync's order: the three
 * integers first, then their ranges. `max_rows` defaults to the configured chunk size and is
 * silently capped at the maximum.
 * @throws CommittedBundleChunkInvalidError
 */
export function parseCommittedRowsQuery(
  pathBundleSeq: string,
  query: Record<string, unknown>,
  limits: CommittedRowsLimits,
): CommittedBundleRowsQuery {
  const bundleSeq = parseInt64(pathBundleSeq);
  if (bundleSeq === undefined || bundleSeq === null) {
    throw new CommittedBundleChunkInvalidError('bundle_seq must be an integer');
  }
  const after = parseInt64(query.after_row_ordinal);
  if (after === undefined) throw new CommittedBundleChunkInvalidError('after_row_ordinal must be an integer');
  const max = parseInt64(query.max_rows);
  if (max === undefined) throw new CommittedBundleChunkInvalidError('max_rows must be an integer');
  if (bundleSeq <= 0) throw new CommittedBundleChunkInvalidError('bundle_seq must be > 0');
  if (after !== null && after < 0) {
    throw new CommittedBundleChunkInvalidError('after_row_ordinal must be >= 0');
  }
  if (max !== null && max <= 0) throw new CommittedBundleChunkInvalidError('max_rows must be > 0');
  return {
    bundleSeq,
    afterRowOrdinal: after,
    maxRows: Math.min(
      max ?? limits.defaultRowsPerCommittedBundleChunk,
      limits.maxRowsPerCommittedBundleChunk,
    ),
  };
}
