import { sql, type Kysely, type RawBuilder } from 'kysely';
import { toInt } from '../database/pg-values.util.js';
import {
  PushSessionExpiredError,
  PushSessionForbiddenError,
  PushSessionNotFoundError,
} from '../errors/index.js';

/** A staging push session as loaded (and row-locked) for chunk, commit or delete. */
export interface PushSessionRecord {
  /** Canonical lower-case UUID text. */
  pushId: string;
  userPk: number;
  sourceId: string;
  sourceBundleId: number;
  plannedRowCount: number;
  nextExpectedRowOrdinal: number;
  /** Set for the seeding push of an INITIALIZING scope. */
  initializationId: string | null;
}

/** A push session row as {@link lockedSessionQuery} selects it. */
export interface SessionRow {
  push_id: string;
  user_id: string;
  user_pk: string;
  source_id: string;
  source_bundle_id: string;
  planned_row_count: string;
  next_expected_row_ordinal: string;
  initialization_id: string | null;
  expired: boolean;
}

const HEX32 = /^[0-9a-f]{32}$/i;

/**
 * Parses a path `push_id` the way Go's `uuid.Parse` does (dashed, 32 hex digits, `{…}` or
 * `urn:uuid:` forms, any case).
 * @returns canonical UUID text, or null for anything else (answered as not found).
 */
export function parsePushId(raw: string): string | null {
  let text = raw;
  if (text.length === 45 && text.slice(0, 9).toLowerCase() === 'urn:uuid:') text = text.slice(9);
  else if (text.length === 38 && text.startsWith('{') && text.endsWith('}')) text = text.slice(1, -1);
  if (text.length === 36) {
    if (text[8] !== '-' || text[13] !== '-' || text[18] !== '-' || text[23] !== '-') return null;
    text = text.slice(0, 8) + text.slice(9, 13) + text.slice(14, 18) + text.slice(19, 23) + text.slice(24);
  }
  if (!HEX32.test(text)) return null;
  const h = text.toLowerCase();
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * The SELECT that loads a push session by `pushId` (canonical) and row-locks it: the columns of
 * {@link SessionRow}; usable alone or as a CTE of a larger statement.
 */
export function lockedSessionQuery(pushId: string): RawBuilder<SessionRow> {
  return sql<SessionRow>`
    SELECT ps.push_id::text AS push_id, us.user_id, ps.user_pk, ps.source_id, ps.source_bundle_id,
           ps.planned_row_count, ps.next_expected_row_ordinal, ps.initialization_id::text AS initialization_id,
           ps.expires_at < clock_timestamp() AS expired
      FROM sync.push_sessions ps
      JOIN sync.user_state us ON us.user_pk = ps.user_pk
     WHERE ps.push_id = ${pushId}::uuid
       FOR UPDATE OF ps`;
}

/**
 * The canonical id of a path `push_id`.
 * @throws PushSessionNotFoundError for an id that does not parse.
 */
export function requirePushId(rawPushId: string): string {
  const pushId = parsePushId(rawPushId);
  if (!pushId) throw new PushSessionNotFoundError(rawPushId);
  return pushId;
}

/**
 * Checks that a session row loaded by {@link lockedSessionQuery} may be used by `userId`: unknown →
 * 404, another user's → 403 (the source is deliberately not compared), past `expires_at` → 410.
 * @throws PushSessionNotFoundError | PushSessionForbiddenError | PushSessionExpiredError
 */
export function usableSession(
  row: SessionRow | undefined,
  rawPushId: string,
  userId: string,
): PushSessionRecord {
  if (!row) throw new PushSessionNotFoundError(rawPushId);
  if (row.user_id !== userId) throw new PushSessionForbiddenError(rawPushId);
  if (row.expired) throw new PushSessionExpiredError(rawPushId);
  return {
    pushId: row.push_id,
    userPk: toInt(row.user_pk),
    sourceId: row.source_id,
    sourceBundleId: toInt(row.source_bundle_id),
    plannedRowCount: toInt(row.planned_row_count),
    nextExpectedRowOrdinal: toInt(row.next_expected_row_ordinal),
    initializationId: row.initialization_id,
  };
}

/**
 * Loads a push session FOR UPDATE and checks it may be used by `userId` ({@link usableSession}).
 *
 * @param rawPushId - the id as it appeared in the path (used in error messages).
 * @throws PushSessionNotFoundError | PushSessionForbiddenError | PushSessionExpiredError
 */
export async function loadPushSessionForUpdate(
  trx: Kysely<unknown>,
  rawPushId: string,
  userId: string,
): Promise<PushSessionRecord> {
  const { rows } = await lockedSessionQuery(requirePushId(rawPushId)).execute(trx);
  return usableSession(rows[0], rawPushId, userId);
}
