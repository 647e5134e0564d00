import { SnapshotSessionInvalidError } from '../../errors/index.js';
import { foldWireFields, wireFieldNames } from '../../push/wire-field-names.util.js';
import type { SourceReplacementRequest } from '../../snapshot/source-rotation.util.js';

const PARSE_FAILED = 'Failed to parse snapshot session request';
const BODY_FIELDS = wireFieldNames(['source_replacement']);
const REPLACEMENT_FIELD_NAMES = wireFieldNames(['previous_source_id', 'new_source_id', 'reason']);
/** A Map, not an object literal: a key like "constructor" must not find an inherited member. */
const REPLACEMENT_FIELDS: ReadonlyMap<string, keyof SourceReplacementRequest> = new Map([
  ['previous_source_id', 'previousSourceId'],
  ['new_source_id', 'newSourceId'],
  ['reason', 'reason'],
]);

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Decodes the optional body of `POST /sync/snapshot-sessions` as strictly as go-oversync's
 * `DisallowUnknownFields` decoder: no body, `null` or `{}` is a keep-source snapshot; unknown
 * fields (at any level; names match case-insensitively, as in Go) or wrongly typed values are
 * 400 `snapshot_session_invalid`. JSON `null` for a string field reads as empty, as in Go. Values are validated later, after the scope check.
 *
 * @param body - the parsed JSON body (`undefined` when there was none).
 * @returns the requested source rotation, or `undefined` for a keep-source snapshot.
 * @throws SnapshotSessionInvalidError "Failed to parse snapshot session request".
 */
export function parseSnapshotCreateBody(body: unknown): SourceReplacementRequest | undefined {
  if (body === undefined || body === null) return undefined;
  if (!isObject(body)) throw new SnapshotSessionInvalidError(PARSE_FAILED);
  // Field names match case-insensitively, as in Go; only then are unknown ones refused.
  const fields = foldWireFields(body, BODY_FIELDS);
  for (const key of Object.keys(fields)) {
    if (key !== 'source_replacement') throw new SnapshotSessionInvalidError(PARSE_FAILED);
  }
  const raw = fields.source_replacement;
  if (raw === undefined || raw === null) return undefined;
  if (!isObject(raw)) throw new SnapshotSessionInvalidError(PARSE_FAILED);
  const replacement: SourceReplacementRequest = { previousSourceId: '', newSourceId: '', reason: '' };
  for (const [key, value] of Object.entries(foldWireFields(raw, REPLACEMENT_FIELD_NAMES))) {
    const field = REPLACEMENT_FIELDS.get(key);
    if (!field || (value !== null && typeof value !== 'string'))
      throw new SnapshotSessionInvalidError(PARSE_FAILED);
    replacement[field] = value ?? '';
  }
  return replacement;
}
