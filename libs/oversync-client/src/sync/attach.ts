import { type CapabilitiesResponse, type ConnectResponse } from '@oversync/protocol';

import {
  AttachBindingConflictError,
  AttachLifecycleUnsupportedError,
  AttachLocalStateConflictError,
} from '../errors/lifecycle.errors.js';
import { isOversyncClientError } from '../errors/oversync-client.error.js';
import { WireGuard } from '../transport/wire-guards.js';
import { hasSendableDirtyRows } from './freeze.js';
import { type RestoreInfo } from './rebuild.js';
import { applySnapshot, downloadSnapshot } from './snapshot.js';
import { freshSourceId } from './source-recovery.js';
import { type SyncContext } from './sync-context.js';

/** `attach()` status strings. */
export type AttachStatus = 'connected' | 'retry_later';
/** `attach()` outcome strings (go-oversync). */
export type AttachOutcome =
  'resumed_attached_state' | 'used_remote_state' | 'seeded_from_local' | 'started_empty';

/** Result of `attach(userId)`. */
export type AttachResult =
  | { status: 'connected'; outcome: AttachOutcome; restore?: RestoreInfo }
  | { status: 'retry_later'; retryAfterSeconds: number };

const UNSUPPORTED_STATUSES = new Set([404, 405, 501]);

async function unsupportedAware<T>(operation: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (
      isOversyncClientError(error, 'http_status') &&
      UNSUPPORTED_STATUSES.has(error.details['status'] as number)
    ) {
      throw new AttachLifecycleUnsupportedError(
        `${operation} answered HTTP ${String(error.details['status'])}`,
        error,
      );
    }
    throw error;
  }
}

/**
 * Reads (and caches) `GET /sync/capabilities`. An answer that is not a JSON object (a web app's
 * HTML fallback page, a proxy's error text) or carries no `features` map means the server does not
 * offer the lifecycle (client-spec §1.4: "the capabilities JSON is bad").
 */
export async function fetchCapabilities(
  ctx: SyncContext,
  operation = 'connect_capabilities',
): Promise<CapabilitiesResponse> {
  let caps: CapabilitiesResponse;
  try {
    caps = await ctx.transport.retry(operation, () =>
      ctx.transport.json<CapabilitiesResponse>('GET', '/sync/capabilities'),
    );
  } catch (error) {
    if (!isOversyncClientError(error, 'protocol_violation')) throw error;
    throw new AttachLifecycleUnsupportedError(error.message, error);
  }
  if (typeof caps.features !== 'object' || caps.features === null || Array.isArray(caps.features)) {
    throw new AttachLifecycleUnsupportedError('capabilities carry no features map');
  }
  ctx.session.capabilities = caps;
  return caps;
}

function markConnected(ctx: SyncContext, userId: string): void {
  ctx.session.userId = userId;
  ctx.session.connected = true;
}

/**
 * Finishes a pending remote replace: downloads a snapshot and, in one transaction, discards the
 * anonymous local rows, applies the snapshot and binds the user.
 */
async function finishRemoteReplace(ctx: SyncContext, userId: string): Promise<AttachResult> {
  const download = await downloadSnapshot(ctx);
  try {
    applySnapshot(ctx, download, {
      requireAttached: false,
      keepDirty: false,
      keepOutbox: false,
      finalize: () => {
        ctx.store.setAttachment({
          bindingState: 'attached',
          attachedUserId: userId,
          pendingInitializationId: '',
        });
        ctx.store.clearOperation();
      },
    });
    await ctx.persist();
  } finally {
    await ctx.transport.bestEffortDelete(
      `/sync/snapshot-sessions/${encodeURIComponent(download.session.snapshot_id)}`,
    );
  }
  markConnected(ctx, userId);
  return {
    status: 'connected',
    outcome: 'used_remote_state',
    restore: { bundleSeq: download.session.snapshot_bundle_seq, rowCount: download.session.row_count },
  };
}

/**
 * The durable states that refuse `attach(userId)` before anything else happens: a pending remote
 * replace for another user, or a binding to another user. Reads only the database, so callers run
 * it before re-opening the session: a refused attach must leave the current session (still
 * connected for the attached user, background sync running) exactly as it was.
 *
 * @throws AttachLocalStateConflictError, AttachBindingConflictError
 */
export function refuseConflictingAttach(ctx: SyncContext, userId: string): void {
  const operation = ctx.store.operation();
  if (operation.kind === 'remote_replace') {
    if (operation.targetUserId !== userId) {
      throw new AttachLocalStateConflictError(
        `a remote replace for user "${operation.targetUserId}" is pending; attach that user or detach() to cancel it`,
      );
    }
    return;
  }
  const attachment = ctx.store.attachment();
  if (attachment.bindingState === 'attached' && attachment.attachedUserId !== userId)
    throw new AttachBindingConflictError(attachment.attachedUserId, userId);
}

/**
 * Gives `userId` a fresh source when the current one already pushed for another user. The server
 * keeps each source's bundle sequence per user (wire §6.1) while this database keeps one counter
 * per source, so the old counter would reach the new user's scope, which expects 1 from a source
 * it never saw: `source_sequence_out_of_order` on the first push, and while that push seeds the
 * scope not even a rebuild can recover (`scope_initializing`). Runs before connect, which binds a
 * seed lease to the source. The same user (named while anonymous by `detach()`) keeps its source
 * and counter; a frozen bundle keeps the source it was frozen under.
 */
async function useSourceFor(ctx: SyncContext, userId: string): Promise<void> {
  if (ctx.store.attachment().attachedUserId === userId || ctx.store.outbox().state !== 'none') return;
  if (ctx.store.nextSourceBundleId(ctx.session.sourceId) <= 1) return;
  ctx.session.sourceId = ctx.db.transaction(() => {
    const sourceId = freshSourceId(ctx.store);
    ctx.store.ensureSource(sourceId);
    ctx.store.setAttachment({ currentSourceId: sourceId });
    return sourceId;
  });
  await ctx.persist();
}

/**
 * Binds the database to `userId` and connects the session (client-spec §10). Resuming the same
 * attached user needs no network. A fresh binding resets the pull checkpoint and rebuild gate, so
 * nothing of a previous user's state can leak into this one.
 */
export async function attachUser(ctx: SyncContext, userId: string): Promise<AttachResult> {
  refuseConflictingAttach(ctx, userId);
  const attachment = ctx.store.attachment();
  if (ctx.store.operation().kind === 'remote_replace') return finishRemoteReplace(ctx, userId);
  if (attachment.bindingState === 'attached') {
    if (attachment.currentSourceId !== ctx.session.sourceId) {
      throw new AttachLocalStateConflictError('the attached state belongs to another source');
    }
    markConnected(ctx, userId);
    return { status: 'connected', outcome: 'resumed_attached_state' };
  }
  await useSourceFor(ctx, userId);
  const caps = await unsupportedAware('GET /sync/capabilities', () => fetchCapabilities(ctx));
  if (caps.features.connect_lifecycle !== true) {
    throw new AttachLifecycleUnsupportedError('capabilities report connect_lifecycle=false');
  }
  const guard = new WireGuard('connect');
  const response = await unsupportedAware('POST /sync/connect', () =>
    ctx.transport.retry('connect_request', () =>
      ctx.transport.json<ConnectResponse>('POST', '/sync/connect', {
        // Only rows a push would send: a row written and deleted again before the first attach
        // leaves a dirty DELETE the freeze drops, and counting it would take the seed lease
        // (`initialize_local`) for a seed that never comes, leaving the scope INITIALIZING.
        body: { has_local_pending_rows: hasSendableDirtyRows(ctx) },
      }),
    ),
  );
  const raw = guard.object(response);
  const bind = (pendingInitializationId: string) => {
    ctx.db.transaction(() =>
      ctx.store.setAttachment({
        bindingState: 'attached',
        attachedUserId: userId,
        pendingInitializationId,
        lastBundleSeqSeen: 0,
        rebuildRequired: false,
      }),
    );
  };
  switch (response.resolution) {
    case 'retry_later':
      return {
        status: 'retry_later',
        retryAfterSeconds: Math.max(1, guard.int(raw, 'retry_after_seconds', 1)),
      };
    case 'initialize_empty':
      bind('');
      await ctx.persist();
      markConnected(ctx, userId);
      return { status: 'connected', outcome: 'started_empty' };
    case 'initialize_local':
      bind(guard.string(raw, 'initialization_id'));
      await ctx.persist();
      markConnected(ctx, userId);
      return { status: 'connected', outcome: 'seeded_from_local' };
    case 'remote_authoritative':
      ctx.db.transaction(() => ctx.store.setOperation({ kind: 'remote_replace', targetUserId: userId }));
      await ctx.persist();
      return finishRemoteReplace(ctx, userId);
    default:
      return guard.fail(`unknown resolution ${String(raw['resolution'])}`);
  }
}
