import { Injectable } from '@nestjs/common';
import type { PushSessionCommitResponse } from '@oversync/protocol';
import { sql, type Kysely } from 'kysely';
import { ScopeTransactionRunner, type BundleIdentity } from '../capture/scope-transaction.runner.js';
import {
  assertLeaseOwner,
  markScopeInitialized,
  refreshInitializationLease,
} from '../connect/scope-lease.util.js';
import { toInt } from '../database/pg-values.util.js';
import { PushCommitInvalidError, SourceSequenceChangedError } from '../errors/index.js';
import type { SyncRequestActor } from '../http/sync-request.types.js';
import { OversyncRuntime } from '../runtime/oversync-runtime.service.js';
import type { LockedScope, LockedSource } from '../scope/locked-scope.js';
import type { TableCatalog } from '../schema/table-catalog.js';
import { expectedSourceBundleId } from '../source/source-sequence.js';
import { applyStagedRows, bundleContextStatement, sessionLiteral } from './push-apply.util.js';
import { loadCommitState } from './push-commit-state.util.js';
import { assertNoConflict, stagedRowStateQuery } from './push-conflict.util.js';
import {
  CHECK_DEFERRED_CONSTRAINTS,
  ForeignKeyConflict,
  locateForeignKeyConflict,
} from './push-fk-conflict.util.js';
import {
  isRowDataError,
  locateRejectedRow,
  rowRejectionMessage,
  type RejectedRow,
} from './push-row-rejection.util.js';
import { requirePushId, type PushSessionRecord } from './push-session-lookup.util.js';
import { deletePushSessionScript } from './push-session-delete.util.js';
import { toApplySteps, type ApplyStep, type PlanStepJson } from './staged-plan.util.js';
import { assertCompleteStaging } from './staging-summary.util.js';
import { withTransactionRetries } from './transaction-retry.util.js';

/**
 * Commits a push session atomically (`POST /sync/push-sessions/{id}/commit`): re-validates the
 * staging, the seeding lease and the source sequence, checks every row for conflicts, applies the
 * rows in upload order and writes the captured bundle, all in one transaction under the scope
 * lock. Any failure leaves the session and its staged rows in place.
 */
@Injectable()
export class PushCommitService {
  constructor(
    private readonly runner: ScopeTransactionRunner,
    private readonly runtime: OversyncRuntime,
  ) {}

  /**
   * @returns the committed bundle's metadata (its rows are served by the committed-rows route).
   * @throws PushSessionNotFoundError, PushSessionForbiddenError, PushSessionExpiredError,
   *   PushCommitInvalidError, InitializationStaleError, SourceRetiredError,
   *   SourceSequenceChangedError, PushConflictError (a version conflict, or a row that breaks a
   *   foreign key on the server), PushCommitInvalidError also for rows the database refuses (see
   *   {@link isRowDataError}); other database errors propagate and become
   *   `500 push_session_commit_failed`.
   */
  async commit(actor: SyncRequestActor, rawPushId: string): Promise<PushSessionCommitResponse> {
    return this.#commitAnswering(actor, rawPushId, true);
  }

  async #commitAnswering(
    actor: SyncRequestActor,
    rawPushId: string,
    mayRetry: boolean,
  ): Promise<PushSessionCommitResponse> {
    try {
      return await this.#commit(actor, rawPushId);
    } catch (error) {
      if (error instanceof ForeignKeyConflict) return this.#answerForeignKeyConflict(actor, rawPushId, error);
      if (!isRowDataError(error)) throw error;
      const row = await this.#locateRejectedRow(actor, rawPushId);
      if (row || !mayRetry) throw new PushCommitInvalidError(rowRejectionMessage(error, row));
      // Every prefix of the upload applies now. Either finalisation refused a value the wire
      // cannot carry (a numeric beyond float64), which the next attempt meets again, or a row
      // changed since (another scope's value behind a global UNIQUE index), and it commits.
      return this.#commitAnswering(actor, rawPushId, false);
    }
  }

  /**
   * go-oversync answers a row the database refuses (a type it cannot coerce, NOT NULL, CHECK, a
   * host trigger's exception) with 500, which clients treat as "may have landed" and a human as a
   * server fault, though the same rows fail the same way every time. It is answered as
   * `400 push_commit_invalid` naming the first row at fault, found again by applying prefixes of
   * the upload under a savepoint (nothing stays applied); the session stays, as after any failed
   * commit. Null when the whole upload applies.
   */
  async #locateRejectedRow(actor: SyncRequestActor, rawPushId: string): Promise<RejectedRow | null> {
    const { catalog } = this.runtime;
    return withTransactionRetries(() =>
      this.runner.run(actor.userId, actor.sourceId, async (trx, scope) => {
        const { session, plan } = await loadCommitState(trx, scope.userPk, rawPushId, actor.userId);
        const apply = applyPlan(catalog, scope, session, plan);
        return locateRejectedRow(trx, catalog, session.pushId, actor.userId, apply.steps, apply.opening);
      }),
    );
  }

  /**
   * go-oversync lets such a row fail the COMMIT (500 on every retry, so a device that wrote a child
   * offline under a parent another device deleted could never sync again). It is answered as a
   * conflict on that row instead, read from the state before the push (the commit rolled back), so
   * the client's resolver can drop or rewrite it and the next pull brings the parent's deletion.
   */
  async #answerForeignKeyConflict(
    actor: SyncRequestActor,
    rawPushId: string,
    found: ForeignKeyConflict,
  ): Promise<PushSessionCommitResponse> {
    await withTransactionRetries(() =>
      this.runner.run(actor.userId, actor.sourceId, async (trx, scope) => {
        const pushId = requirePushId(rawPushId);
        const { rows } = await stagedRowStateQuery(scope.userPk, pushId, found.rowOrdinal).execute(trx);
        if (rows[0]) await assertNoConflict(trx, this.runtime.catalog, actor.userId, rows[0], found.message);
      }),
    );
    // The session went away in between (discarded, expired, committed by a retry): answer what
    // committing it again answers.
    return this.#commit(actor, rawPushId);
  }

  async #commit(actor: SyncRequestActor, rawPushId: string): Promise<PushSessionCommitResponse> {
    const { catalog, options } = this.runtime;
    return withTransactionRetries(() =>
      this.runner.run(actor.userId, actor.sourceId, async (trx, scope) => {
        const { session, staging, conflict, plan } = await loadCommitState(
          trx,
          scope.userPk,
          rawPushId,
          actor.userId,
        );
        assertCompleteStaging(catalog, session, staging);
        if (session.initializationId) {
          assertLeaseOwner(scope, session.sourceId, session.initializationId);
          await refreshInitializationLease(trx, scope.userPk, options.limits.initializationLeaseTtlSeconds);
        }
        // The session's source, not the header's, owns the tuple (go-oversync does not compare them).
        const source =
          session.sourceId === actor.sourceId
            ? scope.source
            : await lockSource(trx, scope.userPk, session.sourceId);
        const expected = expectedSourceBundleId({ ...scope, source }, session.sourceId);
        if (expected !== session.sourceBundleId) {
          throw new SourceSequenceChangedError(
            actor.userId,
            session.sourceId,
            session.sourceBundleId,
            expected,
          );
        }
        await assertNoConflict(trx, catalog, actor.userId, conflict);

        const { identity, steps, opening } = applyPlan(catalog, scope, session, plan);
        // One round trip opens the bundle context, applies the rows, checks the deferred foreign
        // keys and ends the session: its staged rows are not read after the apply, and any later
        // failure rolls the delete back.
        await applyStagedRows(trx, session.pushId, actor.userId, steps, {
          before: [opening],
          after: [...CHECK_DEFERRED_CONSTRAINTS, deletePushSessionScript(sessionLiteral(session.pushId))],
        }).catch(async (error: unknown) => {
          throw await locateForeignKeyConflict(trx, catalog, session.pushId, actor.userId, error);
        });
        // CHECK_DEFERRED_CONSTRAINTS ran at the end of the apply.
        const bundle = await this.runner.finalizeBundle(trx, scope, identity, true);
        if (!bundle) {
          throw new PushCommitInvalidError('push session produced no captured business-table effects');
        }
        if (session.initializationId) await markScopeInitialized(trx, scope.userPk, session.sourceId);
        return {
          bundle_seq: bundle.bundle_seq,
          source_id: bundle.source_id,
          source_bundle_id: bundle.source_bundle_id,
          row_count: bundle.row_count,
          bundle_hash: bundle.bundle_hash,
        };
      }),
    );
  }
}

/**
 * What applying a session's staging takes: the bundle's identity, the apply steps in upload order
 * and the statement opening its bundle context.
 */
function applyPlan(
  catalog: TableCatalog,
  scope: Pick<LockedScope, 'userId' | 'userPk'>,
  session: PushSessionRecord,
  plan: PlanStepJson[] | null,
): { identity: BundleIdentity; steps: ApplyStep[]; opening: string } {
  const identity = {
    sourceId: session.sourceId,
    sourceBundleId: session.sourceBundleId,
    initializationId: session.initializationId,
  };
  return {
    identity,
    steps: toApplySteps(catalog, plan, session.plannedRowCount - 1),
    opening: bundleContextStatement(scope.userId, scope.userPk, identity),
  };
}

/** Locks and reads another source's watermark (commit of a session staged under another header). */
async function lockSource(trx: Kysely<unknown>, userPk: number, sourceId: string): Promise<LockedSource> {
  const { rows } = await sql<{ state: LockedSource['state']; max: string; replaced: string }>`
    SELECT state, max_committed_source_bundle_id AS max, replaced_by_source_id AS replaced
      FROM sync.source_state WHERE user_pk = ${userPk} AND source_id = ${sourceId} FOR UPDATE`.execute(trx);
  const r = rows[0];
  return r
    ? { state: r.state, maxCommitted: toInt(r.max), replacedBySourceId: r.replaced }
    : { state: null, maxCommitted: 0, replacedBySourceId: '' };
}
