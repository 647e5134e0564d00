import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
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
import { checkSourceSequence } from '../source/source-sequence.js';
import { loadPushSessionForUpdate } from './push-session-lookup.util.js';
import { deletePushSessions } from './push-session-delete.util.js';
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
    return withTransactionRetries(() =>
      this.runner.run(userId, sourceId, async (trx, scope) => {
        await deletePushSessions(trx, sql`expires_at <= clock_timestamp()`);
        const replay = () => findRetainedTuple(trx, scope, sourceId, command.sourceBundleId);
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
        } else if (initializationId) {
          // Better than go-oversync (which answers 400 here): a seeding push whose commit response
          // was lost is retried with its initialization_id after the scope became INITIALIZED;
          // replaying the committed tuple lets the client finish instead of failing closed.
          const committed = await replay();
          if (committed) return committed;
          throw new PushSessionInvalidError('initialization_id must be absent once the scope is initialized');
        }
        // The replay lookup precedes sequencing, so a retired source can still replay a retained tuple.
        const committed = await replay();
        if (committed) return committed;
        checkSourceSequence(scope, sourceId, command.sourceBundleId);

        const pushId = randomUUID();
        // Hard replace: a restarted push for the tuple invalidates the old push_id and its staged rows.
        await deletePushSessions(
          trx,
          sql`user_pk = ${scope.userPk} AND source_id = ${sourceId} AND source_bundle_id = ${command.sourceBundleId}`,
        );
        await sql`
          INSERT INTO sync.push_sessions
                 (push_id, user_pk, source_id, source_bundle_id, planned_row_count, initialization_id, expires_at)
          VALUES (${pushId}::uuid, ${scope.userPk}, ${sourceId}, ${command.sourceBundleId}, ${command.plannedRowCount},
                  ${initializationId || null}::uuid,
                  clock_timestamp() + make_interval(secs => ${limits.pushSessionTtlSeconds}))`.execute(trx);
        // next_expected_row_ordinal is 0 and, as in go-oversync (omitempty), not sent.
        return { push_id: pushId, status: 'staging', planned_row_count: command.plannedRowCount };
      }),
    );
  }

  /**
   * Discards a staging session and its rows. No scope lock (nothing is sequenced); an expired
   * session is reported, not deleted.
   * @throws PushSessionNotFoundError | PushSessionForbiddenError | PushSessionExpiredError
   */
  async delete(actor: SyncRequestActor, rawPushId: string): Promise<void> {
    await this.runtime.db.transaction().execute(async (trx) => {
      const session = await loadPushSessionForUpdate(trx, rawPushId, actor.userId);
      await deletePushSessions(trx, sql`push_id = ${session.pushId}::uuid`);
    });
  }
}

/** The committed, still-retained bundle of a source tuple, as an `already_committed` answer. */
async function findRetainedTuple(
  trx: Kysely<unknown>,
  scope: LockedScope,
  sourceId: string,
  sourceBundleId: number,
): Promise<PushSessionAlreadyCommittedResponse | null> {
  const { rows } = await sql<{ bundle_seq: string; row_count: string; bundle_hash: string }>`
    SELECT bundle_seq, row_count, encode(bundle_hash, 'hex') AS bundle_hash FROM sync.bundle_log
     WHERE user_pk = ${scope.userPk} AND source_id = ${sourceId} AND source_bundle_id = ${sourceBundleId}
       AND bundle_seq > ${scope.retainedFloor}`.execute(trx);
  const row = rows[0];
  if (!row) return null;
  // go-oversync never counts replays; status reports this counter, so we do.
  await sql`SELECT nextval('sync.accepted_push_replay_seq')`.execute(trx);
  return {
    status: 'already_committed',
    bundle_seq: toInt(row.bundle_seq),
    source_id: sourceId,
    source_bundle_id: sourceBundleId,
    row_count: toInt(row.row_count),
    bundle_hash: row.bundle_hash,
  };
}
