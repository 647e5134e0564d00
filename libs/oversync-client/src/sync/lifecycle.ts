import { captureExistingRows } from '../schema/schema-installer.js';
import { authoritativeApply, clearManagedTables } from './local-rows.js';
import { freshSourceId } from './source-recovery.js';
import { type SyncContext } from './sync-context.js';

/** What `pendingSyncStatus()` reports. */
export interface PendingSyncStatus {
  /** `pendingRowCount > 0`. */
  hasPendingSyncData: boolean;
  /** Dirty rows + outbox rows + 1 while a seeding initialization is pending. */
  pendingRowCount: number;
  /** True when attached with pending data: `detach()` would be blocked. */
  blocksDetach: boolean;
}

/** `detach()` outcome strings (go-oversync). */
export type DetachOutcome = 'detached' | 'blocked_unsynced_data';

/** Result of `detach()`. */
export interface DetachResult {
  outcome: DetachOutcome;
  pendingRowCount: number;
}

/**
 * Restores or creates the source identity in one transaction. On the very first open (no source
 * id, anonymous), rows the app wrote before sync was installed are captured as dirty INSERTs.
 * The session always starts "not connected": sync calls need `attach()` after every `open()`.
 */
export function openSource(ctx: SyncContext): void {
  ctx.db.transaction(() => {
    const attachment = ctx.store.attachment();
    let sourceId = attachment.currentSourceId;
    if (!sourceId) {
      sourceId = freshSourceId(ctx.store);
      ctx.store.setAttachment({ currentSourceId: sourceId });
      if (attachment.bindingState === 'anonymous')
        captureExistingRows(ctx.db, ctx.schema, ctx.tables.ordered);
    }
    ctx.store.ensureSource(sourceId);
    ctx.store.setApplyMode(false);
    ctx.session.sourceId = sourceId;
    ctx.session.userId = attachment.bindingState === 'attached' ? attachment.attachedUserId : '';
    ctx.session.connected = false;
  });
}

/** Counts pending local data. */
export function pendingStatus(ctx: SyncContext): PendingSyncStatus {
  const attachment = ctx.store.attachment();
  const count =
    ctx.store.dirtyCount() + ctx.store.outboxRowCount() + (attachment.pendingInitializationId ? 1 : 0);
  return {
    hasPendingSyncData: count > 0,
    pendingRowCount: count,
    blocksDetach: attachment.bindingState === 'attached' && count > 0,
  };
}

/**
 * Unbinds the user. Blocked (a result, not an error) while attached data is unsynced. Otherwise, in
 * one transaction, clears every managed table, row state, dirty and outbox rows, and resets the
 * binding **including the pull checkpoint and rebuild gate**, so the next user starts from zero.
 * On an anonymous database it only cancels a pending remote replace: anonymous rows are kept.
 * The source id and its `next_source_bundle_id` are kept, for the same user's next attach.
 */
export async function detachUser(ctx: SyncContext): Promise<DetachResult> {
  const status = pendingStatus(ctx);
  const attachment = ctx.store.attachment();
  if (status.blocksDetach)
    return { outcome: 'blocked_unsynced_data', pendingRowCount: status.pendingRowCount };
  if (attachment.bindingState === 'anonymous') {
    ctx.db.transaction(() => {
      if (ctx.store.operation().kind === 'remote_replace') ctx.store.clearOperation();
    });
  } else {
    authoritativeApply(ctx, () => {
      clearManagedTables(ctx);
      ctx.db.run('DELETE FROM _sync_row_state');
      ctx.db.run('DELETE FROM _sync_dirty_rows');
      ctx.store.clearOutbox();
      // `attached_user_id` is kept while anonymous: it names the user whose scope the current
      // source's bundle counter belongs to (see `attachUser`, which gives another user a fresh
      // source). Nothing else reads it unless the binding is attached.
      ctx.store.setAttachment({
        bindingState: 'anonymous',
        pendingInitializationId: '',
        lastBundleSeqSeen: 0,
        rebuildRequired: false,
      });
      ctx.store.clearOperation();
    });
  }
  ctx.session.userId = '';
  ctx.session.connected = false;
  await ctx.persist();
  return { outcome: 'detached', pendingRowCount: pendingStatus(ctx).pendingRowCount };
}
