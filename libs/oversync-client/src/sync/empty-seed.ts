import { type ConnectResponse } from '@oversync/protocol';

import { WireGuard } from '../transport/wire-guards.js';
import { resetInitialization } from './source-recovery.js';
import { type SyncContext } from './sync-context.js';

/**
 * Ends a seed that has nothing left to send. After `initialize_local` this device holds the
 * scope's initialization lease until its seed commits; if every seeded row was deleted before the
 * push, the freeze finds nothing and no commit ever comes, so the scope would stay INITIALIZING
 * (every other device getting `retry_later` until the lease lapses) and this device would keep a
 * pending seed that skips pulls and blocks `detach()`.
 *
 * So the lease owner tells the server its seed is empty: `POST /sync/connect` with
 * `has_local_pending_rows: false` answers `initialize_empty` and initializes the scope (wire §5),
 * and the pending initialization id is dropped. Any other answer means the lease is gone (it
 * lapsed and the scope moved on), which is handled like `initialization_stale` on a push.
 *
 * @throws InitializationResetError when the server no longer holds this device's lease.
 */
export async function releaseEmptySeed(ctx: SyncContext): Promise<void> {
  if (!ctx.store.attachment().pendingInitializationId) return;
  const guard = new WireGuard('connect');
  const response = await ctx.transport.retry('connect_request', () =>
    ctx.transport.json<ConnectResponse>('POST', '/sync/connect', { body: { has_local_pending_rows: false } }),
  );
  const resolution = guard.string(guard.object(response), 'resolution');
  if (resolution !== 'initialize_empty') {
    return resetInitialization(ctx, 'initialization_stale', new Error(`connect answered ${resolution}`));
  }
  ctx.db.transaction(() => ctx.store.setAttachment({ pendingInitializationId: '' }));
  await ctx.persist();
}
