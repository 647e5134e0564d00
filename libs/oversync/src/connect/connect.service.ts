import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { formatRfc3339Nano, type ConnectResponse } from '@oversync/protocol';
import type { Kysely } from 'kysely';
import { ScopeTransactionRunner } from '../capture/scope-transaction.runner.js';
import type { SyncRequestActor } from '../http/sync-request.types.js';
import { OversyncRuntime } from '../runtime/oversync-runtime.service.js';
import { ScopeStateCode, type LockedScope } from '../scope/locked-scope.js';
import { markScopeInitialized, secondsUntilLeaseEnds, takeInitializationLease } from './scope-lease.util.js';

/**
 * First-connect lifecycle (`POST /sync/connect`): decides who may seed a scope. Runs under the
 * scope lock, so two first connects of one user are serialised and exactly one of them wins the
 * initialization lease. The transaction commits, so a lazily expired lease stays expired.
 */
@Injectable()
export class ConnectService {
  constructor(
    private readonly runner: ScopeTransactionRunner,
    private readonly runtime: OversyncRuntime,
  ) {}

  /**
   * Applies the connect decision table (wire-protocol §5).
   * @param actor - the trusted user and the header source.
   * @param hasLocalPendingRows - whether the caller wants to seed the scope with local rows.
   * @returns the resolution; `retry_later` is a normal answer, not an error.
   */
  async connect(actor: SyncRequestActor, hasLocalPendingRows: boolean): Promise<ConnectResponse> {
    return this.runner.run(actor.userId, actor.sourceId, async (trx, scope) => {
      if (scope.stateCode === ScopeStateCode.initialized) return { resolution: 'remote_authoritative' };
      if (scope.stateCode === ScopeStateCode.initializing && scope.initializerSourceId !== actor.sourceId) {
        return this.#retryLater(trx, scope);
      }
      if (!hasLocalPendingRows) {
        // Nothing to seed (or the lease owner gave up seeding): the scope starts empty, owned by the server.
        await markScopeInitialized(trx, scope.userPk, actor.sourceId);
        return { resolution: 'initialize_empty' };
      }
      // UNINITIALIZED gets a fresh lease; the owner reconnecting keeps its id and gets a new expiry.
      const id = scope.stateCode === ScopeStateCode.initializing ? scope.initializationId! : randomUUID();
      const ttl = this.runtime.options.limits.initializationLeaseTtlSeconds;
      const lease = await takeInitializationLease(trx, scope.userPk, actor.sourceId, id, ttl);
      return {
        resolution: 'initialize_local',
        initialization_id: lease.initializationId,
        lease_expires_at: formatRfc3339Nano(lease.leaseExpiresAt),
      };
    });
  }

  async #retryLater(trx: Kysely<unknown>, scope: LockedScope): Promise<ConnectResponse> {
    return {
      resolution: 'retry_later',
      lease_expires_at: formatRfc3339Nano(scope.leaseExpiresAt!),
      retry_after_seconds: await secondsUntilLeaseEnds(trx, scope.userPk),
    };
  }
}
