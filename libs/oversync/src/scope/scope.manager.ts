import { Injectable } from '@nestjs/common';
import type { Transaction } from 'kysely';
import { ScopeTransactionRunner } from '../capture/scope-transaction.runner.js';
import type { CommittedBundle } from '../capture/committed-bundle.types.js';
import {
  ScopeInitializingError,
  ScopeWriteInvalidError,
  ScopeWriteNoCapturedChangesError,
} from '../errors/index.js';
import { OversyncRuntime } from '../runtime/oversync-runtime.service.js';
import { expectedSourceBundleId } from '../source/source-sequence.js';
import { ScopeStateCode } from './locked-scope.js';
import { ScopeWriteContext } from './scope-write.context.js';
import { sql } from 'kysely';

/** Options of {@link ScopeManager.execWrite}. */
export interface ExecWriteOptions {
  /** Stable id of the server-side writer (e.g. `'admin-panel'`); used as the bundle's `source_id`. */
  writerId: string;
}

/** Result of {@link ScopeManager.execWrite}. */
export interface ScopeWriteResult<R> {
  /** True when this write initialised an UNINITIALIZED scope (as remote-authoritative, empty). */
  autoInitialized: boolean;
  /** The one bundle the write committed. */
  bundle: CommittedBundle;
  /** What the callback returned. */
  result: R;
}

/**
 * Server-originated writes: runs a callback as exactly one captured sync bundle of a scope, so
 * the change reaches that scope's devices through normal pull and watch.
 *
 * @example
 * ```ts
 * interface Db {
 *   'business.posts': { _sync_scope_id: string; id: string; title: string };
 * }
 * const { bundle } = await scopeManager.execWrite<unknown, Db>('user-42', { writerId: 'admin-panel' }, (trx) =>
 *   trx.insertInto('business.posts').values({ _sync_scope_id: 'user-42', id, title }).execute(),
 * );
 * ```
 */
@Injectable()
export class ScopeManager {
  constructor(
    private readonly runner: ScopeTransactionRunner,
    private readonly context: ScopeWriteContext,
    private readonly runtime: OversyncRuntime,
  ) {}

  /**
   * Runs `fn` in one transaction as the next bundle of `(scopeId, writerId)`. An UNINITIALIZED
   * scope is initialised as remote-authoritative (empty) in the same transaction. The per-writer
   * `source_bundle_id` sequence is allocated under the scope lock.
   * @throws ScopeWriteInvalidError for a blank scope or writer id, a missing callback, or a call
   *   nested inside another scope write (use the outer `trx`).
   * @throws ScopeInitializingError when a client holds the scope's initialization lease.
   * @throws ScopeWriteNoCapturedChangesError when `fn` changed no registered row (all rolled back).
   * @throws RegisteredWriteRejectedError when `fn` touched another scope's rows.
   * @throws SourceRetiredError when the writer id was retired by a client's rotated rebuild.
   */
  async execWrite<R, DB = unknown>(
    scopeId: string,
    options: ExecWriteOptions,
    fn: (trx: Transaction<DB>) => Promise<R>,
  ): Promise<ScopeWriteResult<R>> {
    const scope = typeof scopeId === 'string' ? scopeId.trim() : '';
    const writerId = typeof options?.writerId === 'string' ? options.writerId.trim() : '';
    if (!scope)
      throw new ScopeWriteInvalidError(
        'scope_id is required: pass the scope (user) id as a non-blank string',
        { scope_id: scopeId },
      );
    if (!writerId)
      throw new ScopeWriteInvalidError('writer_id is required: pass { writerId: "admin-panel" } or similar', {
        scope_id: scope,
      });
    if (typeof fn !== 'function')
      throw new ScopeWriteInvalidError('callback is required', { scope_id: scope });
    const outer = this.context.current();
    if (outer) {
      // A second transaction for a scope whose lock this context already holds would deadlock.
      throw new ScopeWriteInvalidError(
        `execWrite for scope ${scope} called inside the scope write of ${outer.scopeId}; use the outer transaction (ScopeWriteContext.trx) instead`,
        { scope_id: scope, outer_scope_id: outer.scopeId },
      );
    }
    return this.runner.run(
      scope,
      writerId,
      async (trx, locked) => {
        let autoInitialized = false;
        if (locked.stateCode === ScopeStateCode.initializing)
          throw new ScopeInitializingError(scope, locked.leaseExpiresAt);
        if (locked.stateCode === ScopeStateCode.uninitialized) {
          await sql`UPDATE sync.scope_state SET state_code = 2, initialized_at = now(), initialized_by_source_id = ${writerId}
                   WHERE user_pk = ${locked.userPk}`.execute(trx);
          autoInitialized = true;
        }
        const identity = { sourceId: writerId, sourceBundleId: expectedSourceBundleId(locked, writerId) };
        await this.runner.beginBundle(trx, locked, identity);
        const hostTrx = this.runtime.database.forHost(trx);
        const result = await this.context.run({ scopeId: scope, writerId, trx: hostTrx }, () =>
          fn(hostTrx as unknown as Transaction<DB>),
        );
        const bundle = await this.runner.finalizeBundle(trx, locked, identity);
        if (!bundle) throw new ScopeWriteNoCapturedChangesError(scope, writerId);
        return { autoInitialized, bundle, result };
      },
      { hostCallback: true },
    );
  }
}
