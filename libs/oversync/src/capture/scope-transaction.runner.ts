import { Injectable } from '@nestjs/common';
import type { Kysely, Transaction } from 'kysely';
import { sql } from 'kysely';
import { sqlState } from '../database/pg-values.util.js';
import {
  OversyncError,
  RegisteredWriteRejectedError,
  ScopeWriteTransactionBrokenError,
} from '../errors/index.js';
import { LifecycleService } from '../lifecycle/lifecycle.service.js';
import { OversyncRuntime } from '../runtime/oversync-runtime.service.js';
import { lockScope, type LockedScope } from '../scope/locked-scope.js';
import { SQLSTATE } from '../schema/sync-layout.constants.js';
import type { CommittedBundle } from './committed-bundle.types.js';
import { finalizeCapturedBundle } from './bundle-finalizer.js';
import { FinalizeStatementCache } from './finalize-statement.js';

const TRIGGER_STATES = new Set<string>(Object.values(SQLSTATE));
const IN_FAILED_TRANSACTION = '25P02';

/** Identity of the bundle a transaction is about to produce. */
export interface BundleIdentity {
  sourceId: string;
  sourceBundleId: number;
  initializationId?: string | null;
}

/**
 * The one primitive behind every bundle-producing path (server writes, push commit): a READ
 * COMMITTED transaction that holds the scope lock from its first statement to COMMIT, so bundle
 * order equals commit order per scope while other scopes proceed in parallel.
 */
@Injectable()
export class ScopeTransactionRunner {
  readonly #statements = new FinalizeStatementCache();

  constructor(
    private readonly runtime: OversyncRuntime,
    private readonly lifecycle: LifecycleService,
  ) {}

  /**
   * Runs `body` in one transaction after locking the scope. Not retried: a body may have side
   * effects outside the database. Trigger rejections surface as {@link RegisteredWriteRejectedError}.
   *
   * @param options.hostCallback - `body` runs host code (execWrite, withinSyncBundle): the value
   *   settings are left as the host's session has them until finalisation.
   */
  async run<R>(
    userId: string,
    sourceId: string,
    body: (trx: Transaction<unknown>, scope: LockedScope) => Promise<R>,
    options: { hostCallback?: boolean } = {},
  ): Promise<R> {
    const pinSettings = options.hostCallback !== true;
    return this.lifecycle.track(async () => {
      try {
        // READ COMMITTED whatever the host's default: the scope lock is taken inside the first
        // statement, so under REPEATABLE READ the snapshot would predate the wait for the lock and
        // the lock's FOR UPDATE would fail with 40001 instead of waiting its turn.
        return await this.runtime.db
          .transaction()
          .setIsolationLevel('read committed')
          .execute(async (trx) => body(trx, await lockScope(trx, userId, sourceId, pinSettings)));
      } catch (error) {
        // A host callback that swallowed an error leaves an aborted transaction: the next
        // statement (ours) fails with 25P02, which names neither the scope nor the cause.
        if (!pinSettings && sqlState(error) === IN_FAILED_TRANSACTION) {
          throw new ScopeWriteTransactionBrokenError(userId, sourceId, 'aborted', { cause: error });
        }
        throw translateTriggerError(error);
      }
    });
  }

  /** Marks the transaction as a bundle context so the capture triggers accept and record writes. */
  async beginBundle(trx: Kysely<unknown>, scope: LockedScope, identity: BundleIdentity): Promise<void> {
    await sql`SELECT sync.begin_bundle_context(${scope.userId}, ${scope.userPk}, ${identity.sourceId},
      ${identity.sourceBundleId}, ${identity.initializationId ?? null})`.execute(trx);
  }

  /**
   * Collapses and writes the captured effects; null when nothing was captured.
   *
   * @param constraintsChecked - the caller already ran `SET CONSTRAINTS ALL IMMEDIATE` (a push
   *   commit checks them under a savepoint to name the row at fault), so it is not sent again.
   */
  async finalizeBundle(
    trx: Kysely<unknown>,
    scope: LockedScope,
    identity: BundleIdentity,
    constraintsChecked = false,
  ): Promise<CommittedBundle | null> {
    const { options, catalog } = this.runtime;
    // The bundle context deferred every deferrable constraint (as go-oversync does); a host's
    // constraint triggers (INITIALLY IMMEDIATE ones included) would then fire at COMMIT, after the
    // bundle is sealed, and their writes to registered tables be refused. Firing them now captures
    // those writes in this bundle; a foreign-key violation surfaces here instead of at COMMIT, with
    // the same error and the same rollback. Outside a transaction (a callback that committed) this
    // is only a warning, and finalisation reports the ended transaction.
    if (!constraintsChecked) await sql`SET CONSTRAINTS ALL IMMEDIATE`.execute(trx);
    return finalizeCapturedBundle(
      trx,
      catalog,
      this.#statements,
      {
        userId: scope.userId,
        userPk: scope.userPk,
        sourceId: identity.sourceId,
        sourceBundleId: identity.sourceBundleId,
        nextBundleSeq: scope.nextBundleSeq,
        retainedFloor: scope.retainedFloor,
      },
      {
        retainedBundlesPerUser: options.retention.retainedBundlesPerUser,
        pruneBatchSize: options.retention.pruneBatchSize,
        // Even with watch disabled here: watchers connected to other instances must still wake for
        // commits made through this one (a back-office worker, say).
        notifyChannel: options.watch.notifyChannel,
      },
    );
  }
}

function translateTriggerError(error: unknown): unknown {
  if (error instanceof OversyncError) return error;
  const state = sqlState(error);
  if (state && TRIGGER_STATES.has(state)) {
    return new RegisteredWriteRejectedError((error as Error).message, { cause: error });
  }
  return error;
}
