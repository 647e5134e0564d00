import { Injectable } from '@nestjs/common';
import type { PushSessionCommitResponse } from '@oversync/protocol';
import { sql, type Kysely } from 'kysely';
import { ScopeTransactionRunner } from '../capture/scope-transaction.runner.js';
import { keyStringFromBytes } from '../capture/wire-payload.util.js';
import {
  assertLeaseOwner,
  markScopeInitialized,
  refreshInitializationLease,
} from '../connect/scope-lease.util.js';
import { toInt } from '../database/pg-values.util.js';
import { PushCommitInvalidError, SourceSequenceChangedError } from '../errors/index.js';
import type { SyncRequestActor } from '../http/sync-request.types.js';
import { OversyncRuntime } from '../runtime/oversync-runtime.service.js';
import type { LockedSource } from '../scope/locked-scope.js';
import type { TableCatalog } from '../schema/table-catalog.js';
import { expectedSourceBundleId } from '../source/source-sequence.js';
import { applyStagedRows } from './push-apply.util.js';
import { assertNoConflicts } from './push-conflict.util.js';
import { loadPushSessionForUpdate, type PushSessionRecord } from './push-session-lookup.util.js';
import type { StagedRow } from './staged-row.types.js';
import { deletePushSessions } from './push-session-delete.util.js';
import { withTransactionRetries } from './transaction-retry.util.js';

interface StagedRowRecord {
  row_ordinal: string;
  table_id: number;
  key_bytes: Buffer;
  op_code: number;
  base_bundle_seq: string;
  /** Comma-joined sorted payload keys (canonical payloads keep keys sorted); null for DELETE. */
  columns: string | null;
}

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
   *   SourceSequenceChangedError, PushConflictError; database errors (FK at COMMIT, NOT NULL,
   *   type coercion) propagate and become `500 push_session_commit_failed`.
   */
  async commit(actor: SyncRequestActor, rawPushId: string): Promise<PushSessionCommitResponse> {
    const { catalog, options } = this.runtime;
    return withTransactionRetries(() =>
      this.runner.run(actor.userId, actor.sourceId, async (trx, scope) => {
        const session = await loadPushSessionForUpdate(trx, rawPushId, actor.userId);
        const rows = await loadStagedRows(trx, catalog, session);
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
        await assertNoConflicts(trx, scope.userPk, actor.userId, rows);

        const identity = {
          sourceId: session.sourceId,
          sourceBundleId: session.sourceBundleId,
          initializationId: session.initializationId,
        };
        await this.runner.beginBundle(trx, scope, identity);
        await applyStagedRows(trx, session.pushId, actor.userId, rows);
        const bundle = await this.runner.finalizeBundle(trx, scope, identity);
        if (!bundle) {
          throw new PushCommitInvalidError('push session produced no captured business-table effects');
        }
        if (session.initializationId) await markScopeInitialized(trx, scope.userPk, session.sourceId);
        await deletePushSessions(trx, sql`push_id = ${session.pushId}::uuid`);
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
 * Loads the staged rows in ordinal order and checks the staging is complete, contiguous from 0
 * and free of cross-chunk duplicates.
 * @throws PushCommitInvalidError
 */
async function loadStagedRows(
  trx: Kysely<unknown>,
  catalog: TableCatalog,
  session: PushSessionRecord,
): Promise<StagedRow[]> {
  const { rows } = await sql<StagedRowRecord>`
    SELECT row_ordinal, table_id, key_bytes, op_code, base_bundle_seq,
           (SELECT string_agg(k, ',') FROM json_object_keys(payload_apply) AS k) AS columns
      FROM sync.push_session_rows WHERE push_id = ${session.pushId}::uuid ORDER BY row_ordinal`.execute(trx);
  const planned = session.plannedRowCount;
  if (rows.length !== planned || session.nextExpectedRowOrdinal !== planned) {
    throw new PushCommitInvalidError(
      `staged row count ${rows.length} does not match planned_row_count ${planned}`,
    );
  }
  const seen = new Set<string>();
  return rows.map((r, i) => {
    if (toInt(r.row_ordinal) !== i) {
      throw new PushCommitInvalidError(`staged rows are not contiguous at row_ordinal ${i}`);
    }
    const table = catalog.byId(r.table_id);
    const keyString = keyStringFromBytes(table, r.key_bytes);
    const identity = `${table.tableId}:${r.key_bytes.toString('hex')}`;
    if (seen.has(identity)) {
      throw new PushCommitInvalidError(
        `duplicate target row in staged push session: ${table.qualifiedName} ${keyString}`,
      );
    }
    seen.add(identity);
    return {
      rowOrdinal: i,
      table,
      keyBytes: r.key_bytes,
      keyString,
      opCode: r.op_code as StagedRow['opCode'],
      baseRowVersion: toInt(r.base_bundle_seq),
      columns: r.columns === null ? null : r.columns.split(','),
    };
  });
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
