import {
  AttachRequiredError,
  DestructiveTransitionInProgressError,
  OpenRequiredError,
} from '../errors/lifecycle.errors.js';
import {
  DirtyStateRejectedError,
  PendingPushReplayError,
  RebuildRequiredError,
  SourceRecoveryRequiredError,
} from '../errors/sync.errors.js';
import { recoveryReason } from './source-recovery.js';
import { type SyncContext } from './sync-context.js';

/** True when `attach()` succeeded in this process and the durable binding still matches. */
export function isConnected(ctx: SyncContext): boolean {
  const { session } = ctx;
  if (!session.sourceId || !session.userId || !session.connected) return false;
  const attachment = ctx.store.attachment();
  return (
    attachment.bindingState === 'attached' &&
    attachment.attachedUserId === session.userId &&
    attachment.currentSourceId === session.sourceId
  );
}

/**
 * Lifecycle precondition, checked before any network traffic.
 *
 * @throws OpenRequiredError before `open()`; AttachRequiredError when not connected.
 */
export function requireConnected(ctx: SyncContext | undefined, operation: string): SyncContext {
  if (!ctx || !ctx.session.sourceId) throw new OpenRequiredError(operation);
  if (!isConnected(ctx)) throw new AttachRequiredError(operation);
  return ctx;
}

/**
 * The durable gates shared by push, pull and sync, in protocol order: source recovery, pending
 * transition, rebuild gate.
 */
export function requireNoRecovery(ctx: SyncContext): void {
  const operation = ctx.store.operation();
  if (operation.kind === 'source_recovery') {
    throw new SourceRecoveryRequiredError(recoveryReason(operation.reason), 'source recovery is pending');
  }
  if (operation.kind !== 'none') throw new DestructiveTransitionInProgressError(operation.kind);
  if (ctx.store.attachment().rebuildRequired) throw new RebuildRequiredError();
}

/**
 * Pull and keep-source rebuild never overwrite pending local intent. `allowDirty` is used by
 * `sync()` after its push rounds: a pull keeps dirty keys' local values, so only a frozen outbox
 * must block it.
 */
export function requireNoLocalIntent(ctx: SyncContext, allowDirty = false): void {
  const outbox = ctx.store.outboxRowCount();
  if (outbox > 0) throw new PendingPushReplayError(outbox);
  if (allowDirty) return;
  const dirty = ctx.store.dirtyCount();
  if (dirty > 0) throw new DirtyStateRejectedError(dirty);
}
