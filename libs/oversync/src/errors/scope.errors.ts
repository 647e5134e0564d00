import { OversyncError } from './oversync.error.js';

/** The scope is not initialised yet (wire 409 `scope_uninitialized`). */
export class ScopeUninitializedError extends OversyncError {
  constructor(userId: string) {
    super(
      'scope_uninitialized',
      `scope ${userId} is not initialized. Connect a client first (POST /sync/connect) or write through ScopeManager.execWrite, which initializes it.`,
      { user_id: userId },
    );
  }
}

/** Another source holds the scope's initialization lease (wire 409 `scope_initializing`). */
export class ScopeInitializingError extends OversyncError {
  constructor(userId: string, leaseExpiresAt: string | null) {
    super(
      'scope_initializing',
      `scope ${userId} is being initialized by a client until ${leaseExpiresAt ?? 'its lease ends'}; retry after that`,
      { user_id: userId, lease_expires_at: leaseExpiresAt },
    );
  }
}

/** A scope write was called with a bad scope id, writer id or callback. */
export class ScopeWriteInvalidError extends OversyncError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('oversync_scope_write_invalid', message, details);
  }
}

/** A scope write callback changed no registered row, so no bundle was produced; everything rolled back. */
export class ScopeWriteNoCapturedChangesError extends OversyncError {
  constructor(scopeId: string, writerId: string) {
    super(
      'oversync_scope_write_no_captured_changes',
      `scope write for ${scopeId} via ${writerId} produced no visible registered-table effects, so nothing was committed. ` +
        'Fix: write at least one registered table row (filtered by _sync_scope_id) inside the callback.',
      { scope_id: scopeId, writer_id: writerId },
    );
  }
}

/** The database refused a write to a registered table (no bundle context, or another scope's row). */
export class RegisteredWriteRejectedError extends OversyncError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('oversync_registered_write_rejected', message, {}, options);
  }
}

/**
 * A scope write's transaction stopped being usable inside the callback: an error was caught and
 * the callback carried on (PostgreSQL then refuses every statement until the transaction ends), or
 * the callback ended the transaction itself with COMMIT or ROLLBACK. Nothing was captured as a
 * bundle; after a COMMIT inside the callback, the writes before it are committed WITHOUT a bundle,
 * so devices will not see them.
 */
export class ScopeWriteTransactionBrokenError extends OversyncError {
  constructor(scopeId: string, writerId: string, reason: 'aborted' | 'ended', options?: { cause?: unknown }) {
    const what =
      reason === 'aborted'
        ? 'its transaction was aborted by an earlier error that the callback caught and did not rethrow, so nothing was committed. ' +
          'Fix: let errors propagate, or run the statement that may fail inside a SAVEPOINT and roll back to it.'
        : 'the callback ended the transaction itself (COMMIT or ROLLBACK). Writes before a COMMIT are committed without a bundle and devices will not see them. ' +
          'Fix: never COMMIT or ROLLBACK inside a scope write; throw to roll back.';
    super(
      'oversync_scope_write_transaction_broken',
      `scope write for ${scopeId} via ${writerId} failed: ${what}`,
      { scope_id: scopeId, writer_id: writerId, reason },
      options,
    );
  }
}
