/**
 * `OversyncExceptionFilter` on a host's own routes: Oversync errors thrown by `@ScopeWrite` methods
 * answer with their status and stable code; everything else keeps Nest's default answer.
 */
import {
  Controller,
  Injectable,
  NotFoundException,
  Param,
  Post,
  UseFilters,
  type INestApplication,
} from '@nestjs/common';
import { APP_FILTER, HttpAdapterHost } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import { OversyncExceptionFilter, OversyncModule, ScopeWrite, ScopeWriteContext } from '@oversync/nestjs';
import { sql } from 'kysely';
import { businessSchemaSql, businessTables, execSql } from '../support/business-schema.js';
import { bearerUserId } from '../support/oversync-app.js';
import * as push from '../support/push-builders.js';
import { syncClient } from '../support/sync-http.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

@Injectable()
class UsersAdmin {
  constructor(private readonly scope: ScopeWriteContext) {}

  @ScopeWrite('admin-panel')
  async add(scopeId: string, id: string): Promise<void> {
    await sql`INSERT INTO business.users (_sync_scope_id, id, name, email) VALUES (${scopeId}, ${id}::uuid, 'Added', 'a@x')`.execute(
      this.scope.trx,
    );
  }

  @ScopeWrite('admin-panel')
  async rename(scopeId: string, id: string): Promise<void> {
    await sql`UPDATE business.users SET name = 'Renamed' WHERE _sync_scope_id = ${scopeId} AND id = ${id}::uuid`.execute(
      this.scope.trx,
    );
  }

  /** Swallows a failed statement and carries on: the transaction is broken (a server-side bug). */
  @ScopeWrite('admin-panel')
  async swallow(scopeId: string, id: string): Promise<void> {
    await sql`SELECT 1 / 0`.execute(this.scope.trx).catch(() => undefined);
    await this.add(scopeId, id);
  }

  /** Forgets the scope filter: the owner guard must refuse another scope's row. */
  @ScopeWrite('admin-panel')
  async renameAnywhere(scopeId: string, id: string): Promise<void> {
    void scopeId;
    await sql`UPDATE business.users SET name = 'Stolen' WHERE id = ${id}::uuid`.execute(this.scope.trx);
  }
}

@Controller('admin')
class AdminController {
  constructor(private readonly users: UsersAdmin) {}

  @Post(':scope/users/:id')
  add(@Param('scope') scope: string, @Param('id') id: string): Promise<void> {
    return this.users.add(scope, id);
  }

  @Post(':scope/users/:id/rename')
  rename(@Param('scope') scope: string, @Param('id') id: string): Promise<void> {
    return this.users.rename(scope === 'blank' ? ' ' : scope, id);
  }

  @Post(':scope/users/:id/rename-anywhere')
  renameAnywhere(@Param('scope') scope: string, @Param('id') id: string): Promise<void> {
    return this.users.renameAnywhere(scope, id);
  }

  @Post(':scope/users/:id/swallow')
  swallow(@Param('scope') scope: string, @Param('id') id: string): Promise<void> {
    return this.users.swallow(scope, id);
  }

  @Post('missing')
  missing(): never {
    throw new NotFoundException('no such thing');
  }

  @Post('crash')
  crash(): never {
    throw new Error('database password is hunter2');
  }
}

/** The same controller with the filter bound to it instead of globally. */
@Controller('scoped')
@UseFilters(OversyncExceptionFilter)
class ScopedController {
  constructor(private readonly users: UsersAdmin) {}

  @Post(':scope/users/:id/rename')
  rename(@Param('scope') scope: string, @Param('id') id: string): Promise<void> {
    return this.users.rename(scope, id);
  }
}

/** A host app whose global filter is registered as an `APP_FILTER` provider or created with `new`. */
async function startHost(db: TestDatabase, registration: 'provider' | 'instance') {
  const moduleRef = await Test.createTestingModule({
    imports: [
      OversyncModule.forRoot({
        database: { connectionString: db.url, poolSize: 3 },
        registeredTables: businessTables('business'),
        resolveUserId: bearerUserId,
      }),
    ],
    providers: [
      UsersAdmin,
      ...(registration === 'provider' ? [{ provide: APP_FILTER, useClass: OversyncExceptionFilter }] : []),
    ],
    controllers: [AdminController, ScopedController],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: false, forceCloseConnections: true });
  if (registration === 'instance') {
    app.useGlobalFilters(new OversyncExceptionFilter(app.get(HttpAdapterHost).httpAdapter));
  }
  await app.listen(0, '127.0.0.1');
  return { app, url: (await app.getUrl()).replace('[::1]', '127.0.0.1') };
}

describe('OversyncExceptionFilter on host routes', () => {
  let db: TestDatabase;
  let app: INestApplication;
  let url: string;

  const post = async (path: string) => {
    const res = await fetch(`${url}${path}`, { method: 'POST' });
    return {
      status: res.status,
      body: (await res.json().catch(() => null)) as Record<string, unknown> | null,
    };
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    await execSql(db.url, businessSchemaSql('business'));
    ({ app, url } = await startHost(db, 'provider'));
  });
  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  it('answers a write that changed no synced row 422 with its code, and commits nothing', async () => {
    const scope = push.newUser('nothing');
    const reply = await post(`/admin/${scope}/users/${push.newId()}/rename`);
    expect(reply).toEqual({
      status: 422,
      body: {
        statusCode: 422,
        error: 'oversync_scope_write_no_captured_changes',
        message: expect.stringContaining(`scope write for ${scope} via admin-panel`),
      },
    });
    const { rows } = await execSql(db.url, 'SELECT count(*)::int AS n FROM sync.bundle_log');
    expect(rows[0].n).toBe(0);
  });

  it('answers a blank scope id 400', async () => {
    const reply = await post(`/admin/blank/users/${push.newId()}/rename`);
    expect(reply.status).toBe(400);
    expect(reply.body).toMatchObject({ statusCode: 400, error: 'oversync_scope_write_invalid' });
  });

  it("answers a write to another scope's row 403 and leaves the row alone", async () => {
    const owner = push.newUser('owner');
    const id = push.newId();
    expect((await post(`/admin/${owner}/users/${id}`)).status).toBe(201);
    const reply = await post(`/admin/${push.newUser('intruder')}/users/${id}/rename-anywhere`);
    expect(reply.status).toBe(403);
    expect(reply.body).toMatchObject({ statusCode: 403, error: 'oversync_registered_write_rejected' });
    const { rows } = await execSql(db.url, 'SELECT name FROM business.users WHERE id = $1', [id]);
    expect(rows).toEqual([{ name: 'Added' }]);
  });

  it('answers a scope another device is initialising 409 scope_initializing, as the wire does', async () => {
    const scope = push.newUser('initializing');
    expect((await push.connect(syncClient(url, scope, 'device'), true)).json).toMatchObject({
      resolution: 'initialize_local',
    });
    const reply = await post(`/admin/${scope}/users/${push.newId()}`);
    expect(reply.status).toBe(409);
    expect(reply.body).toMatchObject({ statusCode: 409, error: 'scope_initializing' });
  });

  it('answers a server-side Oversync failure 500 with its code and a generic message, no details', async () => {
    const scope = push.newUser('broken');
    const reply = await post(`/admin/${scope}/users/${push.newId()}/swallow`);
    expect(reply).toEqual({
      status: 500,
      body: {
        statusCode: 500,
        error: 'oversync_scope_write_transaction_broken',
        message: 'Internal server error',
      },
    });
  });

  it('works bound to one controller with @UseFilters as well', async () => {
    const reply = await post(`/scoped/${push.newUser('scoped')}/users/${push.newId()}/rename`);
    expect(reply.status).toBe(422);
    expect(reply.body).toMatchObject({ error: 'oversync_scope_write_no_captured_changes' });
  });

  it("leaves the host's HttpExceptions and unknown errors to Nest's default answers", async () => {
    expect(await post('/admin/missing')).toEqual({
      status: 404,
      body: { statusCode: 404, message: 'no such thing', error: 'Not Found' },
    });
    expect(await post('/admin/crash')).toEqual({
      status: 500,
      body: { statusCode: 500, message: 'Internal server error' },
    });
  });
});

describe('OversyncExceptionFilter created with new and the HTTP adapter', () => {
  let db: TestDatabase;
  let app: INestApplication;
  let url: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    await execSql(db.url, businessSchemaSql('business'));
    ({ app, url } = await startHost(db, 'instance'));
  });
  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  it("answers Oversync errors by code and leaves the host's exceptions to Nest", async () => {
    const renamed = await fetch(`${url}/admin/${push.newUser('instance')}/users/${push.newId()}/rename`, {
      method: 'POST',
    });
    expect(renamed.status).toBe(422);
    expect(await renamed.json()).toMatchObject({ error: 'oversync_scope_write_no_captured_changes' });
    const missing = await fetch(`${url}/admin/missing`, { method: 'POST' });
    expect([missing.status, await missing.json()]).toEqual([
      404,
      { statusCode: 404, message: 'no such thing', error: 'Not Found' },
    ]);
  });
});
