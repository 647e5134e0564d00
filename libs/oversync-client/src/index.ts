/**
 * `@oversync/client`: offline-first sync of a sql.js (SQLite) database with an Oversync or
 * go-oversync v1 server. Runs in browsers and Node.js.
 *
 * @packageDocumentation
 */

export { OversyncClient } from './oversync-client.js';
export type { OversyncClientOptions } from './oversync-client.options.js';
export type {
  PullResult,
  PushResult,
  SourceInfo,
  SyncOperationName,
  SyncResult,
  SyncStatusEvent,
  SyncStatusListener,
} from './oversync-client.types.js';
export type { AttachOutcome, AttachResult, AttachStatus } from './sync/attach.js';
export type { DetachOutcome, DetachResult, PendingSyncStatus } from './sync/lifecycle.js';
export type { PushOutcome } from './sync/push.js';
export type { RemoteOutcome } from './sync/pull.js';
export type { RestoreInfo } from './sync/rebuild.js';
export type { SyncTableConfig } from './schema/table-spec.js';
export type { BackgroundSyncOptions } from './sync/background-sync.js';
export type { RetryPolicy } from './transport/retry-policy.js';
export type { FetchLike } from './transport/http-transport.js';

// Conflicts
export { clientWins, serverWins } from './sync/conflict.types.js';
export type { ConflictResolution, ConflictResolver, SyncConflict } from './sync/conflict.types.js';

// Persistence
export type { OversyncPersister } from './db/persister.types.js';
export { MemoryPersister } from './db/memory.persister.js';
export { FilePersister } from './db/file.persister.js';
export { IndexedDbPersister, type IndexedDbPersisterOptions } from './db/indexeddb.persister.js';

// Utilities
export { randomUuid } from './random-uuid.util.js';

// Errors
export * from './errors/index.js';
