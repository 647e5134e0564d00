import { sql, type Kysely } from 'kysely';
import { InitializationStaleError } from '../errors/index.js';
import { ScopeStateCode, type LockedScope } from '../scope/locked-scope.js';

/** Microsecond UTC text, the same form `sync.lock_scope` reports leases in. */
const LEASE_TEXT = sql`to_char(lease_expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

/** An initialization lease as stored: its id and expiry (`YYYY-MM-DDTHH:MM:SS.ffffffZ`). */
export interface InitializationLease {
  initializationId: string;
  leaseExpiresAt: string;
}

/**
 * Puts the scope into INITIALIZING for `sourceId` with `initializationId` and a lease of `ttlSeconds`
 * from now; used both to start a lease and to refresh the caller's own lease (same id).
 * Must run under the scope lock.
 */
export async function takeInitializationLease(
  trx: Kysely<unknown>,
  userPk: number,
  sourceId: string,
  initializationId: string,
  ttlSeconds: number,
): Promise<InitializationLease> {
  const { rows } = await sql<{ lease: string }>`
    UPDATE sync.scope_state
       SET state_code = ${ScopeStateCode.initializing}, initializer_source_id = ${sourceId},
           initialization_id = ${initializationId}::uuid,
           lease_expires_at = clock_timestamp() + make_interval(secs => ${ttlSeconds}),
           initialized_at = NULL, initialized_by_source_id = NULL
     WHERE user_pk = ${userPk}
 RETURNING ${LEASE_TEXT} AS lease`.execute(trx);
  return { initializationId, leaseExpiresAt: rows[0].lease };
}

/** Extends the active lease to now + `ttlSeconds` (chunk and commit of a seeding session). */
export async function refreshInitializationLease(
  trx: Kysely<unknown>,
  userPk: number,
  ttlSeconds: number,
): Promise<void> {
  await sql`UPDATE sync.scope_state SET lease_expires_at = clock_timestamp() + make_interval(secs => ${ttlSeconds})
             WHERE user_pk = ${userPk} AND state_code = ${ScopeStateCode.initializing}`.execute(trx);
}

/** Moves the scope to the terminal INITIALIZED state, initialised by `sourceId`. */
export async function markScopeInitialized(
  trx: Kysely<unknown>,
  userPk: number,
  sourceId: string,
): Promise<void> {
  await sql`
    UPDATE sync.scope_state
       SET state_code = ${ScopeStateCode.initialized}, initializer_source_id = NULL, initialization_id = NULL,
           lease_expires_at = NULL, initialized_at = clock_timestamp(), initialized_by_source_id = ${sourceId}
     WHERE user_pk = ${userPk}`.execute(trx);
}

/** Whole seconds until the active lease ends (truncated), at least 1, by the database clock. */
export async function secondsUntilLeaseEnds(trx: Kysely<unknown>, userPk: number): Promise<number> {
  const { rows } = await sql<{ seconds: number }>`
    SELECT GREATEST(1, floor(extract(epoch FROM lease_expires_at - clock_timestamp())))::int AS seconds
      FROM sync.scope_state WHERE user_pk = ${userPk}`.execute(trx);
  return rows[0]?.seconds ?? 1;
}

/**
 * Checks that `sourceId` still holds the scope's live lease under `initializationId` (the lock
 * already reset an expired lease to UNINITIALIZED, so an expired lease reads as "no longer
 * initializing", which go-oversync also reports as stale).
 * @throws InitializationStaleError
 */
export function assertLeaseOwner(scope: LockedScope, sourceId: string, initializationId: string): void {
  if (scope.stateCode !== ScopeStateCode.initializing) {
    throw new InitializationStaleError('scope is no longer initializing');
  }
  if (scope.initializerSourceId !== sourceId) {
    throw new InitializationStaleError('source does not own the active initialization lease');
  }
  if (scope.initializationId !== initializationId) {
    throw new InitializationStaleError('initialization_id does not match the active initialization lease');
  }
}
