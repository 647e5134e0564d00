/**
 * Stable error codes of `@oversync/client`. Branch on these (or on the error `name`) rather than on
 * `instanceof`, which does not survive two copies of the library in one bundle.
 */
export const ClientErrorCode = {
  /** `open()` has not run yet. Call `open()` first. */
  OpenRequired: 'open_required',
  /** The client is not attached and connected in this process. Call `attach(userId)`. */
  AttachRequired: 'attach_required',
  /** A lifecycle transition (remote replace) is still pending. Finish it with `attach` or `detach`. */
  DestructiveTransitionInProgress: 'destructive_transition_in_progress',
  /** `attach(B)` while attached as A. Detach first. */
  AttachBindingConflict: 'attach_binding_conflict',
  /** Durable local state belongs to another user or source. */
  AttachLocalStateConflict: 'attach_local_state_conflict',
  /** The server does not offer the connect lifecycle (capabilities / connect). */
  AttachLifecycleUnsupported: 'attach_lifecycle_unsupported',
  /** Pull or keep-source rebuild refused because local dirty rows exist. Push first. */
  DirtyStateRejected: 'dirty_state_rejected',
  /** Pull or keep-source rebuild refused because a frozen outbox exists. Push first. */
  PendingPushReplay: 'pending_push_replay',
  /** A snapshot rebuild is required. Call `rebuild()`. */
  RebuildRequired: 'rebuild_required',
  /** The source identity must be rotated. Call `rebuild()`. */
  SourceRecoveryRequired: 'source_recovery_required',
  /** The server rejected the push with a conflict the client could not resolve. */
  PushConflict: 'push_conflict',
  /** The conflict resolver returned an invalid resolution; every intent is back in the dirty set. */
  InvalidConflictResolution: 'invalid_conflict_resolution',
  /**
   * The server refused a pushed row for good (`400 push_chunk_invalid`, or `400 push_commit_invalid`
   * when its database refused it) before committing anything;
   * the bundle's changes are pending (dirty) again. Fix or delete the row named in the message (or
   * `details.table` / `details.key`), then push again.
   */
  PushRejected: 'push_rejected',
  /**
   * A `keep_merged` row references a parent row this device has not pulled yet. Every change is
   * pending (dirty) again; `sync()` pulls first and then applies the same resolution.
   */
  ConflictPullRequired: 'conflict_pull_required',
  /** Conflicts kept recurring after the automatic retries; the intents stay dirty. */
  ConflictRetryExhausted: 'conflict_retry_exhausted',
  /** A transient failure persisted through every retry attempt. */
  RetryExhausted: 'retry_exhausted',
  /** Another sync operation of this client is running. Try again later. */
  SyncInProgress: 'sync_in_progress',
  /** The client was closed. Create a new client. */
  ClientClosed: 'client_closed',
  /** Another client (tab, worker or instance) owns this database. */
  DatabaseLocked: 'database_locked',
  /**
   * The persisted image changed after `db` was loaded from it (another tab or process saved it
   * before this client got the lock). Load the image again, build a new `Database` and a new client.
   */
  StaleImage: 'stale_image',
  /**
   * SQLite cannot read `db` (a damaged or truncated persisted image, or a file that is not a
   * database). Nothing was written; restore the image from a backup or start a fresh database.
   */
  DatabaseUnreadable: 'database_unreadable',
  /** The app holds its own transaction open on the database; sync waits until it commits. */
  AppTransactionOpen: 'app_transaction_open',
  /** The options or the local table definitions are invalid. */
  InvalidConfig: 'invalid_config',
  /** The server answered with a non-success HTTP status. `details.status` / `details.error` tell which. */
  HttpStatus: 'http_status',
  /**
   * The request never got an HTTP answer (offline, DNS, reset, aborted), or none within
   * `requestTimeoutMs` (`details.timeoutMs` is then set). Transient: sync again later.
   */
  Network: 'network_error',
  /** The server answered with something that breaks the protocol (bad JSON, wrong echo, bad hash). */
  ProtocolViolation: 'protocol_violation',
  /** The initialization lease expired or went stale; the binding is anonymous again. Call `attach`. */
  InitializationReset: 'initialization_reset',
  /** A row could not be written locally (missing columns, bad encoding). */
  InvalidRow: 'invalid_row',
} as const;

/** One of the {@link ClientErrorCode} values. */
export type ClientErrorCode = (typeof ClientErrorCode)[keyof typeof ClientErrorCode];
