import { sql, type Kysely } from 'kysely';
import { toInt } from '../database/pg-values.util.js';
import { HistoryPrunedError, ScopeInitializingError, ScopeUninitializedError } from '../errors/index.js';
import { ScopeStateCode } from '../scope/locked-scope.js';

/** What the read paths (pull, snapshot, watch) need about an INITIALIZED scope. */
export interface ReadableScope {
  userId: string;
  userPk: number;
  /** `next_bundle_seq - 1`: the latest committed bundle (0 when none). */
  latestBundleSeq: number;
  retainedFloor: number;
}

interface ScopeRow {
  user_pk: string;
  latest: string;
  floor: string;
  state_code: number | null;
  lease_expired: boolean | null;
  lease_expires_at: string | null;
}

/**
 * Non-locking scope check of the read paths: INITIALIZED passes; INITIALIZING with a live lease is
 * `scope_initializing`; everything else (no state, UNINITIALIZED, a lapsed lease that no writer has
 * reset yet) is `scope_uninitialized`. Nothing is written.
 *
 * @param db - the pool or the caller's (REPEATABLE READ) transaction.
 * @param userId - the scope (user) id.
 * @throws ScopeUninitializedError | ScopeInitializingError
 */
export async function readInitializedScope(db: Kysely<unknown>, userId: string): Promise<ReadableScope> {
  const { rows } = await sql<ScopeRow>`
    SELECT u.user_pk::text AS user_pk, (u.next_bundle_seq - 1)::text AS latest, u.retained_bundle_floor::text AS floor,
           s.state_code, s.lease_expires_at <= clock_timestamp() AS lease_expired,
           to_char(s.lease_expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS lease_expires_at
      FROM sync.user_state u
      LEFT JOIN sync.scope_state s ON s.user_pk = u.user_pk
     WHERE u.user_id = ${userId}`.execute(db);
  const row = rows[0];
  if (!row || row.state_code === null) throw new ScopeUninitializedError(userId);
  if (row.state_code === ScopeStateCode.initializing && !row.lease_expired) {
    throw new ScopeInitializingError(userId, row.lease_expires_at);
  }
  if (row.state_code !== ScopeStateCode.initialized) throw new ScopeUninitializedError(userId);
  return {
    userId,
    userPk: toInt(row.user_pk),
    latestBundleSeq: toInt(row.latest),
    retainedFloor: toInt(row.floor),
  };
}

/**
 * go-oversync's retained-history rule: a checkpoint `v` is outside the contract when
 * `0 < v <= floor` (so 0 never fails, and the floor itself does).
 *
 * @throws HistoryPrunedError naming the checkpoint and the floor.
 */
export function assertRetained(scope: ReadableScope, checkpoint: number | bigint): void {
  if (checkpoint > 0 && checkpoint <= scope.retainedFloor) {
    // At or below the floor, so well inside the safe-integer range.
    throw new HistoryPrunedError(scope.userId, Number(checkpoint), scope.retainedFloor);
  }
}
