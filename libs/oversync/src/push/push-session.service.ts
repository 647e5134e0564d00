import { randomUUID } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import type { PushSessionAlreadyCommittedResponse, PushSessionCreateResponse } from '@oversync/protocol';
import { sql, type Kysely } from 'kysely';
import { ScopeTransactionRunner } from '../capture/scope-transaction.runner.js';
import { assertLeaseOwner, refreshInitializationLease } from '../connect/scope-lease.util.js';
import { toInt } from '../database/pg-values.util.js';
import {
  InitializationExpiredError,
  PushSessionInvalidError,
  ScopeUninitializedError,
} from '../errors/index.js';
import type { SyncRequestActor } from '../http/sync-request.types.js';
import { OversyncRuntime } from '../runtime/oversync-runtime.service.js';
import { ScopeStateCode, type LockedScope } from '../scope/locked-scope.js';
import { sourceSequenceError } from '../source/source-sequence.js';
import { loadPushSessionForUpdate } from './push-session-lookup.util.js';
import { DELETE_STAGED_ROWS_OF_GONE, deletePushSessions } from './push-session-delete.util.js';
import { withTransactionRetries } from './transaction-retry.util.js';

/** A push-session create request after decoding (zero values for absent fields, like Go). */
export interface CreatePushSessionCommand {
  sourceBundleId: number;
  plannedRowCount: number;
  /** Trimmed; empty means absent. */
  initializationId: string;
}

/**
 * Creates (or restarts) staging push sessions and discards them: `POST /sync/push-sessions` and
 * `DELETE /sync/push-sessions/{push_id}`.
 */
@Injectable()
export class PushSessionService {
  readonly #logger = new Logger('OversyncPushSessions');

  constructor(
    private readonly runner: ScopeTransactionRunner,
    private readonly runtime: OversyncRuntime,
  ) {}

  /**
   * Opens a staging session for `(user, header source, source_bundle_id)`, or replays the metadata
   * of that tuple when it is already committed and retained. Serialised per user, retried on
   * serialization failures.
   * @throws PushSessionInvalidError, ScopeUninitializedError, InitializationExpiredError,
   *   InitializationStaleError, SourceRetiredError, SourceTupleHistoryPrunedError,
   *   SourceSequenceOutOfOrderError.
   */
  async create(
    actor: SyncRequestActor,
    command: CreatePushSessionCommand,
  ): Promise<PushSessionCreateResponse> {
    if (command.sourceBundleId <= 0) throw new PushSessionInvalidError('source_bundle_id must be > 0');
    if (command.plannedRowCount <= 0) throw new PushSessionInvalidError('planned_row_count must be > 0');
    const { userId, sourceId } = actor;
    const initializationId = command.initializationId;
    const limits = this.runtime.options.limits;
    const response = await withTransactionRetries(() =>
      this.runner.run(userId, sourceId, async (trx, scope): Promise<PushSessionCreateResponse> => {
        if (scope.stateCode === ScopeStateCode.uninitialized) {
          throw initializationId ? new InitializationExpiredError() : new ScopeUninitializedError(userId);
        }
        if (scope.stateCode === ScopeStateCode.initializing) {
          if (!initializationId) {
            throw new PushSessionInvalidError(
              'initialization_id is required while the scope is initializing',
            );
          }
          assertLeaseOwner(scope, sourceId, initializationId);
          await refreshInitializationLease(trx, scope.userPk, limits.initializationLeaseTtlSeconds);
        }
        // Better than go-oversync (which answers 400 here): a seeding push whose commit response
        // was lost is retried with its initialization_id after the scope became INITIALIZED;
        // replaying the committed tuple lets the client finish instead of failing closed.
        const replayOnly = scope.stateCode === ScopeStateCode.initialized && initializationId !== '';
        // The replay lookup precedes sequencing, so a retired source can still replay a retained
        // tuple; a session is opened only when sequencing would accept it.
        const pushId = randomUUID();
        const sequenceError = replayOnly
          ? null
          : sourceSequenceError(scope, sourceId, command.sourceBundleId);
        const open = !replayOnly && sequenceError === null;
        const committed = await openOrReplay(trx, scope, {
          pushId: open ? pushId : null,
          sourceId,
          sourceBundleId: command.sourceBundleId,
          plannedRowCount: command.plannedRowCount,
          initializationId,
          ttlSeconds: limits.pushSessionTtlSeconds,
        });
        if (committed) return committed;
        if (replayOnly) {
          throw new PushSessionInvalidError('initialization_id must be absent once the scope is initialized');
        }
        if (sequenceError) throw sequenceError;
        // next_expected_row_ordinal is 0 and, as in go-oversync (omitempty), not sent.
        return { push_id: pushId, status: 'staging', planned_row_count: command.plannedRowCount };
      }),
    );
    // Counted once the replay is certain: inside the retried transaction a sequence increment
    // would survive each rolled-back attempt and count one replay several times.
    if (response.status === 'already_committed') await this.#countReplay();
    return response;
  }

  async #countReplay(): Promise<void> {
    try {
      await sql`SELECT nextval('sync.accepted_push_replay_seq')`.execute(this.runtime.db);
    } catch (error) {
      this.#logger.warn(`could not count an already_committed replay: ${(error as Error).message}`);
    }
  }

  /**
   * Discards a staging session and its rows. No scope lock (nothing is sequenced); an expired
   * session is reported, not deleted.
   * @throws PushSessionNotFoundError | PushSessionForbiddenError | PushSessionExpiredError
   */
  async delete(actor: SyncRequestActor, rawPushId: string): Promise<void> {
    // READ COMMITTED whatever the host's default: under REPEATABLE READ the row lock taken after
    // waiting for a commit of this session would fail with 40001 (a 500) instead of finding it gone.
    await this.runtime.db
      .transaction()
      .setIsolationLevel('read committed')
      .execute(async (trx) => {
        const session = await loadPushSessionForUpdate(trx, rawPushId, actor.userId);
        await deletePushSessions(trx, sql`push_id = ${session.pushId}::uuid`);
      });
  }
}

/** What {@link openOrReplay} opens, or only looks up when `pushId` is null. */
interface SessionOpening {
  /** The new session's id; null to only sweep and look up a replay. */
  pushId: string | null;
  sourceId: string;
  sourceBundleId: number;
  plannedRowCount: number;
  /** Empty when absent. */
  initializationId: string;
  ttlSeconds: number;
}

/**
 * One statement for the whole create: purges the expired sessions of every user, looks up the
 * committed, still-retained bundle of the tuple and, when there is none and `pushId` is set, hard
 * replaces the tuple's staging session (a restarted push invalidates the old push_id and its staged
 * rows) with a new one. All parts read one snapshot, under the scope lock.
 * @returns the `already_committed` answer when the tuple is retained (counted as a replay), else null.
 */
async function openOrReplay(
  trx: Kysely<unknown>,
  scope: LockedScope,
  opening: SessionOpening,
): Promise<PushSessionAlreadyCommittedResponse | null> {
  const { pushId, sourceId, sourceBundleId } = opening;
  const tuple = sql`user_pk = ${scope.userPk} AND source_id = ${sourceId} AND source_bundle_id = ${sourceBundleId}`;
  const open = pushId !== null;
  // The clock is read once, so the purge can use the expiry index. A session may be both expired
  // and replaced; the second DELETE then skips it, and the INSERT waits for both DELETEs (it reads
  // their counts), so the tuple's unique key is free when it runs.
  const { rows } = await sql<{ bundle_seq: string; row_count: string; bundle_hash: string }>`
    WITH replay AS (
      SELECT bundle_seq, row_count, bundle_hash FROM sync.bundle_log
       WHERE ${tuple} AND bundle_seq > ${scope.retainedFloor}
    ), swept AS (
      DELETE FROM sync.push_sessions WHERE expires_at <= (SELECT clock_timestamp()) RETURNING push_id
    ), replaced AS (
      DELETE FROM sync.push_sessions WHERE ${open} AND ${tuple} AND NOT EXISTS (SELECT 1 FROM replay)
      RETURNING push_id
    ), gone AS (
      SELECT push_id FROM swept UNION ALL SELECT push_id FROM replaced
    ), gone_rows AS (
      ${sql.raw(DELETE_STAGED_ROWS_OF_GONE)}
    ), opened AS (
      INSERT INTO sync.push_sessions
             (push_id, user_pk, source_id, source_bundle_id, planned_row_count, initialization_id, expires_at)
      SELECT ${pushId}::uuid, ${scope.userPk}, ${sourceId}, ${sourceBundleId}, ${opening.plannedRowCount},
             -- Bound only when opening: a malformed id must not fail the ::uuid cast of a refused create.
             ${open ? opening.initializationId || null : null}::uuid,
             clock_timestamp() + make_interval(secs => ${opening.ttlSeconds})
        FROM (SELECT count(*) FROM swept) AS s, (SELECT count(*) FROM replaced) AS r
       WHERE ${open} AND NOT EXISTS (SELECT 1 FROM replay)
    )
    -- go-oversync never counts replays; status reports this counter, so create() counts them.
    SELECT bundle_seq, row_count, encode(bundle_hash, 'hex') AS bundle_hash
      FROM replay`.execute(trx);
  const row = rows[0];
  if (!row) return null;
  return {
    status: 'already_committed',
    bundle_seq: toInt(row.bundle_seq),
    source_id: sourceId,
    source_bundle_id: sourceBundleId,
    row_count: toInt(row.row_count),
    bundle_hash: row.bundle_hash,
  };
}
