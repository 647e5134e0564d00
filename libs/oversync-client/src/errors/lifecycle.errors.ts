import { ClientErrorCode } from './client-error-codes.js';
import { isOversyncClientError, OversyncClientError } from './oversync-client.error.js';

/** Thrown when an operation needs `open()` first. */
export class OpenRequiredError extends OversyncClientError<{ operation: string }> {
  override readonly name = 'OpenRequiredError';
  constructor(operation: string) {
    super(ClientErrorCode.OpenRequired, `${operation} requires open(); call client.open() first`, {
      operation,
    });
  }
}

/** Thrown when an operation needs a connected attachment (`attach(userId)` in this process). */
export class AttachRequiredError extends OversyncClientError<{ operation: string }> {
  override readonly name = 'AttachRequiredError';
  constructor(operation: string) {
    super(
      ClientErrorCode.AttachRequired,
      `${operation} requires an attached user; call client.attach(userId) after open()`,
      { operation },
    );
  }
}

/** Thrown while a remote replace is pending; finish it with `attach` (same user) or `detach`. */
export class DestructiveTransitionInProgressError extends OversyncClientError<{ kind: string }> {
  override readonly name = 'DestructiveTransitionInProgressError';
  constructor(kind: string) {
    super(
      ClientErrorCode.DestructiveTransitionInProgress,
      `a ${kind} transition is pending; call attach() with its user to finish it, or detach() to cancel it`,
      { kind },
    );
  }
}

/** Thrown by `attach(B)` while the database is attached to user A. */
export class AttachBindingConflictError extends OversyncClientError<{
  attachedUserId: string;
  requestedUserId: string;
}> {
  override readonly name = 'AttachBindingConflictError';
  constructor(attachedUserId: string, requestedUserId: string) {
    super(
      ClientErrorCode.AttachBindingConflict,
      `database is attached to user "${attachedUserId}", not "${requestedUserId}"; detach() first`,
      { attachedUserId, requestedUserId },
    );
  }
}

/** Thrown when durable lifecycle state belongs to another user or source. */
export class AttachLocalStateConflictError extends OversyncClientError<{ reason: string }> {
  override readonly name = 'AttachLocalStateConflictError';
  constructor(reason: string) {
    super(ClientErrorCode.AttachLocalStateConflict, `local lifecycle state conflicts: ${reason}`, { reason });
  }
}

/** Thrown when the server does not support the connect lifecycle. */
export class AttachLifecycleUnsupportedError extends OversyncClientError<{ reason: string }> {
  override readonly name = 'AttachLifecycleUnsupportedError';
  constructor(reason: string, cause?: unknown) {
    super(
      ClientErrorCode.AttachLifecycleUnsupported,
      `server does not support the connect lifecycle: ${reason}`,
      { reason },
      { cause },
    );
  }
}

/** Thrown when a client method is called after `close()`. */
export class ClientClosedError extends OversyncClientError<{ operation: string }> {
  override readonly name = 'ClientClosedError';
  constructor(operation: string) {
    super(ClientErrorCode.ClientClosed, `${operation}: the client is closed; create a new OversyncClient`, {
      operation,
    });
  }
}

/** Thrown when another client instance (this tab, another tab or a worker) owns the database. */
export class DatabaseLockedError extends OversyncClientError<{ lockName: string }> {
  override readonly name = 'DatabaseLockedError';
  constructor(lockName: string) {
    super(
      ClientErrorCode.DatabaseLocked,
      `database "${lockName}" is already owned by another OversyncClient; close() that client first or use another lockName (owned by another tab: wait for it, then load the image again and create a new Database and client, since the owner may have saved meanwhile)`,
      { lockName },
    );
  }
}

/**
 * Thrown by `open()` when the persisted image changed after the app loaded `db` from it: another
 * tab or process saved it before this client took the ownership lock (typically after a
 * `database_locked` wait). Saving `db` now would overwrite that newer image, so nothing is saved.
 */
export class StaleImageError extends OversyncClientError<{
  lockName: string;
  loadedRevision: string | null;
  storedRevision: string | null;
}> {
  override readonly name = 'StaleImageError';
  constructor(lockName: string, loadedRevision: string | null, storedRevision: string | null) {
    super(
      ClientErrorCode.StaleImage,
      `the image of database "${lockName}" was saved by another client after this Database was loaded from it; load the image again (persistence.load()), create a new sql.js Database from it and a new OversyncClient, then open() that one (this client stays unopened and nothing was saved)`,
      { lockName, loadedRevision, storedRevision },
    );
  }
}

// SQLITE_NOTADB and SQLITE_CORRUPT, as sql.js words them.
const UNREADABLE = /file is not a database|database disk image is malformed/i;

/**
 * Thrown by `open()` when SQLite cannot read the database it was given: the persisted image it was
 * loaded from is damaged or truncated, or is not a SQLite database. Nothing was written, so the
 * image stays as it is for inspection or recovery.
 */
export class DatabaseUnreadableError extends OversyncClientError<{ sqliteMessage: string }> {
  override readonly name = 'DatabaseUnreadableError';

  /** SQLite's error for a database it cannot read, as this error; null for any other error. */
  static from(error: unknown): DatabaseUnreadableError | null {
    if (!(error instanceof Error) || isOversyncClientError(error) || !UNREADABLE.test(error.message))
      return null;
    return new DatabaseUnreadableError(error.message, error);
  }

  constructor(sqliteMessage: string, cause: unknown) {
    super(
      ClientErrorCode.DatabaseUnreadable,
      `the database given to OversyncClient cannot be read (${sqliteMessage}); its persisted image is damaged or not a SQLite database. Nothing was written: restore the image from a backup, or start with a fresh database (a fresh one syncs everything again, but loses unsynced local changes)`,
      { sqliteMessage },
      { cause },
    );
  }
}

/** Thrown when a public operation starts while another one is running on the same client. */
export class SyncInProgressError extends OversyncClientError<{ operation: string; running: string }> {
  override readonly name = 'SyncInProgressError';
  constructor(operation: string, running: string) {
    super(
      ClientErrorCode.SyncInProgress,
      `${operation} refused: ${running} is still running; retry after it settles`,
      { operation, running },
    );
  }
}

/** Thrown for invalid options or unsupported local table definitions. */
export class InvalidConfigError extends OversyncClientError<{ reason: string }> {
  override readonly name = 'InvalidConfigError';
  constructor(reason: string) {
    super(ClientErrorCode.InvalidConfig, `invalid @oversync/client configuration: ${reason}`, { reason });
  }
}

/** Thrown when the server dropped the seeding lease: the binding is anonymous again. */
export class InitializationResetError extends OversyncClientError<{ serverCode: string }> {
  override readonly name = 'InitializationResetError';
  constructor(serverCode: string, cause?: unknown) {
    super(
      ClientErrorCode.InitializationReset,
      `server answered ${serverCode}; the local binding was reset, reconnect required: call attach(userId) again`,
      { serverCode },
      { cause },
    );
  }
}
