import { isSourceRecoveryReason, type SourceRecoveryReason } from '@oversync/protocol';

import { InitializationResetError } from '../errors/lifecycle.errors.js';
import { SourceRecoveryRequiredError } from '../errors/sync.errors.js';
import { randomUuid } from '../random-uuid.util.js';
import { type SyncContext } from './sync-context.js';
import { type SyncStateStore } from './sync-state.store.js';

/** A fresh source id that this database has never used. */
export function freshSourceId(store: SyncStateStore): string {
  for (;;) {
    const id = randomUuid();
    if (!store.sourceExists(id)) return id;
  }
}

/** The stored recovery reason; unknown values map to `history_pruned`. */
export function recoveryReason(stored: string): SourceRecoveryReason {
  return isSourceRecoveryReason(stored) ? stored : 'history_pruned';
}

/**
 * Durably enters source recovery (`rebuild_required = 1`, operation `source_recovery`) and
 * reserves the replacement source: an existing reservation is reused, else a fresh id. The
 * server's `replaced_by_source_id` is never adopted (see `rotatedRebuild`). Always throws.
 *
 * @throws SourceRecoveryRequiredError after the state is durable.
 */
export async function enterSourceRecovery(
  ctx: SyncContext,
  reason: SourceRecoveryReason,
  serverMessage: string,
  cause: unknown,
): Promise<never> {
  ctx.db.transaction(() => {
    const replacement = ctx.store.operation().replacementSourceId || freshSourceId(ctx.store);
    ctx.store.setAttachment({ rebuildRequired: true });
    ctx.store.setOperation({ kind: 'source_recovery', reason, replacementSourceId: replacement });
  });
  await ctx.persist();
  throw new SourceRecoveryRequiredError(reason, serverMessage, cause);
}

/**
 * The server dropped the seeding lease (`initialization_expired` / `initialization_stale`): the
 * binding goes back to anonymous and the pending initialization id is cleared. Dirty rows, the
 * outbox and business rows stay. Always throws.
 */
export async function resetInitialization(
  ctx: SyncContext,
  serverCode: string,
  cause: unknown,
): Promise<never> {
  ctx.db.transaction(() => {
    ctx.store.setAttachment({ bindingState: 'anonymous', attachedUserId: '', pendingInitializationId: '' });
    ctx.store.clearOperation();
    if (ctx.store.outbox().state !== 'none') ctx.store.setOutbox({ initializationId: '' });
  });
  ctx.session.connected = false;
  ctx.session.userId = '';
  await ctx.persist();
  throw new InitializationResetError(serverCode, cause);
}
