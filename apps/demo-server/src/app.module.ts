import { Module, type DynamicModule, type MiddlewareConsumer, type NestModule } from '@nestjs/common';
import { OversyncModule } from '@oversync/nestjs';
import { AdminController } from './admin/admin.controller.js';
import { AdminService } from './admin/admin.service.js';
import { AuthController } from './auth/auth.controller.js';
import { JwtAuthMiddleware } from './auth/jwt-auth.middleware.js';
import { DEMO_TABLES } from './database/demo-migration.js';

/** The demo app: auth + OversyncModule over the business schema. */
@Module({})
export class AppModule implements NestModule {
  static forDatabase(url: string): DynamicModule {
    return {
      module: AppModule,
      imports: [OversyncModule.forRoot({ database: { connectionString: url }, registeredTables: DEMO_TABLES, appName: 'oversync-demo' })],
      controllers: [AuthController, AdminController],
      providers: [AdminService],
    };
  }

  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(JwtAuthMiddleware).forRoutes('*path');
  }
}
