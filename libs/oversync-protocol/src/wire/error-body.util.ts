import type { ErrorBody, PushConflictErrorBody, SourceRetiredErrorBody } from './error-body.types.js';

/**
 * Checks that a parsed response body is an error envelope (`error` is a string).
 *
 * @param body - a parsed JSON body.
 * @returns true when `body.error` is a string; `message` defaults are up to the caller.
 */
export function isErrorBody(body: unknown): body is ErrorBody<string> {
  return typeof body === 'object' && body !== null && typeof (body as { error?: unknown }).error === 'string';
}

/**
 * Checks for a structured `push_conflict` body, i.e. `error == "push_conflict"` with a non-null
 * `conflict` object (the only form clients treat as a conflict).
 *
 * @param body - a parsed JSON body.
 */
export function isPushConflictErrorBody(body: unknown): body is PushConflictErrorBody {
  if (!isErrorBody(body) || body.error !== 'push_conflict') return false;
  const conflict = (body as { conflict?: unknown }).conflict;
  return typeof conflict === 'object' && conflict !== null;
}

/**
 * Checks for a `source_retired` body carrying the retired `source_id`.
 *
 * @param body - a parsed JSON body.
 */
export function isSourceRetiredErrorBody(body: unknown): body is SourceRetiredErrorBody {
  return (
    isErrorBody(body) &&
    body.error === 'source_retired' &&
    typeof (body as { source_id?: unknown }).source_id === 'string'
  );
}
