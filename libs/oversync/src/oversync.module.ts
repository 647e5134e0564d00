import { Module, type MiddlewareConsumer, type NestModule } from '@nestjs/common';
import { DiscoveryModule, DiscoveryService, HttpAdapterHost } from '@nestjs/core';
import { ScopeTransactionRunner } from './capture/scope-transaction.runner.js';
import { OversyncDatabase } from './database/oversync-database.js';
import { OVERSYNC_CONTROLLERS, OVERSYNC_HTTP_PROVIDERS, runsOnExpress } from './http/oversync-controllers.js';
import { SyncBodyMiddleware } from './http/sync-body.middleware.js';
import { LifecycleService } from './lifecycle/lifecycle.service.js';
import { OVERSYNC_MODULE_OPTIONS, OversyncConfigurableModule } from './oversync.module-definition.js';
import { OVERSYNC_DATABASE, OVERSYNC_RESOLVED_OPTIONS } from './oversync.internal-constants.js';
import type { OversyncModuleOptions, ResolvedOversyncOptions } from './oversync.options.js';
import { resolveOversyncOptions } from './oversync-options.resolver.js';
import { OversyncRuntime } from './runtime/oversync-runtime.service.js';
import { ScopeManager } from './scope/scope.manager.js';
import { ScopeWriteContext } from './scope/scope-write.context.js';
import { ScopeWriteExplorer } from './scope/scope-write.explorer.js';
import { StatusQuery } from './status/status.query.js';
import { SyncService } from './sync.service.js';

/**
 * Registers PostgreSQL tables for offline-first sync: bootstraps the `sync` schema (capture
 * triggers, metadata) on start-up, provides {@link SyncService}, {@link ScopeManager} and
 * {@link ScopeWriteContext}, and mounts the go-oversync v1 `/sync/*` routes.
 *
 * @example
 * ```ts
 * @Module({
 *   imports: [
 *     OversyncModule.forRoot({
 *       database: { connectionString: process.env.DATABASE_URL! },
 *       registeredTables: [
 *         { schema: 'business', table: 'users', syncKeyColumns: ['id'] },
 *         { schema: 'business', table: 'posts', syncKeyColumns: ['id'] },
 *       ],
 *     }),
 *   ],
 * })
 * export class AppModule {}
 * ```
 */
@Module({
  imports: [DiscoveryModule],
  providers: [
    {
      provide: OVERSYNC_RESOLVED_OPTIONS,
      inject: [OVERSYNC_MODULE_OPTIONS],
      useFactory: (options: OversyncModuleOptions) => resolveOversyncOptions(options),
    },
    {
      provide: OVERSYNC_DATABASE,
      inject: [OVERSYNC_RESOLVED_OPTIONS],
      useFactory: (options: ResolvedOversyncOptions) => new OversyncDatabase(options.database),
    },
    OversyncRuntime,
    LifecycleService,
    ScopeTransactionRunner,
    StatusQuery,
    SyncService,
    ScopeWriteContext,
    ScopeManager,
    ScopeWriteExplorer,
    ...OVERSYNC_HTTP_PROVIDERS,
  ],
  // The protocol services too, for a host that mounts its own routes (`routes: false`).
  exports: [SyncService, ScopeManager, ScopeWriteContext, ...OVERSYNC_HTTP_PROVIDERS],
})
export class OversyncModule extends OversyncConfigurableModule implements NestModule {
  constructor(
    private readonly explorer: ScopeWriteExplorer,
    private readonly adapterHost: HttpAdapterHost,
    private readonly discovery: DiscoveryService,
  ) {
    super();
  }

  configure(consumer: MiddlewareConsumer): void {
    // Runs before Nest registers routes, so @ScopeWrite controller handlers are wrapped in time.
    this.explorer.explore();
    // Our own JSON reader (with our size limit) on our controllers' paths, on Express only.
    if (runsOnExpress(this.adapterHost, this.discovery))
      consumer.apply(SyncBodyMiddleware).forRoutes(...OVERSYNC_CONTROLLERS);
  }
}
