import { DEFAULT_MAX_BUNDLES_PER_PULL, MAX_BUNDLES_PER_PULL } from '@oversync/protocol';
import { SyncWireError } from '../../errors/index.js';
import type { PullPageRequest } from '../../pull/pull.service.js';
import { parseQueryInt, parseQueryInt64 } from '../../pull/query-int.util.js';

const invalid = (message: string): Error => new SyncWireError('invalid_request', message);

/**
 * Validates the query of `GET /sync/pull` in go-oversync's order and wording (all 400
 * `invalid_request`): `after_bundle_seq` (int64 ≥ 0, default 0), `max_bundles` (1…5000, default
 * 1000), `target_bundle_seq` (int64 ≥ 0, default 0 = none).
 *
 * @throws SyncWireError `invalid_request` naming the first bad parameter.
 */
export function parsePullQuery(params: URLSearchParams): PullPageRequest {
  // Sequence numbers stay exact int64 (a target is echoed back as stable_bundle_seq).
  const after = parseQueryInt64(params, 'after_bundle_seq', invalid) ?? 0n;
  if (after < 0n) throw invalid('after_bundle_seq must be >= 0');
  const max = parseQueryInt(params, 'max_bundles', invalid) ?? DEFAULT_MAX_BUNDLES_PER_PULL;
  if (max < 1 || max > MAX_BUNDLES_PER_PULL) {
    throw invalid(`max_bundles must be between 1 and ${MAX_BUNDLES_PER_PULL}`);
  }
  const target = parseQueryInt64(params, 'target_bundle_seq', invalid) ?? 0n;
  if (target < 0n) throw invalid('target_bundle_seq must be >= 0');
  return { afterBundleSeq: after, maxBundles: max, targetBundleSeq: target };
}
