import {
  computeBundleHash,
  type BundleRow,
  type CommittedBundleRowsResponse,
  type PushRequestRow,
  type PushSessionChunkResponse,
  type PushSessionCommitResponse,
  type PushSessionCreateRequest,
  type PushSessionCreateResponse,
} from '@oversync/protocol';

import { WireGuard } from '../transport/wire-guards.js';
import { type SyncContext } from './sync-context.js';
import { type OutboxBundle, type OutboxRow } from './sync-state.store.js';

/** Metadata of a committed bundle (from commit or `already_committed`). */
export interface CommittedBundleInfo {
  bundleSeq: number;
  sourceId: string;
  sourceBundleId: number;
  rowCount: number;
  bundleHash: string;
  /** True when the server replayed an earlier commit of this tuple. */
  alreadyCommitted: boolean;
}

function toPushRow(ctx: SyncContext, row: OutboxRow): PushRequestRow {
  const wire: PushRequestRow = {
    schema: ctx.schema,
    table: row.table,
    key: row.wireKey,
    op: row.op,
    base_row_version: row.baseRowVersion,
  };
  if (row.wirePayload !== null) wire.payload = row.wirePayload;
  return wire;
}

function checkCommitted(
  guard: WireGuard,
  raw: Record<string, unknown>,
  bundle: OutboxBundle,
): CommittedBundleInfo {
  const info = {
    bundleSeq: guard.int(raw, 'bundle_seq', 1),
    sourceId: guard.string(raw, 'source_id'),
    sourceBundleId: guard.int(raw, 'source_bundle_id', 1),
    rowCount: guard.int(raw, 'row_count', 1),
    bundleHash: guard.string(raw, 'bundle_hash'),
    alreadyCommitted: raw['status'] === 'already_committed',
  };
  if (info.sourceId !== bundle.sourceId)
    guard.fail(`source_id ${info.sourceId} differs from ${bundle.sourceId}`);
  if (info.sourceBundleId !== bundle.sourceBundleId) {
    guard.fail(`source_bundle_id ${info.sourceBundleId} differs from ${bundle.sourceBundleId}`);
  }
  return info;
}

/**
 * Creates a push session for the frozen bundle, uploads its chunks and commits. Returns the
 * committed bundle's metadata; `already_committed` skips the upload. On any failure after the
 * session was created (and before a successful commit) the session is deleted best-effort.
 */
export async function uploadBundle(ctx: SyncContext, bundle: OutboxBundle): Promise<CommittedBundleInfo> {
  const rows = ctx.store.outboxRows();
  const createGuard = new WireGuard('push session create');
  const request: PushSessionCreateRequest = {
    source_bundle_id: bundle.sourceBundleId,
    planned_row_count: rows.length,
  };
  // The current id, not the frozen one: a reset plus re-attach may have issued a new lease.
  const initializationId = ctx.store.attachment().pendingInitializationId;
  if (initializationId) request.initialization_id = initializationId;
  const created = createGuard.object(
    await ctx.transport.json<PushSessionCreateResponse>('POST', '/sync/push-sessions', { body: request }),
  );
  if (created['status'] === 'already_committed') return checkCommitted(createGuard, created, bundle);
  if (created['status'] !== 'staging') createGuard.fail(`unknown status ${String(created['status'])}`);
  const pushId = createGuard.string(created, 'push_id');
  if (createGuard.int(created, 'planned_row_count', 1) !== rows.length)
    createGuard.fail('planned_row_count echo differs');
  if (createGuard.int(created, 'next_expected_row_ordinal', 0, true) !== 0) {
    createGuard.fail('next_expected_row_ordinal must be 0');
  }
  const sessionPath = `/sync/push-sessions/${encodeURIComponent(pushId)}`;
  try {
    const chunkGuard = new WireGuard('push chunk upload');
    for (let start = 0; start < rows.length; start += ctx.limits.uploadChunkRows) {
      const chunk = rows.slice(start, start + ctx.limits.uploadChunkRows);
      const response = chunkGuard.object(
        await ctx.transport.json<PushSessionChunkResponse>('POST', `${sessionPath}/chunks`, {
          body: { start_row_ordinal: start, rows: chunk.map((r) => toPushRow(ctx, r)) },
        }),
      );
      if (chunkGuard.string(response, 'push_id') !== pushId) chunkGuard.fail('push_id echo differs');
      if (chunkGuard.int(response, 'next_expected_row_ordinal') !== start + chunk.length) {
        chunkGuard.fail(`next_expected_row_ordinal must be ${start + chunk.length}`);
      }
    }
    const commitGuard = new WireGuard('push commit');
    const committed = commitGuard.object(
      await ctx.transport.json<PushSessionCommitResponse>('POST', `${sessionPath}/commit`),
    );
    return checkCommitted(commitGuard, committed, bundle);
  } catch (error) {
    await ctx.transport.bestEffortDelete(sessionPath);
    throw error;
  }
}

/**
 * Pages through `GET /sync/committed-bundles/{seq}/rows` (0-based ordinals), checks every page's
 * metadata against the commit, then verifies `row_count` and `bundle_hash` over all rows.
 */
export async function fetchCommittedRows(ctx: SyncContext, info: CommittedBundleInfo): Promise<BundleRow[]> {
  const guard = new WireGuard('committed bundle fetch');
  const rows: BundleRow[] = [];
  let after = -1;
  for (;;) {
    const page = guard.object(
      await ctx.transport.json<CommittedBundleRowsResponse>(
        'GET',
        `/sync/committed-bundles/${info.bundleSeq}/rows`,
        {
          query: { after_row_ordinal: after < 0 ? undefined : after, max_rows: ctx.limits.downloadLimit },
        },
      ),
    );
    const same =
      guard.int(page, 'bundle_seq') === info.bundleSeq &&
      guard.string(page, 'source_id') === info.sourceId &&
      guard.int(page, 'source_bundle_id') === info.sourceBundleId &&
      guard.int(page, 'row_count') === info.rowCount &&
      guard.string(page, 'bundle_hash') === info.bundleHash;
    if (!same) guard.fail('page metadata differs from the commit');
    const pageRows = guard.array(page, 'rows').map((r) => guard.bundleRow(r));
    const hasMore = guard.bool(page, 'has_more');
    if (pageRows.length > 0 && guard.int(page, 'next_row_ordinal', -1) !== after + pageRows.length) {
      guard.fail(`next_row_ordinal must be ${after + pageRows.length}`);
    }
    if (hasMore && pageRows.length === 0) guard.fail('has_more without rows');
    for (const row of pageRows) {
      if (row.schema !== ctx.schema) guard.fail(`row schema ${row.schema} is not ${ctx.schema}`);
      if (row.row_version !== info.bundleSeq) guard.fail('row_version differs from bundle_seq');
    }
    rows.push(...pageRows);
    after += pageRows.length;
    if (!hasMore) break;
  }
  if (rows.length !== info.rowCount)
    guard.fail(`fetched ${rows.length} rows, commit reported row_count ${info.rowCount}`);
  const hash = computeBundleHash(rows);
  if (hash !== info.bundleHash)
    guard.fail(`bundle_hash mismatch: computed ${hash}, server sent ${info.bundleHash}`);
  return rows;
}
