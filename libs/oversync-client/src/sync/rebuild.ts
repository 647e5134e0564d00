import { type SnapshotSessionCreateRequest } from '@oversync/protocol';

import { isOversyncClientError } from '../errors/oversync-client.error.js';
import { InvalidRowError, SourceReplacementDivergedError } from '../errors/sync.errors.js';
import { applySnapshot, downloadSnapshot, type PrunedBundle, type SnapshotDownload } from './snapshot.js';
import { freshSourceId, recoveryReason } from './source-recovery.js';
import { type SyncContext } from './sync-context.js';

/** What a snapshot rebuild restored. */
export interface RestoreInfo {
  /** The snapshot's bundle seq (the new pull checkpoint). */
  bundleSeq: number;
  /** Rows in the snapshot. */
  rowCount: number;
}

function restoreOf(download: SnapshotDownload): RestoreInfo {
  return { bundleSeq: download.session.snapshot_bundle_seq, rowCount: download.session.row_count };
}

async function deleteSession(ctx: SyncContext, download: SnapshotDownload): Promise<void> {
  await ctx.transport.bestEffortDelete(
    `/sync/snapshot-sessions/${encodeURIComponent(download.session.snapshot_id)}`,
  );
}

/** Options of {@link keepSourceRebuild}. */
export interface KeepSourceRebuildOptions {
  /** Raise `next_source_bundle_id` to at least this (a committed push whose replay was pruned). */
  sourceBundleFloor?: number;
  /** That pruned push: dirty intents of its keys are rebased onto its bundle seq. */
  prunedBundle?: PrunedBundle;
}

/**
 * Rebuilds all synced data from a fresh snapshot under the current source. `rebuild_required` is
 * set durably before any request, so a failure leaves the gate closed until a rebuild succeeds;
 * the old data and checkpoint stay intact until the single final apply. Dirty intents survive.
 */
export async function keepSourceRebuild(
  ctx: SyncContext,
  options: KeepSourceRebuildOptions = {},
): Promise<RestoreInfo> {
  ctx.db.transaction(() => ctx.store.setAttachment({ rebuildRequired: true }));
  await ctx.persist();
  const download = await downloadSnapshot(ctx);
  try {
    applySnapshot(ctx, download, {
      requireAttached: true,
      keepDirty: true,
      keepOutbox: false,
      prunedBundle: options.prunedBundle,
      sourceBundleFloor: options.sourceBundleFloor,
    });
    await ctx.persist();
  } finally {
    await deleteSession(ctx, download);
  }
  return restoreOf(download);
}

/**
 * Rebuild plus source rotation (source recovery active). Reuses the reserved replacement id across
 * attempts, asks the server to retire the current source in favour of it, applies the snapshot,
 * writes the frozen outbox and every dirty intent back, and retargets the outbox to
 * `(new source, 1)`. Only after the durable commit does the in-memory source switch.
 *
 * @throws SourceReplacementDivergedError when the server already retired the source in favour of
 * another replacement.
 */
export async function rotatedRebuild(ctx: SyncContext): Promise<RestoreInfo> {
  const operation = ctx.store.operation();
  const previous = ctx.session.sourceId;
  let replacement = operation.replacementSourceId;
  if (!replacement) {
    replacement = ctx.db.transaction(() => {
      const id = freshSourceId(ctx.store);
      ctx.store.setOperation({ replacementSourceId: id });
      return id;
    });
    await ctx.persist();
  }
  const body: SnapshotSessionCreateRequest = {
    source_replacement: {
      previous_source_id: previous,
      new_source_id: replacement,
      reason: recoveryReason(operation.reason),
    },
  };
  let download: SnapshotDownload;
  try {
    download = await downloadSnapshot(ctx, body);
  } catch (error) {
    if (isOversyncClientError(error, 'http_status') && error.details['error'] === 'source_retired') {
      const replacedBy = (error.details['body'] as Record<string, unknown> | null)?.['replaced_by_source_id'];
      throw new SourceReplacementDivergedError(
        replacement,
        typeof replacedBy === 'string' ? replacedBy : '',
        error,
      );
    }
    throw error;
  }
  const newSource = replacement;
  try {
    applySnapshot(ctx, download, {
      requireAttached: true,
      keepDirty: true,
      keepOutbox: true,
      finalize: () => {
        const fresh = ctx.store.source(newSource);
        if (fresh && (fresh.nextSourceBundleId !== 1 || fresh.replacedBySourceId !== '')) {
          throw new InvalidRowError(
            '_sync_source_state',
            `replacement source ${newSource} was already used locally`,
          );
        }
        ctx.store.ensureSource(newSource);
        ctx.store.markReplaced(previous, newSource);
        ctx.store.setAttachment({ currentSourceId: newSource });
        ctx.db.run('UPDATE _sync_outbox_rows SET source_bundle_id = 1');
        if (ctx.store.outbox().state !== 'none') {
          ctx.store.setOutbox({
            state: 'prepared',
            sourceId: newSource,
            sourceBundleId: 1,
            remoteBundleHash: '',
            remoteBundleSeq: 0,
            remoteAlreadyCommitted: false,
          });
        }
        ctx.store.clearOperation();
      },
    });
    ctx.session.sourceId = newSource;
    await ctx.persist();
  } finally {
    await deleteSession(ctx, download);
  }
  return restoreOf(download);
}
