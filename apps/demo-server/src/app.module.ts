import { Module, type DynamicModule, type MiddlewareConsumer, type NestModule } from '@nestjs/common';
import { OversyncModule } from '@oversync/nestjs';
import { Kysely, PostgresDialect } from 'kysely';
import type { Pool } from 'pg';
import { AdminController } from './admin/admin.controller.js';
import { AdminService } from './admin/admin.service.js';
import { AuthController } from './auth/auth.controller.js';
import { JwtAuthMiddleware } from './auth/jwt-auth.middleware.js';
import { UserProfileService } from './auth/user-profile.service.js';
import { DEMO_DB, type DemoDb } from './database/demo-db.types.js';
import { DEMO_TABLES } from './database/demo-migration.js';
import { DEMO_CONFIG, type DemoConfig } from './demo.config.js';

/** The demo app: JWT auth, the admin back office and `OversyncModule` over the business schema. */
@Module({})
export class AppModule implements NestModule {
  /**
   * @param config - auth and admin settings.
   * @param pool - the app's pool (owned by the caller); shared by the sync engine and admin reads.
   */
  static forRoot(config: DemoConfig, pool: Pool): DynamicModule {
    return {
      module: AppModule,
      imports: [
        OversyncModule.forRoot({
          database: { pool },
          registeredTables: DEMO_TABLES,
          appName: 'oversync-demo',
        }),
      ],
      controllers: [AuthController, AdminController],
      providers: [
        { provide: DEMO_CONFIG, useValue: config },
        { provide: DEMO_DB, useValue: new Kysely<DemoDb>({ dialect: new PostgresDialect({ pool }) }) },
        AdminService,
        UserProfileService,
      ],
    };
  }

  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(JwtAuthMiddleware).forRoutes('*path');
  }
}
