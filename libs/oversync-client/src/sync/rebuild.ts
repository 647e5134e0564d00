import { type SnapshotSessionCreateRequest } from '@oversync/protocol';

import { isOversyncClientError } from '../errors/oversync-client.error.js';
import { InvalidRowError } from '../errors/sync.errors.js';
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

/** Attempts at a rotation whose reserved replacement the server already knows. */
const MAX_REPLACEMENT_ATTEMPTS = 3;

/** Reserves (durably) a replacement source id this database has never used. */
async function reserveReplacement(ctx: SyncContext): Promise<string> {
  const id = ctx.db.transaction(() => {
    const fresh = freshSourceId(ctx.store);
    ctx.store.setOperation({ replacementSourceId: fresh });
    return fresh;
  });
  await ctx.persist();
  return id;
}

function serverCode(error: unknown): unknown {
  return isOversyncClientError(error, 'http_status') ? error.details['error'] : undefined;
}

/**
 * Rebuild plus source rotation (source recovery active). Reuses the reserved replacement id across
 * attempts, asks the server to retire the current source in favour of it, applies the snapshot,
 * writes the frozen outbox and every dirty intent back, and retargets the outbox to
 * `(new source, 1)`. Only after the durable commit does the in-memory source switch.
 *
 * The replacement is always one this device reserved, never the server's `replaced_by_source_id`
 * (go-oversync's client adopts that): a source retired in favour of an id this device did not
 * reserve was rotated by another copy of this database (a restored backup, a cloned image), which
 * pushes under its replacement, and two devices sharing a source collide on its bundle ids for
 * good. So when the server answers `source_retired` (retired in favour of another id), the rebuild
 * takes a plain snapshot and moves to the reserved id, which the server has never seen: the old
 * source is retired already, so no rotation is needed. When it answers
 * `source_replacement_invalid` (it knows the reserved id, e.g. a replacement an older incarnation
 * used and retired), a fresh id is reserved and the rotation tried again.
 */
export async function rotatedRebuild(ctx: SyncContext): Promise<RestoreInfo> {
  const operation = ctx.store.operation();
  const previous = ctx.session.sourceId;
  let replacement = operation.replacementSourceId || (await reserveReplacement(ctx));
  let download: SnapshotDownload | undefined;
  for (let attempt = 1; !download; attempt++) {
    const body: SnapshotSessionCreateRequest = {
      source_replacement: {
        previous_source_id: previous,
        new_source_id: replacement,
        reason: recoveryReason(operation.reason),
      },
    };
    try {
      download = await downloadSnapshot(ctx, body);
    } catch (error) {
      const code = serverCode(error);
      if (code === 'source_retired') download = await downloadSnapshot(ctx);
      else if (code === 'source_replacement_invalid' && attempt < MAX_REPLACEMENT_ATTEMPTS)
        replacement = await reserveReplacement(ctx);
      else throw error;
    }
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
