import { type PushOutcome } from './sync/push.js';
import { type RemoteOutcome } from './sync/pull.js';
import { type RestoreInfo } from './sync/rebuild.js';

/** Result of `pushPending()`. */
export interface PushResult {
  outcome: PushOutcome;
}

/** Result of `pullToStable()` and `rebuild()`. */
export interface PullResult {
  outcome: RemoteOutcome;
  /** Present when a snapshot was applied. */
  restore?: RestoreInfo;
}

/** Result of `sync()`. */
export interface SyncResult {
  pushOutcome: PushOutcome;
  remoteOutcome: RemoteOutcome;
  /** Present when the pull fell back to a snapshot. */
  restore?: RestoreInfo;
}

/** Debug view of the source identity. */
export interface SourceInfo {
  sourceId: string;
  rebuildRequired: boolean;
  sourceRecoveryRequired: boolean;
  /** Set while source recovery is pending. */
  sourceRecoveryReason?: string;
}

/** Operations that report status. */
export type SyncOperationName = 'attach' | 'detach' | 'push' | 'pull' | 'sync' | 'rebuild';

/**
 * A status change. `synced` is emitted only after the operation's effects are applied locally and
 * persisted (when a persister is configured).
 */
export type SyncStatusEvent =
  | { readonly state: 'syncing'; readonly operation: SyncOperationName }
  | {
      readonly state: 'synced';
      readonly operation: SyncOperationName;
      readonly lastBundleSeqSeen: number;
      readonly pendingRowCount: number;
    }
  | { readonly state: 'error'; readonly operation: SyncOperationName; readonly error: unknown };

/** Listener for {@link SyncStatusEvent}s. */
export type SyncStatusListener = (event: SyncStatusEvent) => void;
