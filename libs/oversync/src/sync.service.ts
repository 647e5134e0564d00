import { Injectable } from '@nestjs/common';
import type { Transaction } from 'kysely';
import { sql } from 'kysely';
import { toInt } from './database/pg-values.util.js';
import { ScopeInitializingError, ScopeUninitializedError, ScopeWriteInvalidError } from './errors/index.js';
import { OversyncRuntime } from './runtime/oversync-runtime.service.js';
import { ScopeStateCode } from './scope/locked-scope.js';
import { ScopeWriteContext } from './scope/scope-write.context.js';
import { checkSourceSequence } from './source/source-sequence.js';
import { ScopeTransactionRunner } from './capture/scope-transaction.runner.js';
import type { CommittedBundle } from './capture/committed-bundle.types.js';
import { StatusQuery, type OversyncStatus } from './status/status.query.js';

/** Who a low-level bundle is written for: the scope (user) and the writing source. */
export interface SyncActor {
  userId: string;
}

/** Result of {@link SyncService.withinSyncBundle}. */
export interface WithinSyncBundleResult<R> {
  /** The committed bundle; null when the callback changed no registered row. */
  bundle: CommittedBundle | null;
  /** True when the tuple was already committed: the callback did not run and `bundle` is the original. */
  replayed: boolean;
  /** The callback's return value (undefined on replay). */
  result: R | undefined;
}

/**
 * Low-level engine entry points: one captured bundle under an explicit source tuple, and the
 * status snapshot. Most server code should use {@link ScopeManager.execWrite} or `@ScopeWrite`.
 */
@Injectable()
export class SyncService {
  constructor(
    private readonly runner: ScopeTransactionRunner,
    private readonly statusQuery: StatusQuery,
    private readonly context: ScopeWriteContext,
    private readonly runtime: OversyncRuntime,
  ) {}

  /**
   * Runs `fn` as the bundle `(actor.userId, sourceId, sourceBundleId)` of an INITIALIZED scope.
   * Tuple semantics: the next id of the source commits; an id that is already committed and still
   * retained is replayed (its bundle is returned and `fn` does not run — go-oversync reports
   * `history_pruned` here); an older one throws `SourceTupleHistoryPrunedError`; a gap throws
   * `SourceSequenceOutOfOrderError`; a retired source throws `SourceRetiredError`. When `fn`
   * changes no registered row the transaction still commits (its other writes persist) and no
   * bundle is produced.
   * @throws ScopeUninitializedError | ScopeInitializingError when the scope is not initialized.
   */
  async withinSyncBundle<R, DB = unknown>(
    actor: SyncActor,
    tuple: { sourceId: string; sourceBundleId: number },
    fn: (trx: Transaction<DB>) => Promise<R>,
  ): Promise<WithinSyncBundleResult<R>> {
    const userId = actor?.userId?.trim();
    const sourceId = tuple?.sourceId?.trim();
    if (!userId) throw new ScopeWriteInvalidError('withinSyncBundle requires actor.userId');
    if (!sourceId) throw new ScopeWriteInvalidError('withinSyncBundle requires a non-blank sourceId');
    if (!Number.isSafeInteger(tuple.sourceBundleId) || tuple.sourceBundleId <= 0) {
      throw new ScopeWriteInvalidError(
        `withinSyncBundle requires sourceBundleId > 0 (got ${tuple.sourceBundleId})`,
      );
    }
    if (typeof fn !== 'function') throw new ScopeWriteInvalidError('withinSyncBundle requires a callback');
    const outer = this.context.current();
    if (outer) {
      // Inside a scope write: the same scope's lock is held by this context (a second transaction
      // would wait for it forever), and another scope's bundle would commit on its own even when
      // the outer write rolls back.
      throw new ScopeWriteInvalidError(
        `withinSyncBundle for scope ${userId} called inside the scope write of ${outer.scopeId}; use the outer transaction (ScopeWriteContext.trx) instead`,
        { scope_id: userId, outer_scope_id: outer.scopeId },
      );
    }
    return this.runner.run(
      userId,
      sourceId,
      async (trx, scope) => {
        if (scope.stateCode === ScopeStateCode.initializing)
          throw new ScopeInitializingError(userId, scope.leaseExpiresAt);
        if (scope.stateCode !== ScopeStateCode.initialized) throw new ScopeUninitializedError(userId);
        const replay = await this.#findRetained(
          trx,
          scope.userPk,
          scope.retainedFloor,
          sourceId,
          tuple.sourceBundleId,
        );
        if (replay) return { bundle: replay, replayed: true, result: undefined };
        checkSourceSequence(scope, sourceId, tuple.sourceBundleId);
        const identity = { sourceId, sourceBundleId: tuple.sourceBundleId };
        await this.runner.beginBundle(trx, scope, identity);
        // The callback runs as a scope write, so a nested execWrite or @ScopeWrite sees it: the same
        // scope joins this bundle, another scope is refused.
        const hostTrx = this.runtime.database.forHost(trx);
        const result = await this.context.run({ scopeId: userId, writerId: sourceId, trx: hostTrx }, () =>
          fn(hostTrx as unknown as Transaction<DB>),
        );
        const bundle = await this.runner.finalizeBundle(trx, scope, identity);
        return { bundle, replayed: false, result };
      },
      { hostCallback: true },
    );
  }

  /** Status snapshot (counters, floors, windows), as `/syncx/status` serves it. */
  async getStatus(): Promise<OversyncStatus> {
    return this.statusQuery.read();
  }

  async #findRetained(
    trx: Transaction<unknown>,
    userPk: number,
    floor: number,
    sourceId: string,
    sourceBundleId: number,
  ): Promise<CommittedBundle | null> {
    const { rows } = await sql<{
      bundle_seq: string;
      row_count: string;
      byte_count: string;
      bundle_hash: string;
    }>`
      SELECT bundle_seq, row_count, byte_count, encode(bundle_hash, 'hex') AS bundle_hash FROM sync.bundle_log
       WHERE user_pk = ${userPk} AND source_id = ${sourceId} AND source_bundle_id = ${sourceBundleId} AND bundle_seq > ${floor}`.execute(
      trx,
    );
    const r = rows[0];
    if (!r) return null;
    return {
      bundle_seq: toInt(r.bundle_seq),
      source_id: sourceId,
      source_bundle_id: sourceBundleId,
      row_count: toInt(r.row_count),
      byte_count: toInt(r.byte_count),
      bundle_hash: r.bundle_hash,
    };
  }
}
