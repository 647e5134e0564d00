import { sql, type Kysely } from 'kysely';
import { toInt } from '../database/pg-values.util.js';

/** `sync.scope_state.state_code` values. */
export const ScopeStateCode = { uninitialized: 0, initializing: 1, initialized: 2 } as const;
export type ScopeStateCodeValue = (typeof ScopeStateCode)[keyof typeof ScopeStateCode];

/** Per-source watermark state (`sync.source_state`), null when the source never wrote. */
export interface LockedSource {
  state: 'active' | 'reserved' | 'retired' | null;
  maxCommitted: number;
  replacedBySourceId: string;
}

/** Scope, user and source state read under the scope's advisory lock and row locks. */
export interface LockedScope {
  userId: string;
  userPk: number;
  stateCode: ScopeStateCodeValue;
  initializerSourceId: string | null;
  initializationId: string | null;
  /** `YYYY-MM-DDTHH:MM:SS.ffffffZ` (UTC, microseconds) or null. */
  leaseExpiresAt: string | null;
  /** True when this call reset an expired INITIALIZING lease to UNINITIALIZED. */
  leaseExpired: boolean;
  nextBundleSeq: number;
  retainedFloor: number;
  source: LockedSource;
}

interface LockScopeRow {
  user_pk: string;
  state_code: number;
  initializer_source_id: string | null;
  initialization_id: string | null;
  lease_expires_at: string | null;
  lease_expired: boolean;
  next_bundle_seq: string;
  retained_bundle_floor: string;
  source_state: LockedSource['state'];
  max_committed_source_bundle_id: string;
  replaced_by_source_id: string;
}

/**
 * Takes the scope's advisory lock for the rest of the transaction, creates its state rows on first
 * use, locks them, lazily expires a stale lease and returns the state (one round trip, see
 * `sync.lock_scope`). Every bundle-producing path calls this first.
 *
 * @param pinSettings - pin the value reading/printing settings (RENDER_SETTINGS) for the rest of
 *   the transaction; false when a host callback runs next, which must see its own settings
 *   (finalisation pins them itself).
 */
export async function lockScope(
  trx: Kysely<unknown>,
  userId: string,
  sourceId: string,
  pinSettings = true,
): Promise<LockedScope> {
  const { rows } =
    await sql<LockScopeRow>`SELECT * FROM sync.lock_scope(${userId}, ${sourceId}, ${pinSettings})`.execute(
      trx,
    );
  const r = rows[0];
  if (!r) throw new Error(`sync.lock_scope returned no row for ${userId}`);
  return {
    userId,
    userPk: toInt(r.user_pk),
    stateCode: r.state_code as ScopeStateCodeValue,
    initializerSourceId: r.initializer_source_id,
    initializationId: r.initialization_id,
    leaseExpiresAt: r.lease_expires_at,
    leaseExpired: r.lease_expired,
    nextBundleSeq: toInt(r.next_bundle_seq),
    retainedFloor: toInt(r.retained_bundle_floor),
    source: {
      state: r.source_state,
      maxCommitted: toInt(r.max_committed_source_bundle_id),
      replacedBySourceId: r.replaced_by_source_id,
    },
  };
}
