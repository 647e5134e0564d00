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
export type { CommittedBundle } from './capture/committed-bundle.types.js';
export type { OversyncStatus, OversyncStatusCounters } from './status/status.query.js';
export type { LifecycleState } from './lifecycle/lifecycle.service.js';
export * from './errors/index.js';
