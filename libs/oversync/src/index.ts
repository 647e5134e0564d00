/**
 * `@oversync/nestjs`: offline-first sync of PostgreSQL tables to SQLite clients for NestJS,
 * wire-compatible with go-oversync v1.
 */
export { OversyncModule } from './oversync.module.js';
export type { OversyncModuleExtras } from './oversync.module-definition.js';
export type {
  OversyncModuleOptions,
  OversyncDatabaseOption,
  RegisteredTableOption,
  OversyncLimitsOption,
  OversyncRetentionOption,
  OversyncWatchOption,
  ResolvedOversyncOptions,
} from './oversync.options.js';
export { SyncService, type SyncActor, type WithinSyncBundleResult } from './sync.service.js';
export { ScopeManager, type ExecWriteOptions, type ScopeWriteResult } from './scope/scope.manager.js';
export { ScopeWrite, type ScopeWriteOptions } from './scope/scope-write.decorator.js';
export { ScopeWriteContext } from './scope/scope-write.context.js';
export { OversyncExceptionFilter } from './http/oversync-exception.filter.js';
export type { CommittedBundle } from './capture/committed-bundle.types.js';
export type { OversyncStatus, OversyncStatusCounters } from './status/status.query.js';
export type { LifecycleState } from './lifecycle/lifecycle.service.js';
export { PullService, type PullPageRequest } from './pull/pull.service.js';
export { SnapshotSessionService, type SnapshotActor } from './snapshot/snapshot-session.service.js';
export type { SourceReplacementRequest } from './snapshot/source-rotation.util.js';
export { CapabilitiesService, type CapabilitiesActor } from './capabilities/capabilities.service.js';
export { BundleChangeHub, WatchSubscriber } from './watch/bundle-change.hub.js';
export { BundleWatchService } from './watch/bundle-watch.service.js';
export { ConnectService } from './connect/connect.service.js';
export { PushSessionService } from './push/push-session.service.js';
export { PushChunkService } from './push/push-chunk.service.js';
export { PushCommitService } from './push/push-commit.service.js';
export { CommittedBundleRowsService } from './push/committed-bundle-rows.service.js';
export * from './errors/index.js';
