import { Injectable, Module, type MiddlewareConsumer, type NestModule } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { OversyncModule, ScopeWrite, ScopeWriteContext } from '@oversync/nestjs';
import type { NextFunction, Request, Response } from 'express';

/** Run once (a migration): registered tables are keyed and owned by `_sync_scope_id`. */
export const SCHEMA_SQL = `
CREATE SCHEMA IF NOT EXISTS business;
CREATE TABLE IF NOT EXISTS business.users (
  _sync_scope_id text NOT NULL, id text NOT NULL, name text NOT NULL,
  PRIMARY KEY (_sync_scope_id, id));
CREATE TABLE IF NOT EXISTS business.posts (
  _sync_scope_id text NOT NULL, id uuid NOT NULL, title text NOT NULL, content text NOT NULL,
  author_id text,
  PRIMARY KEY (_sync_scope_id, id),
  FOREIGN KEY (_sync_scope_id, author_id) REFERENCES business.users (_sync_scope_id, id)
    DEFERRABLE INITIALLY DEFERRED);`;

/** The tables as Kysely sees them (what the service below touches). */
interface Db {
  'business.users': { _sync_scope_id: string; id: string; name: string };
}

/** Back-office writes reach devices as ordinary bundles (pull and watch). */
@Injectable()
export class AdminService {
  constructor(private readonly scope: ScopeWriteContext<Db>) {}

  @ScopeWrite('admin-panel') // the scope id is the first argument
  async renameUser(userId: string, name: string): Promise<void> {
    await this.scope.trx
      .insertInto('business.users')
      .values({ _sync_scope_id: userId, id: userId, name })
      .onConflict((c) => c.columns(['_sync_scope_id', 'id']).doUpdateSet({ name }))
      .execute();
  }
}

/**
 * Stands in for your authentication: Oversync reads the trusted user from `request.user.id` (or
 * `.sub`, or your `resolveUserId`). Here the bearer token *is* the user id — replace this with
 * real token verification.
 */
function devAuth(req: Request & { user?: { id: string } }, _res: Response, next: NextFunction): void {
  const token = req.headers.authorization?.replace(/^Bearer /, '');
  if (token) req.user = { id: token };
  next();
}

@Module({
  imports: [
    OversyncModule.forRoot({
      database: { connectionString: process.env.DATABASE_URL! },
      registeredTables: [
        { schema: 'business', table: 'users', syncKeyColumns: ['id'] },
        { schema: 'business', table: 'posts', syncKeyColumns: ['id'] },
      ],
    }),
  ],
  providers: [AdminService],
})
export class AppModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(devAuth).forRoutes('*path');
  }
}

/** Starts the app. Sync routes read their own bodies (up to `limits.maxRequestBodyBytes`). */
export async function startHost(port: number): Promise<NestExpressApplication> {
  const app = await NestFactory.create<NestExpressApplication>(AppModule, { bodyParser: false });
  // JSON for your own routes only; Nest's default 100 kB limit would refuse 1,000-row push chunks.
  app.useBodyParser('json', { type: (req) => !(req.url ?? '').startsWith('/sync/') });
  app.enableShutdownHooks();
  await app.listen(port);
  return app;
}
