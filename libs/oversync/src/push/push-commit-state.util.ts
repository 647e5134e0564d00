import { sql, type Kysely } from 'kysely';
import { firstConflictQuery, type FirstConflictRow } from './push-conflict.util.js';
import {
  lockedSessionQuery,
  requirePushId,
  usableSession,
  type PushSessionRecord,
  type SessionRow,
} from './push-session-lookup.util.js';
import { stagedPlanJson, type PlanStepJson } from './staged-plan.util.js';
import {
  locateStagingProblem,
  stagingNeedsLocating,
  stagingSummaryQuery,
  type StagingCheck,
  type StagingSummaryRow,
} from './staging-summary.util.js';

/** What a commit checks and applies, read by {@link loadCommitState}. */
export interface CommitState {
  session: PushSessionRecord;
  staging: StagingCheck;
  /** The first staged row that conflicts, in upload order. */
  conflict: FirstConflictRow | null;
  /** The apply plan; computed only when no row conflicts. */
  plan: PlanStepJson[] | null;
}

type Nullable<T> = { [K in keyof T]: T[K] | null };

type CommitStateRow = SessionRow &
  StagingSummaryRow &
  Nullable<FirstConflictRow> & { plan: PlanStepJson[] | null };

/**
 * Loads a push session for commit in one statement: locks the session row, summarises its staging,
 * finds its first conflicting row and, when there is none, plans the apply. Under the scope lock
 * nothing else changes the staged rows or `sync.row_state`, and a session deleted while this waits
 * for the row lock reads as missing, so the one snapshot gives the same answers as reading each part
 * after the lock.
 * @throws PushSessionNotFoundError | PushSessionForbiddenError | PushSessionExpiredError
 */
export async function loadCommitState(
  trx: Kysely<unknown>,
  userPk: number,
  rawPushId: string,
  userId: string,
): Promise<CommitState> {
  const pushId = requirePushId(rawPushId);
  const { rows } = await sql<CommitStateRow>`
    WITH session AS (${lockedSessionQuery(pushId)})
    SELECT session.*, summary.*, conflict.*,
           CASE WHEN conflict.row_ordinal IS NULL THEN ${stagedPlanJson(pushId)} END AS plan
      FROM session
     CROSS JOIN (${stagingSummaryQuery(pushId)}) AS summary
      LEFT JOIN (${firstConflictQuery(userPk, pushId)}) AS conflict ON true`.execute(trx);
  const row = rows[0];
  const session = usableSession(row, rawPushId, userId);
  const problem = stagingNeedsLocating(row) ? await locateStagingProblem(trx, pushId) : null;
  return { session, staging: { summary: row, problem }, conflict: conflictOf(row), plan: row.plan };
}

function conflictOf(row: Nullable<FirstConflictRow>): FirstConflictRow | null {
  const { row_ordinal, table_id, key_bytes, op_code, base_bundle_seq, bundle_seq, deleted } = row;
  if (row_ordinal === null || table_id === null || key_bytes === null || op_code === null) return null;
  if (base_bundle_seq === null) return null;
  return { row_ordinal, table_id, key_bytes, op_code, base_bundle_seq, bundle_seq, deleted };
}
