import { type PushConflict, type SourceRecoveryReason, type SyncKey } from '@oversync/protocol';

import { ClientErrorCode } from './client-error-codes.js';
import { OversyncClientError } from './oversync-client.error.js';

/** Pull or keep-source rebuild refused while local dirty rows exist; push them first. */
export class DirtyStateRejectedError extends OversyncClientError<{ dirtyCount: number }> {
  override readonly name = 'DirtyStateRejectedError';
  constructor(dirtyCount: number) {
    super(
      ClientErrorCode.DirtyStateRejected,
      `${dirtyCount} local change(s) are not pushed yet; call pushPending() (or sync()) before pulling`,
      { dirtyCount },
    );
  }
}

/** Pull or keep-source rebuild refused while a frozen outbox exists; push it first. */
export class PendingPushReplayError extends OversyncClientError<{ outboxCount: number }> {
  override readonly name = 'PendingPushReplayError';
  constructor(outboxCount: number) {
    super(
      ClientErrorCode.PendingPushReplay,
      `a frozen push bundle with ${outboxCount} row(s) is pending; call pushPending() to finish it first`,
      { outboxCount },
    );
  }
}

/** A previous snapshot rebuild did not finish; push, pull and sync refuse until `rebuild()` succeeds. */
export class RebuildRequiredError extends OversyncClientError<Record<string, never>> {
  override readonly name = 'RebuildRequiredError';
  constructor() {
    super(ClientErrorCode.RebuildRequired, 'a snapshot rebuild is required; call client.rebuild()', {});
  }
}

/** The source identity must be rotated; push, pull and sync refuse until `rebuild()` succeeds. */
export class SourceRecoveryRequiredError extends OversyncClientError<{
  reason: SourceRecoveryReason;
  serverMessage: string;
}> {
  override readonly name = 'SourceRecoveryRequiredError';
  constructor(reason: SourceRecoveryReason, serverMessage: string, cause?: unknown) {
    super(
      ClientErrorCode.SourceRecoveryRequired,
      `source recovery required (${reason}); call client.rebuild() to rotate the source identity — pending local changes are kept`,
      { reason, serverMessage },
      { cause },
    );
  }
}

/** A push conflict the client could not resolve (unknown key or no structured conflict). */
export class PushConflictError extends OversyncClientError<{
  conflict: PushConflict | null;
  serverMessage: string;
}> {
  override readonly name = 'PushConflictError';
  constructor(conflict: PushConflict | null, serverMessage: string, cause?: unknown) {
    super(
      ClientErrorCode.PushConflict,
      `push rejected with 409 push_conflict: ${serverMessage}; the outbox is kept for the next push`,
      { conflict, serverMessage },
      { cause },
    );
  }
}

/**
 * The server refused a pushed bundle for good before committing it (a row failed validation,
 * `400 push_chunk_invalid`, or the database refused it at commit, `400 push_commit_invalid`). Every frozen change went back to the dirty set, so the app can fix or
 * delete the offending row; the next push freezes afresh under the same `source_bundle_id`.
 * `table` and `key` name the row when the server's message identifies exactly one.
 */
export class PushRejectedError extends OversyncClientError<{
  status: number;
  serverCode: string;
  serverMessage: string;
  sourceBundleId: number;
  /** Changes of the refused bundle, now back in the dirty set. */
  rowCount: number;
  table?: string;
  key?: SyncKey;
}> {
  override readonly name = 'PushRejectedError';
  constructor(details: PushRejectedError['details'], cause?: unknown) {
    const { status, serverCode, serverMessage, table, key } = details;
    const row = table === undefined ? '' : ` (${table}${key === undefined ? '' : ` ${JSON.stringify(key)}`})`;
    super(
      ClientErrorCode.PushRejected,
      `push rejected with ${status} ${serverCode}${row}: ${serverMessage}; nothing was committed and its ${details.rowCount} change(s) are pending again — fix or delete the offending row, then sync again`,
      details,
      { cause },
    );
  }
}

/** The conflict resolver returned an invalid resolution; every intent was restored to the dirty set. */
export class InvalidConflictResolutionError extends OversyncClientError<{
  conflict: PushConflict;
  action: string;
  reason: string;
}> {
  override readonly name = 'InvalidConflictResolutionError';
  constructor(conflict: PushConflict, action: string, reason: string) {
    super(
      ClientErrorCode.InvalidConflictResolution,
      `invalid conflict resolution "${action}" for ${conflict.table} ${JSON.stringify(conflict.key)}: ${reason}; local changes were kept as pending`,
      { conflict, action, reason },
    );
  }
}

/**
 * A `keep_merged` resolution references a parent row this device has not pulled yet (another
 * writer created it and moved the row to it), so it cannot be written locally before a pull.
 * Nothing was lost: every change of the bundle is pending (dirty) again. `sync()` handles this by
 * itself (it pulls, then applies the same resolution); this error reaches the app from
 * `pushPending()`, which never pulls, and from `sync()` when downloads are paused or the server
 * kept moving the row during its pulls.
 */
export class ConflictPullRequiredError extends OversyncClientError<{
  conflict: PushConflict;
  /** The missing reference, as `table.column -> parent.column`. */
  reference: string;
}> {
  override readonly name = 'ConflictPullRequiredError';
  constructor(conflict: PushConflict, reference: string) {
    super(
      ClientErrorCode.ConflictPullRequired,
      `the keep_merged row for ${conflict.table} ${JSON.stringify(conflict.key)} references ${reference}, which this device has not pulled yet; local changes were kept as pending — call sync() (with downloads not paused), which pulls first and then applies the resolution`,
      { conflict, reference },
    );
  }
}

/** Conflicts kept coming back after the automatic retries; the intents stay in the dirty set. */
export class ConflictRetryExhaustedError extends OversyncClientError<{
  retryCount: number;
  remainingDirtyCount: number;
}> {
  override readonly name = 'ConflictRetryExhaustedError';
  constructor(retryCount: number, remainingDirtyCount: number) {
    super(
      ClientErrorCode.ConflictRetryExhausted,
      `push conflicts persisted after ${retryCount} automatic retries; ${remainingDirtyCount} change(s) stay pending — call pushPending() again`,
      { retryCount, remainingDirtyCount },
    );
  }
}

/**
 * A row could not be encoded or written locally. When a local row cannot be pushed (a value JSON
 * cannot carry, such as a REAL `±Infinity`), `key` and `column` name it: nothing was sent, the
 * change stays pending, and the app must store another value (or delete the row) before the next
 * push can go through.
 */
export class InvalidRowError extends OversyncClientError<{
  table: string;
  reason: string;
  /** The row's wire key, when a local row could not be pushed. */
  key?: SyncKey;
  /** The offending column, when one is known. */
  column?: string;
}> {
  override readonly name = 'InvalidRowError';
  constructor(table: string, reason: string, cause?: unknown, at: { key?: SyncKey; column?: string } = {}) {
    super(
      ClientErrorCode.InvalidRow,
      `invalid row for table "${table}": ${reason}`,
      { table, reason, ...at },
      { cause },
    );
  }
}
