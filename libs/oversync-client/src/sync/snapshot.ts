import {
  type SnapshotChunkResponse,
  type SnapshotRow,
  type SnapshotSession,
  type SnapshotSessionCreateRequest,
} from '@oversync/protocol';

import { AttachRequiredError } from '../errors/lifecycle.errors.js';
import { InvalidRowError } from '../errors/sync.errors.js';
import { WireGuard } from '../transport/wire-guards.js';
import {
  authoritativeApply,
  clearManagedTables,
  deleteLocal,
  keyTextOf,
  upsertLocal,
  upsertWire,
} from './local-rows.js';
import { parseObject, wireKeyToLocalKey } from './row-codec.js';
import { type SyncContext } from './sync-context.js';

/** A fully downloaded snapshot. */
export interface SnapshotDownload {
  session: SnapshotSession;
  rows: SnapshotRow[];
}

/**
 * Creates a snapshot session and downloads every chunk (1-based ordinals). Each request is retried
 * on transient failures; any other failure deletes the session best-effort and rethrows. Business
 * tables are untouched until {@link applySnapshot}.
 */
export async function downloadSnapshot(
  ctx: SyncContext,
  body?: SnapshotSessionCreateRequest,
): Promise<SnapshotDownload> {
  const guard = new WireGuard('snapshot session create');
  const raw = guard.object(
    await ctx.transport.retry('snapshot_session_create', () =>
      ctx.transport.json<SnapshotSession>('POST', '/sync/snapshot-sessions', body ? { body } : {}),
    ),
  );
  const session: SnapshotSession = {
    snapshot_id: guard.string(raw, 'snapshot_id'),
    snapshot_bundle_seq: guard.int(raw, 'snapshot_bundle_seq'),
    row_count: guard.int(raw, 'row_count'),
    expires_at: guard.string(raw, 'expires_at'),
  };
  if (session.row_count > 0 && session.snapshot_bundle_seq === 0)
    guard.fail('row_count > 0 needs snapshot_bundle_seq > 0');
  const path = `/sync/snapshot-sessions/${encodeURIComponent(session.snapshot_id)}`;
  try {
    const chunkGuard = new WireGuard('snapshot chunk fetch');
    const rows: SnapshotRow[] = [];
    let after = 0;
    for (;;) {
      const page = chunkGuard.object(
        await ctx.transport.retry('snapshot_chunk_fetch', () =>
          ctx.transport.json<SnapshotChunkResponse>('GET', path, {
            query: { after_row_ordinal: after, max_rows: ctx.limits.snapshotChunkRows },
          }),
        ),
      );
      if (chunkGuard.string(page, 'snapshot_id') !== session.snapshot_id)
        chunkGuard.fail('snapshot_id echo differs');
      if (chunkGuard.int(page, 'snapshot_bundle_seq') !== session.snapshot_bundle_seq) {
        chunkGuard.fail('snapshot_bundle_seq differs from the session');
      }
      const pageRows = chunkGuard.array(page, 'rows').map((r) => chunkGuard.snapshotRow(r));
      if (chunkGuard.int(page, 'next_row_ordinal') !== after + pageRows.length) {
        chunkGuard.fail(`next_row_ordinal must be ${after + pageRows.length}`);
      }
      const hasMore = chunkGuard.bool(page, 'has_more');
      if (hasMore && pageRows.length === 0) chunkGuard.fail('has_more without rows');
      for (const row of pageRows)
        if (row.schema !== ctx.schema) chunkGuard.fail(`row schema ${row.schema} is not ${ctx.schema}`);
      rows.push(...pageRows);
      after += pageRows.length;
      if (!hasMore) break;
    }
    if (rows.length !== session.row_count) {
      chunkGuard.fail(`downloaded ${rows.length} rows, session row_count is ${session.row_count}`);
    }
    return { session, rows };
  } catch (error) {
    await ctx.transport.bestEffortDelete(path);
    throw error;
  }
}

/** How {@link applySnapshot} treats local state. */
export interface SnapshotApplyOptions {
  /** Fail with `AttachRequiredError` unless the binding is attached (explicit rebuilds). */
  requireAttached: boolean;
  /** Keep dirty intents and write them back over the snapshot (false only for remote replace). */
  keepDirty: boolean;
  /** Keep the frozen outbox and write its rows back over the snapshot (rotated rebuild). */
  keepOutbox: boolean;
  /** Keys (`table\0key_json`) whose dirty intents are rebased onto the snapshot's row version. */
  rebaseKeys?: ReadonlySet<string>;
  /** Raise `next_source_bundle_id` of the current source to at least this value. */
  sourceBundleFloor?: number;
  /** Extra durable changes in the same transaction (binding, source rotation). */
  finalize?: () => void;
}

/**
 * Replaces all local synced data with the snapshot in one transaction (foreign keys deferred):
 * managed tables and row state are cleared, snapshot rows written, then pending local intents
 * (outbox and/or dirty rows, as asked) are written back on top so no pending edit is lost. Sets
 * the checkpoint to the snapshot's bundle seq and clears `rebuild_required`.
 */
export function applySnapshot(
  ctx: SyncContext,
  download: SnapshotDownload,
  options: SnapshotApplyOptions,
): void {
  authoritativeApply(ctx, () => {
    if (options.requireAttached && ctx.store.attachment().bindingState !== 'attached') {
      throw new AttachRequiredError('rebuild');
    }
    const dirty = options.keepDirty ? ctx.store.dirtyRows() : [];
    const outbox = options.keepOutbox ? ctx.store.outboxRows() : [];
    clearManagedTables(ctx);
    ctx.db.run('DELETE FROM _sync_row_state WHERE schema_name = ?', [ctx.schema]);
    ctx.db.run('DELETE FROM _sync_dirty_rows');
    if (!options.keepOutbox) ctx.store.clearOutbox();
    for (const row of download.rows) {
      const table = ctx.tables.get(row.table);
      const keyText = wireKeyToLocalKey(table, row.key);
      upsertWire(ctx, table, row.payload);
      ctx.store.setRowState(
        table.name,
        ctx.store.localKeyJson(table.keyColumn.wireName, keyText),
        row.row_version,
        false,
      );
    }
    if (download.rows.length !== download.session.row_count) {
      throw new InvalidRowError(
        'snapshot',
        `staged ${download.rows.length} rows, expected ${download.session.row_count}`,
      );
    }
    const writeBack = (tableName: string, keyJson: string, payload: string | null) => {
      const table = ctx.tables.get(tableName);
      if (payload === null) deleteLocal(ctx, table, keyTextOf(table, keyJson));
      else upsertLocal(ctx, table, parseObject(payload));
    };
    for (const row of outbox) {
      writeBack(row.table, row.keyJson, row.localPayload === null ? null : JSON.stringify(row.localPayload));
    }
    for (const d of dirty) {
      writeBack(d.table, d.keyJson, d.payload);
      const base = options.rebaseKeys?.has(`${d.table}\u0000${d.keyJson}`)
        ? (ctx.store.rowState(d.table, d.keyJson)?.rowVersion ?? 0)
        : d.baseRowVersion;
      ctx.store.putDirty(d.table, d.keyJson, d.op, base, d.payload);
    }
    ctx.store.setAttachment({
      lastBundleSeqSeen: download.session.snapshot_bundle_seq,
      rebuildRequired: false,
    });
    if (options.sourceBundleFloor !== undefined) {
      ctx.store.raiseNextSourceBundleId(ctx.session.sourceId, options.sourceBundleFloor);
    }
    options.finalize?.();
  });
}
