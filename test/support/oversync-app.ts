/**
 * Boots a real Nest application with `OversyncModule` on a fresh database for a test file.
 */
import { type DynamicModule, type INestApplication, type Provider, type Type } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { OversyncModule, type OversyncModuleOptions } from '@oversync/nestjs';
import { businessSchemaSql, businessTables, execSql } from './business-schema.js';
import { createTestDatabase, type TestDatabase } from './test-database.js';

export interface OversyncTestApp {
  app: INestApplication;
  db: TestDatabase;
  schema: string;
  /** Base URL when started with `listen: true`. */
  baseUrl: string;
  get<T>(token: Type<T>): T;
  close(): Promise<void>;
}

export interface OversyncTestAppOptions {
  /** Extra module options (merged over the defaults). */
  options?: Partial<OversyncModuleOptions>;
  providers?: Provider[];
  controllers?: Type[];
  imports?: Array<Type | DynamicModule>;
  /** Listen on a random port (for HTTP tests). */
  listen?: boolean;
  /** Reuse an existing database instead of creating one (a second instance on one database). */
  database?: TestDatabase;
  /** Business schema name. @default 'business' */
  schema?: string;
  /** Skip creating the business schema (it already exists). */
  skipSchema?: boolean;
  /**
   * The test's own business schema, created instead of the default one (register its tables with
   * `options.registeredTables`).
   */
  schemaSql?: string;
  /** Database default time zone (ALTER DATABASE … SET TimeZone), standing in for a host's setting. */
  timeZone?: string;
  routes?: boolean;
}

export async function createOversyncTestApp(opts: OversyncTestAppOptions = {}): Promise<OversyncTestApp> {
  const db = opts.database ?? (await createTestDatabase());
  try {
    return await startTestApp(db, opts);
  } catch (error) {
    // A start that fails (a test of a refused configuration, say) must not leave its database.
    if (!opts.database) await db.drop();
    throw error;
  }
}

async function startTestApp(db: TestDatabase, opts: OversyncTestAppOptions): Promise<OversyncTestApp> {
  const schema = opts.schema ?? 'business';
  if (opts.schemaSql !== undefined) await execSql(db.url, opts.schemaSql);
  else if (!opts.skipSchema) await execSql(db.url, businessSchemaSql(schema));
  if (opts.timeZone !== undefined)
    await execSql(db.url, `ALTER DATABASE "${db.name}" SET TimeZone = '${opts.timeZone}'`);
  const moduleRef = await Test.createTestingModule({
    imports: [
      OversyncModule.forRoot({
        database: { connectionString: db.url, poolSize: 5 },
        registeredTables: businessTables(schema),
        appName: 'oversync-test',
        // Test authentication: the bearer token is the user id (real apps verify a JWT here).
        resolveUserId: (req: unknown) => bearerUserId(req),
        ...opts.options,
        routes: opts.routes ?? true,
      }),
      ...(opts.imports ?? []),
    ],
    providers: opts.providers ?? [],
    controllers: opts.controllers ?? [],
  }).compile();
  // No app-wide body parser: the sync routes read their own bodies (with their own size limit).
  // forceCloseConnections: aborted SSE fetches leave idle keep-alive sockets that would make
  // app.close() wait for their timeout.
  const app = moduleRef.createNestApplication({
    logger: ['error', 'warn'],
    bodyParser: false,
    forceCloseConnections: true,
  });
  app.enableShutdownHooks();
  let baseUrl = '';
  if (opts.listen) {
    await app.listen(0, '127.0.0.1');
    baseUrl = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  } else {
    await app.init();
  }
  return {
    app,
    db,
    schema,
    baseUrl,
    get: <T>(token: Type<T>) => app.get(token),
    close: async () => {
      await app.close();
      if (!opts.database) await db.drop();
    },
  };
}

/** Test auth: `Authorization: Bearer <userId>`. */
export function bearerUserId(req: unknown): string | undefined {
  const header = (req as { headers?: Record<string, string | undefined> }).headers?.authorization;
  return header?.startsWith('Bearer ') ? header.slice(7) : undefined;
}
