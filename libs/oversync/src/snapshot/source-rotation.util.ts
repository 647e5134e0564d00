import { isSourceRecoveryReason } from '@oversync/protocol';
import { sql, type Kysely } from 'kysely';
import {
  SnapshotSessionInvalidError,
  SourceReplacementInvalidError,
  SourceRetiredError,
} from '../errors/index.js';

/** A requested source rotation, trimmed and validated. */
export interface SourceReplacementRequest {
  previousSourceId: string;
  newSourceId: string;
  reason: string;
}

interface SourceRow {
  source_id: string;
  state: 'active' | 'reserved' | 'retired';
  replaced_by_source_id: string;
}

/**
 * Trims and validates a `source_replacement` (all 400 `snapshot_session_invalid`): the previous id
 * must be the request's source, the new id must be present and different, and the reason must be
 * one of the four source-recovery reasons.
 *
 * @param actorSourceId - the trimmed `Oversync-Source-ID` of the request.
 * @throws SnapshotSessionInvalidError with go-oversync's message.
 */
export function validateSourceReplacement(
  actorSourceId: string,
  raw: SourceReplacementRequest,
): SourceReplacementRequest {
  const previousSourceId = raw.previousSourceId.trim();
  const newSourceId = raw.newSourceId.trim();
  const reason = raw.reason.trim();
  if (previousSourceId !== actorSourceId) {
    throw new SnapshotSessionInvalidError('previous_source_id must match authenticated source_id');
  }
  if (newSourceId === '')
    throw new SnapshotSessionInvalidError('new_source_id is required for source replacement');
  if (newSourceId === previousSourceId) {
    throw new SnapshotSessionInvalidError('new_source_id must differ from previous_source_id');
  }
  if (!isSourceRecoveryReason(reason))
    throw new SnapshotSessionInvalidError('source replacement reason is unsupported');
  return { previousSourceId, newSourceId, reason };
}

/**
 * Applies a rotated rebuild's source transition (wire-protocol §6.3) atomically with the snapshot:
 *
 * - previous not retired (or unknown), new unknown → reserve new, retire previous (an unknown
 *   previous gets a retired row with watermark 0);
 * - previous not retired, new known → `source_replacement_invalid`;
 * - previous already retired in favour of new → idempotent (new reserved if missing; a retired new
 *   → `source_replacement_invalid`);
 * - previous retired in favour of another id → `source_retired` naming that id.
 *
 * Call it while holding the scope lock: both rows are locked FOR UPDATE and the writes then cannot
 * race a commit of either source (go-oversync's unlocked version can fail with 40001 here).
 */
export async function rotateSource(
  trx: Kysely<unknown>,
  scope: { userId: string; userPk: number },
  replacement: SourceReplacementRequest,
): Promise<void> {
  const { previousSourceId: prev, newSourceId: next, reason } = replacement;
  const { rows } = await sql<SourceRow>`
    SELECT source_id, state, replaced_by_source_id FROM sync.source_state
     WHERE user_pk = ${scope.userPk} AND source_id IN (${prev}, ${next})
     ORDER BY source_id
       FOR UPDATE`.execute(trx);
  const previous = rows.find((r) => r.source_id === prev);
  const replacementRow = rows.find((r) => r.source_id === next);

  if (previous?.state === 'retired') {
    if (previous.replaced_by_source_id !== next) {
      throw new SourceRetiredError(scope.userId, prev, previous.replaced_by_source_id);
    }
    if (!replacementRow) {
      await reserve(trx, scope.userPk, next);
      return;
    }
    if (replacementRow.state === 'retired') {
      throw new SourceReplacementInvalidError(
        `replacement source ${next} is not available for rotated rebuild`,
        {
          new_source_id: next,
        },
      );
    }
    return;
  }
  if (replacementRow) {
    throw new SourceReplacementInvalidError(
      `replacement source ${next} is already known for user ${scope.userId}`,
      {
        new_source_id: next,
      },
    );
  }
  await reserve(trx, scope.userPk, next);
  // Upsert keeps max_committed_source_bundle_id, so replays of the old source stay answerable.
  await sql`
    INSERT INTO sync.source_state (user_pk, source_id, state, max_committed_source_bundle_id, replaced_by_source_id, retirement_reason)
    VALUES (${scope.userPk}, ${prev}, 'retired', 0, ${next}, ${reason})
    ON CONFLICT (user_pk, source_id) DO UPDATE
      SET state = 'retired', replaced_by_source_id = EXCLUDED.replaced_by_source_id, retirement_reason = EXCLUDED.retirement_reason`.execute(
    trx,
  );
}

async function reserve(trx: Kysely<unknown>, userPk: number, sourceId: string): Promise<void> {
  await sql`INSERT INTO sync.source_state (user_pk, source_id, state, max_committed_source_bundle_id)
            VALUES (${userPk}, ${sourceId}, 'reserved', 0)`.execute(trx);
}
