import { Controller, Get, Injectable, Param } from '@nestjs/common';
import { sql } from 'kysely';
import { execSql } from '../../../../test/support/business-schema.js';
import { createOversyncTestApp, type OversyncTestApp } from '../../../../test/support/oversync-app.js';
import { ScopeWriteInvalidError } from '../errors/index.js';
import { ScopeWrite } from './scope-write.decorator.js';
import { ScopeWriteContext } from './scope-write.context.js';

interface Db {
  'business.docs': { _sync_scope_id?: string; doc_id: string; body: string | null };
}

/** A small realistic back-office service: every method is one captured bundle. */
@Injectable()
class DocsAdminService {
  constructor(private readonly scope: ScopeWriteContext<Db>) {}

  @ScopeWrite('admin-panel')
  async addDoc(userId: string, docId: string, body: string): Promise<string> {
    await this.scope.trx.insertInto('business.docs').values({ doc_id: docId, body }).execute();
    return `${this.scope.scopeId}/${this.scope.writerId}/${docId}`;
  }

  @ScopeWrite({ writerId: 'importer', scopeId: (job: { owner: string; docs: string[] }) => job.owner })
  async importDocs(job: { owner: string; docs: string[] }): Promise<number> {
    for (const d of job.docs) await this.addDoc(job.owner, d, 'imported');
    return job.docs.length;
  }

  @ScopeWrite('admin-panel')
  async crossScope(userId: string): Promise<void> {
    await this.addDoc(`${userId}-other`, 'x', 'y');
  }

  @ScopeWrite('admin-panel')
  async failAfterWrite(userId: string): Promise<void> {
    await this.scope.trx.insertInto('business.docs').values({ doc_id: 'doomed', body: null }).execute();
    throw new Error(`refused for ${userId}`);
  }

  @ScopeWrite('admin-panel')
  async noScope(userId: number): Promise<number> {
    return userId;
  }
}

/** A controller whose route handler is itself a scope write (route metadata must survive the wrap). */
@Controller('admin-docs')
class DocsAdminController {
  constructor(private readonly scope: ScopeWriteContext) {}

  @Get(':user/:doc')
  @ScopeWrite({ writerId: 'admin-http', scopeId: (user: string) => user })
  async create(@Param('user') user: string, @Param('doc') doc: string): Promise<{ ok: string }> {
    await sql`INSERT INTO business.docs (doc_id, body) VALUES (${doc}, 'via http')`.execute(this.scope.trx);
    return { ok: this.scope.scopeId };
  }
}

describe('@ScopeWrite in a Nest app (real PostgreSQL)', () => {
  let t: OversyncTestApp;
  let svc: DocsAdminService;
  const q = (text: string, values: unknown[] = []) => execSql(t.db.url, text, values);
  const bundles = async (user: string) =>
    (
      await q(
        `SELECT bundle_seq::int AS seq, source_id, source_bundle_id::int AS sbid, row_count::int AS rows FROM sync.bundle_log
          WHERE user_pk = (SELECT user_pk FROM sync.user_state WHERE user_id = $1) ORDER BY 1`,
        [user],
      )
    ).rows;

  beforeAll(async () => {
    t = await createOversyncTestApp({
      providers: [DocsAdminService],
      controllers: [DocsAdminController],
      listen: true,
    });
    svc = t.get(DocsAdminService);
  });
  afterAll(async () => t.close());

  it('runs a decorated method as one bundle of the first-argument scope and exposes the context', async () => {
    const out = await svc.addDoc('alice', 'd1', 'hello');
    expect(out).toBe('alice/admin-panel/d1');
    expect(await bundles('alice')).toEqual([{ seq: 1, source_id: 'admin-panel', sbid: 1, rows: 1 }]);
    const row = await q(`SELECT _sync_scope_id, body FROM business.docs WHERE doc_id = 'd1'`);
    expect(row.rows).toEqual([{ _sync_scope_id: 'alice', body: 'hello' }]);
  });

  it('joins nested calls for the same scope into the outer bundle and picks the scope with a selector', async () => {
    const n = await svc.importDocs({ owner: 'bob', docs: ['a', 'b', 'c'] });
    expect(n).toBe(3);
    expect(await bundles('bob')).toEqual([{ seq: 1, source_id: 'importer', sbid: 1, rows: 3 }]);
  });

  it('refuses a nested call for another scope and rolls back the outer write', async () => {
    await expect(svc.crossScope('carol')).rejects.toThrow(ScopeWriteInvalidError);
    expect(await bundles('carol')).toEqual([]);
    expect(await bundles('carol-other')).toEqual([]);
  });

  it('rolls back everything when the method throws', async () => {
    await expect(svc.failAfterWrite('dave')).rejects.toThrow('refused for dave');
    expect((await q(`SELECT count(*)::int AS n FROM business.docs WHERE doc_id = 'doomed'`)).rows[0].n).toBe(
      0,
    );
    expect(await bundles('dave')).toEqual([]);
  });

  it('rejects a call without a string scope id', async () => {
    await expect(svc.noScope(42)).rejects.toThrow(/needs a scope id/);
  });

  it('keeps other decorators working on a wrapped controller handler', async () => {
    const res = await fetch(`${t.baseUrl}/admin-docs/erin/h1`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: 'erin' });
    expect(await bundles('erin')).toEqual([{ seq: 1, source_id: 'admin-http', sbid: 1, rows: 1 }]);
  });

  it('throws a clear error when the context is used outside a scope write', () => {
    const ctx = t.get(ScopeWriteContext);
    expect(ctx.active).toBe(false);
    expect(() => ctx.trx).toThrow(/outside a scope write/);
  });

  it('does not leak wrappers between two apps in one process', async () => {
    const other = await createOversyncTestApp({ providers: [DocsAdminService] });
    try {
      const otherSvc = other.get(DocsAdminService);
      await otherSvc.addDoc('frank', 'f1', 'second app');
      const inOther = await execSql(
        other.db.url,
        `SELECT count(*)::int AS n FROM business.docs WHERE doc_id = 'f1'`,
      );
      expect(inOther.rows[0].n).toBe(1);
      expect((await q(`SELECT count(*)::int AS n FROM business.docs WHERE doc_id = 'f1'`)).rows[0].n).toBe(0);
      expect(Object.getPrototypeOf(Object.getPrototypeOf(otherSvc))).toBe(DocsAdminService.prototype);
      expect(Object.getPrototypeOf(otherSvc)).not.toBe(Object.getPrototypeOf(svc));
    } finally {
      await other.close();
    }
  });

  it('makes concurrent decorated writes for one scope gapless', async () => {
    await Promise.all(Array.from({ length: 20 }, (_, i) => svc.addDoc('gina', `g${i}`, 'x')));
    const seqs = (await bundles('gina')).map((b) => [b.seq, b.sbid]);
    expect(seqs).toEqual(Array.from({ length: 20 }, (_, i) => [i + 1, i + 1]));
    // Replaces a check that only exercised randomUUID: every write landed, once, in gina's scope.
    const docs = await q(`SELECT doc_id FROM business.docs WHERE _sync_scope_id = 'gina' ORDER BY doc_id`);
    expect(docs.rows.map((r) => r.doc_id).sort()).toEqual(
      Array.from({ length: 20 }, (_, i) => `g${i}`).sort(),
    );
  });
});
