import { SnapshotSessionInvalidError } from '../../errors/index.js';
import type { SourceReplacementRequest } from '../../snapshot/source-rotation.util.js';

const PARSE_FAILED = 'Failed to parse snapshot session request';
const REPLACEMENT_FIELDS: Record<string, keyof SourceReplacementRequest> = {
  previous_source_id: 'previousSourceId',
  new_source_id: 'newSourceId',
  reason: 'reason',
};

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Decodes the optional body of `POST /sync/snapshot-sessions` as strictly as go-oversync's
 * `DisallowUnknownFields` decoder: no body, `null` or `{}` is a keep-source snapshot; unknown
 * fields (at any level) or wrongly typed values are 400 `snapshot_session_invalid`. JSON `null`
 * for a string field reads as empty, as in Go. Values are validated later, after the scope check.
 *
 * @param body - the parsed JSON body (`undefined` when there was none).
 * @returns the requested source rotation, or `undefined` for a keep-source snapshot.
 * @throws SnapshotSessionInvalidError "Failed to parse snapshot session request".
 */
export function parseSnapshotCreateBody(body: unknown): SourceReplacementRequest | undefined {
  if (body === undefined || body === null) return undefined;
  if (!isObject(body)) throw new SnapshotSessionInvalidError(PARSE_FAILED);
  for (const key of Object.keys(body)) {
    if (key !== 'source_replacement') throw new SnapshotSessionInvalidError(PARSE_FAILED);
  }
  const raw = body.source_replacement;
  if (raw === undefined || raw === null) return undefined;
  if (!isObject(raw)) throw new SnapshotSessionInvalidError(PARSE_FAILED);
  const replacement: SourceReplacementRequest = { previousSourceId: '', newSourceId: '', reason: '' };
  for (const [key, value] of Object.entries(raw)) {
    const field = REPLACEMENT_FIELDS[key];
    if (!field || (value !== null && typeof value !== 'string'))
      throw new SnapshotSessionInvalidError(PARSE_FAILED);
    replacement[field] = value ?? '';
  }
  return replacement;
}
