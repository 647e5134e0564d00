import { CommittedBundleChunkInvalidError, CommittedBundleNotFoundError } from '../errors/index.js';
import { int64Cursor, parseInt64Text, parseQueryInt64 } from '../pull/query-int.util.js';
import type { CommittedBundleRowsQuery } from './committed-bundle-rows.service.js';

/** Page-size limits of the committed-rows route. */
export interface CommittedRowsLimits {
  defaultRowsPerCommittedBundleChunk: number;
  maxRowsPerCommittedBundleChunk: number;
}

/** The route's three integers, parsed but not yet range-checked. */
export interface CommittedRowsParams {
  bundleSeq: bigint;
  afterRowOrdinal: bigint | undefined;
  maxRows: bigint | undefined;
}

const invalid = (message: string): Error => new CommittedBundleChunkInvalidError(message);

/**
 * Parses `GET /sync/committed-bundles/{bundle_seq}/rows` as go-oversync's handler does: the three
 * integers, strictly, like `strconv.ParseInt` (an optional sign, digits); the query is read like
 * `url.ParseQuery` whatever the host's query parser. Ranges are checked by
 * {@link checkCommittedRowsParams}, which go-oversync's service runs after `beginOperation`.
 * @throws CommittedBundleChunkInvalidError "… must be an integer".
 */
export function parseCommittedRowsParams(
  pathBundleSeq: string,
  params: URLSearchParams,
): CommittedRowsParams {
  const bundleSeq = parseInt64Text(pathBundleSeq, 'bundle_seq', invalid);
  if (bundleSeq === undefined) throw invalid('bundle_seq must be an integer');
  return {
    bundleSeq,
    afterRowOrdinal: parseQueryInt64(params, 'after_row_ordinal', invalid),
    maxRows: parseQueryInt64(params, 'max_rows', invalid),
  };
}

/**
 * The range checks, in go-oversync's order; `max_rows` defaults to the configured chunk size and
 * is silently capped at the maximum. A `bundle_seq` beyond 2^53 cannot name a bundle (sequences
 * count commits), so it is `committed_bundle_not_found` at once; an `after_row_ordinal` beyond it
 * is past any row and is clamped there.
 * @throws CommittedBundleChunkInvalidError | CommittedBundleNotFoundError
 */
export function checkCommittedRowsParams(
  params: CommittedRowsParams,
  limits: CommittedRowsLimits,
): CommittedBundleRowsQuery {
  const { bundleSeq, afterRowOrdinal: after, maxRows: max } = params;
  if (bundleSeq <= 0n) throw invalid('bundle_seq must be > 0');
  if (after !== undefined && after < 0n) throw invalid('after_row_ordinal must be >= 0');
  if (max !== undefined && max <= 0n) throw invalid('max_rows must be > 0');
  if (bundleSeq > BigInt(Number.MAX_SAFE_INTEGER)) throw new CommittedBundleNotFoundError(bundleSeq);
  const cap = BigInt(limits.maxRowsPerCommittedBundleChunk);
  const requested = max ?? BigInt(limits.defaultRowsPerCommittedBundleChunk);
  const maxRows = Number(requested < cap ? requested : cap);
  // A cursor this far is past any row; it is clamped so the storage range bounds stay exact
  // numbers, and its digits are kept for the echo of an empty page.
  const cursor = after === undefined ? null : int64Cursor(after, Number.MAX_SAFE_INTEGER - maxRows - 2);
  return {
    bundleSeq: Number(bundleSeq),
    afterRowOrdinal: cursor?.value ?? null,
    ...(cursor?.text !== undefined && { afterRowOrdinalText: cursor.text }),
    maxRows,
  };
}
