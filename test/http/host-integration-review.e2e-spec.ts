/**
 * Host-integration review: OversyncModule inside the set-ups production Nest apps run — Nest's
 * default JSON parser, a global prefix with URI versioning, global guards (JWT-style auth, a rate
 * limiter), a strict global ValidationPipe, ClassSerializerInterceptor, a catch-all APP_FILTER,
 * CORS, an admin controller with `@ScopeWrite`, a request-scoped global guard, another platform,
 * and a `forRootAsync` factory fed by a config service.
 */
import {
  Body,
  ClassSerializerInterceptor,
  Controller,
  HttpException,
  Injectable,
  Param,
  Post,
  Scope,
  UnauthorizedException,
  ValidationPipe,
  VersioningType,
  type ArgumentsHost,
  type CanActivate,
  type ExceptionFilter,
  type ExecutionContext,
  type Provider,
  type Type,
  Catch,
} from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_INTERCEPTOR, APP_PIPE } from '@nestjs/core';
import { ExpressAdapter, type NestExpressApplication } from '@nestjs/platform-express';
import { Test } from '@nestjs/testing';
import { OversyncConfigError, OversyncModule, ScopeWrite, ScopeWriteContext } from '@oversync/nestjs';
import type { PullResponse } from '@oversync/protocol';
import { IsString } from 'class-validator';
import type { Request, Response } from 'express';
import { sql } from 'kysely';
import { businessSchemaSql, businessTables, execSql } from '../support/business-schema.js';
import { bearerUserId } from '../support/oversync-app.js';
import * as push from '../support/push-builders.js';
import { openWatch } from '../support/read-builders.js';
import { syncClient, type SyncReply } from '../support/sync-http.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

type HttpRequest = Request & { user?: { sub: string } };

interface Host {
  app: NestExpressApplication;
  db: TestDatabase;
  url: string;
  close(): Promise<void>;
}

/** A real app on port 0 over a fresh database; `hostAuth` leaves the user to the host's guard. */
async function startHost(opts: {
  providers?: Provider[];
  controllers?: Type[];
  bodyParser?: boolean;
  hostAuth?: boolean;
  setup?: (app: NestExpressApplication) => void;
}): Promise<Host> {
  const db = await createTestDatabase();
  await execSql(db.url, businessSchemaSql('business'));
  const moduleRef = await Test.createTestingModule({
    imports: [
      OversyncModule.forRoot({
        database: { connectionString: db.url, poolSize: 3 },
        registeredTables: businessTables('business'),
        ...(opts.hostAuth ? {} : { resolveUserId: bearerUserId }),
      }),
    ],
    providers: opts.providers ?? [],
    controllers: opts.controllers ?? [],
  }).compile();
  const app = moduleRef.createNestApplication<NestExpressApplication>({
    logger: ['error', 'warn'],
    forceCloseConnections: true,
    bodyParser: opts.bodyParser ?? false,
  });
  opts.setup?.(app);
  await app.listen(0, '127.0.0.1');
  const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  return { app, db, url, close: async () => (await app.close(), await db.drop()) };
}

/** Fails fast instead of at Jest's timeout when a request is never answered. */
function answered<T>(reply: Promise<T>, what: string, ms = 5000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([reply, late]).finally(() => clearTimeout(timer));
}

/** connect → create → one chunk → commit over HTTP; returns every reply's status and the commit. */
async function pushOver(base: string, user: string, rows: unknown[]): Promise<[number[], SyncReply]> {
  const client = syncClient(base, user, 'device');
  const statuses: number[] = [];
  statuses.push((await answered(push.connect(client, false), 'connect')).status);
  const created = await answered(push.createSession(client, 1, rows.length), 'create');
  statuses.push(created.status);
  const pushId = created.json.push_id as string;
  statuses.push((await answered(push.uploadChunk(client, pushId, 0, rows), 'chunk')).status);
  const commit = await answered(push.commitSession(client, pushId), 'commit');
  statuses.push(commit.status);
  return [statuses, commit];
}

const userRows = async (db: TestDatabase, scope: string): Promise<number> =>
  (await execSql(db.url, 'SELECT count(*)::int AS n FROM business.users WHERE _sync_scope_id = $1', [scope]))
    .rows[0].n as number;

describe('behind Nest’s default JSON parser with a raised limit (the README’s other set-up)', () => {
  let h: Host;
  beforeAll(async () => {
    h = await startHost({ bodyParser: true, setup: (app) => app.useBodyParser('json', { limit: '32mb' }) });
  });
  afterAll(async () => h?.close());

  it('takes the body the host parsed: a 1,000-row push of ~600 kB commits (it hung unanswered)', async () => {
    const user = push.newUser('parsed');
    const rows = Array.from({ length: 1000 }, (_, i) =>
      push.insertUser('business', push.newId(), `u${i}`.padEnd(200, '.')),
    );
    const [statuses, commit] = await pushOver(h.url, user, rows);
    expect(statuses).toEqual([200, 200, 200, 200]);
    expect(commit.json).toMatchObject({ bundle_seq: 1, row_count: 1000 });
    expect(await userRows(h.db, user)).toBe(1000);
  });

  it('answers an empty JSON body 400 as without a host parser, not as the parser’s {}', async () => {
    const client = syncClient(h.url, push.newUser('empty'), 'device');
    const reply = await answered(
      client({ method: 'POST', path: '/sync/connect', headers: { 'content-type': 'application/json' } }),
      'connect',
    );
    expect([reply.status, reply.json]).toEqual([
      400,
      { error: 'invalid_request', message: 'Failed to parse connect request' },
    ]);
  });
});

/** Passport-style JWT guard: the bearer token is the subject; `expired` is refused. */
@Injectable()
class JwtAuthGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<HttpRequest>();
    const token = req.headers.authorization?.replace(/^Bearer /, '');
    if (!token || token === 'expired') throw new UnauthorizedException('jwt expired');
    req.user = { sub: token };
    return true;
  }
}

/** A rate limiter as `@nestjs/throttler` behaves: Retry-After, then 429. `greedy` gets one call. */
@Injectable()
class RateLimitGuard implements CanActivate {
  #calls = 0;
  canActivate(context: ExecutionContext): boolean {
    const http = context.switchToHttp();
    if (http.getRequest<HttpRequest>().user?.sub !== 'greedy' || ++this.#calls <= 1) return true;
    http.getResponse<Response>().setHeader('Retry-After', '1');
    throw new HttpException('ThrottlerException: Too Many Requests', 429);
  }
}

/** The host's own error envelope for everything its routes throw. */
@Catch()
class AllExceptionsFilter implements ExceptionFilter {
  catch(exception: unknown, host: ArgumentsHost): void {
    const status = exception instanceof HttpException ? exception.getStatus() : 500;
    host.switchToHttp().getResponse<Response>().status(status).json({ ok: false, status });
  }
}

class AddUserDto {
  @IsString() name!: string;
}

@Controller('admin')
class AdminController {
  constructor(private readonly scope: ScopeWriteContext) {}

  @Post('users/:userId/users')
  @ScopeWrite({ writerId: 'admin-panel', scopeId: (userId: string) => userId })
  async addUser(@Param('userId') _userId: string, @Body() dto: AddUserDto): Promise<{ validated: boolean }> {
    await sql`INSERT INTO business.users (id, name, email) VALUES (${push.newId()}, ${dto.name}, 'a@example.test')`.execute(
      this.scope.trx,
    );
    return { validated: dto instanceof AddUserDto };
  }
}

describe('under a global prefix, URI versioning and the global enhancers of a production app', () => {
  let h: Host;
  let base: string;
  beforeAll(async () => {
    h = await startHost({
      hostAuth: true,
      providers: [
        { provide: APP_GUARD, useClass: JwtAuthGuard },
        { provide: APP_GUARD, useClass: RateLimitGuard },
        {
          provide: APP_PIPE,
          useValue: new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true, transform: true }),
        },
        { provide: APP_INTERCEPTOR, useClass: ClassSerializerInterceptor },
        { provide: APP_FILTER, useClass: AllExceptionsFilter },
      ],
      controllers: [AdminController],
      setup: (app) => {
        app.setGlobalPrefix('api');
        app.enableVersioning({ type: VersioningType.URI, defaultVersion: '1' });
        app.enableCors();
        // As the README writes it: under the prefix the URL is /api/v1/sync/…, so this parser
        // takes the sync bodies too (up to its 100 kB limit).
        app.useBodyParser('json', { type: (req) => !(req.url ?? '').startsWith('/sync/') });
      },
    });
    base = `${h.url}/api/v1`;
  });
  afterAll(async () => h?.close());

  it('answers the host guards’ 401 and 429 with their own status, not 500 internal_error', async () => {
    for (const call of [
      { path: '/sync/pull' },
      { path: `/sync/push-sessions/${push.newId()}/commit`, body: '' },
    ]) {
      const expired = await syncClient(base, 'expired', 'device')(call);
      expect([expired.status, expired.json]).toEqual([
        401,
        { statusCode: 401, error: 'Unauthorized', message: 'jwt expired' },
      ]);
    }
    const greedy = syncClient(base, 'greedy', 'device');
    expect((await greedy({ path: '/sync/capabilities' })).status).toBe(200);
    const limited = await greedy({ path: '/sync/capabilities' });
    expect([limited.status, limited.headers.get('retry-after')]).toEqual([429, '1']);
    expect(limited.json).toEqual({ statusCode: 429, message: 'ThrottlerException: Too Many Requests' });
  });

  it('syncs at /api/v1/sync (it hung), and an admin @ScopeWrite handler with a validated DTO reaches the device', async () => {
    const user = push.newUser('enhanced');
    const [statuses] = await pushOver(base, user, [push.insertUser('business', push.newId(), 'Ada')]);
    expect(statuses).toEqual([200, 200, 200, 200]);
    const stream = await openWatch(base, { user, source: 'other', query: '?after_bundle_seq=1' });
    try {
      const admin = (body: unknown) =>
        fetch(`${base}/admin/users/${user}/users`, {
          method: 'POST',
          headers: { authorization: 'Bearer admin', 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
      const added = await admin({ name: 'Grace' });
      expect([added.status, await added.json()]).toEqual([201, { validated: true }]);
      await expect(stream.waitForEvent((e) => e.bundle_seq === 2)).resolves.toMatchObject({
        source_id: 'admin-panel',
      });
      // The host's pipe and filter keep working on its own routes.
      const refused = await admin({ name: 'Eve', role: 'root' });
      expect([refused.status, await refused.json()]).toEqual([400, { ok: false, status: 400 }]);
    } finally {
      stream.close();
    }
    expect(await userRows(h.db, user)).toBe(2);
    const device = syncClient(base, user, 'device');
    const pull = await device<PullResponse>({ path: '/sync/pull' });
    expect(pull.json.bundles.map((b) => b.source_id)).toEqual(['device', 'admin-panel']);
    // Sync errors keep the wire envelope under the catch-all filter.
    const missing = await device({ path: `/sync/push-sessions/${push.newId()}/commit`, body: '' });
    expect([missing.status, missing.json.error]).toEqual([404, 'push_session_not_found']);
  });
});

/** A request-scoped global guard, as multi-tenant apps bind one. */
@Injectable({ scope: Scope.REQUEST })
class TenantGuard implements CanActivate {
  canActivate(): boolean {
    return true;
  }
}

/**
 * What the module can see of a Fastify app (@nestjs/platform-fastify is not a dependency here):
 * the adapter's type. On the real Fastify adapter the routes stopped start-up with Fastify's
 * FST_ERR_DUPLICATED_ROUTE for '/sync/connect', naming neither Oversync nor the fix.
 */
class FastifyTypedAdapter extends ExpressAdapter {
  override getType(): string {
    return 'fastify';
  }
}

/** Stands in for `@nestjs/config`: values come from the environment, as text. */
@Injectable()
class EnvConfig {
  readonly #env: Record<string, string> = { OVERSYNC_WATCH: 'false' };
  get<T>(key: string): T {
    return this.#env[key] as T;
  }
}

describe('start-up refusals a host can act on', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
    await execSql(db.url, businessSchemaSql('business'));
  });
  afterAll(async () => db?.drop());

  /** What `init()` of such an app threw (the app is closed either way). */
  async function initError(opts: { providers?: Provider[]; controllers?: Type[]; adapter?: ExpressAdapter }) {
    const moduleRef = await Test.createTestingModule({
      imports: [
        OversyncModule.forRoot({
          database: { connectionString: db.url },
          registeredTables: businessTables('business'),
        }),
      ],
      providers: opts.providers ?? [],
      controllers: opts.controllers ?? [],
    }).compile();
    const app = moduleRef.createNestApplication(opts.adapter ?? new ExpressAdapter(), { logger: false });
    try {
      return await app.init().then(
        () => undefined,
        (error: unknown) => error,
      );
    } finally {
      await app.close();
    }
  }

  it('names a request-scoped global enhancer when a singleton controller’s @ScopeWrite cannot be wrapped', async () => {
    const error = await initError({
      controllers: [AdminController],
      providers: [{ provide: APP_GUARD, useClass: TenantGuard }],
    });
    expect(error).toBeInstanceOf(OversyncConfigError);
    expect((error as Error).message).toMatch(
      /AdminController\.addUser .*request-scoped global enhancer \(an APP_GUARD/,
    );
  });

  it('says the sync routes need Express when the app runs on another platform', async () => {
    const error = await initError({ adapter: new FastifyTypedAdapter() });
    expect(error).toBeInstanceOf(OversyncConfigError);
    expect((error as Error).message).toMatch(
      /routes run on Nest's Express platform, and this app runs on fastify/,
    );
  });

  it('refuses watch.enabled read from the environment as text ("false" would leave watch on)', async () => {
    const start = Test.createTestingModule({
      imports: [
        OversyncModule.forRootAsync({
          inject: [EnvConfig],
          imports: [{ module: class EnvModule {}, providers: [EnvConfig], exports: [EnvConfig] }],
          useFactory: (config: EnvConfig) => ({
            database: { connectionString: db.url },
            registeredTables: businessTables('business'),
            watch: { enabled: config.get<boolean>('OVERSYNC_WATCH') },
          }),
        }),
      ],
    }).compile();
    await expect(start).rejects.toThrow(OversyncConfigError);
    await expect(start).rejects.toThrow(/`watch\.enabled` must be a boolean \(got "false"\)/);
  });
});
