import { randomUUID } from 'node:crypto';
import { computeBundleHash, type BundleRow } from '@oversync/protocol';
import { execSql } from '../../../../test/support/business-schema.js';
import { committedBundleRows } from '../../../../test/support/bundle-rows.js';
import { createOversyncTestApp, type OversyncTestApp } from '../../../../test/support/oversync-app.js';
import {
  RegisteredWriteRejectedError,
  ScopeInitializingError,
  ScopeWriteInvalidError,
  ScopeWriteNoCapturedChangesError,
  SourceRetiredError,
} from '../errors/index.js';
import { ScopeManager } from './scope.manager.js';
import { sql } from 'kysely';

describe('ScopeManager.execWrite (real PostgreSQL)', () => {
  let t: OversyncTestApp;
  let scopes: ScopeManager;
  const q = (text: string, values: unknown[] = []) => execSql(t.db.url, text, values);

  beforeAll(async () => {
    t = await createOversyncTestApp();
    scopes = t.get(ScopeManager);
  });
  afterAll(async () => t.close());

  async function insertUser(scope: string, id = randomUUID(), name = 'Ada') {
    return scopes.execWrite(scope, { writerId: 'admin-panel' }, async (trx) => {
      await sql`INSERT INTO business.users (id, name, email) VALUES (${id}, ${name}, ${name + '@x.test'})`.execute(
        trx,
      );
      return id;
    });
  }

  it('auto-initialises an uninitialised scope and commits one bundle with exact metadata', async () => {
    const id = randomUUID();
    const res = await insertUser('scope-auto', id);
    expect(res.autoInitialized).toBe(true);
    expect(res.result).toBe(id);
    expect(res.bundle).toMatchObject({
      bundle_seq: 1,
      source_id: 'admin-panel',
      source_bundle_id: 1,
      row_count: 1,
    });
    const rows = await committedBundleRows(t, 'scope-auto', res.bundle.bundle_seq);
    expect(rows[0]).toMatchObject({
      schema: 'business',
      table: 'users',
      op: 'INSERT',
      row_version: 1,
      key: { id },
    });
    expect(rows[0].payload).not.toHaveProperty('_sync_scope_id');
    const scope = await q(
      `SELECT s.state_code, s.initialized_by_source_id FROM sync.scope_state s JOIN sync.user_state u USING (user_pk) WHERE u.user_id = 'scope-auto'`,
    );
    expect(scope.rows[0]).toEqual({ state_code: 2, initialized_by_source_id: 'admin-panel' });
    const row = await q(`SELECT _sync_scope_id FROM business.users WHERE id = $1`, [id]);
    expect(row.rows[0]._sync_scope_id).toBe('scope-auto');
    const again = await insertUser('scope-auto');
    expect(again.autoInitialized).toBe(false);
    expect(again.bundle).toMatchObject({ bundle_seq: 2, source_bundle_id: 2 });
  });

  it('stores bundle rows whose hash equals an independent recomputation from the stored payloads', async () => {
    const res = await scopes.execWrite('scope-hash', { writerId: 'admin-panel' }, async (trx) => {
      await sql`INSERT INTO business.typed_rows (id, name, enabled_flag, rating, data, created_at, amount, tags, active, note)
        VALUES (${randomUUID()}, 'a<b>&c', 1, 1.5, '\\x00ff10'::bytea, '2026-03-24 18:42:11.123456+02', 12.50, '{"z":1,"a":[1,2.0]}', true, E'line\\u2028sep')`.execute(
        trx,
      );
      await sql`INSERT INTO business.docs (doc_id, body) VALUES ('doc-1', 'hello')`.execute(trx);
    });
    const stored = await q(
      `SELECT r.row_ordinal, c.schema_name, c.table_name, c.sync_key_column, c.sync_key_kind, r.key_bytes, r.op_code, r.payload_wire::text AS payload
         FROM sync.bundle_rows r JOIN sync.table_catalog c USING (table_id) JOIN sync.user_state u USING (user_pk)
        WHERE u.user_id = 'scope-hash' AND r.bundle_seq = $1 ORDER BY r.row_ordinal`,
      [res.bundle.bundle_seq],
    );
    const rows: BundleRow[] = stored.rows.map((r) => ({
      schema: r.schema_name,
      table: r.table_name,
      key: {
        [r.sync_key_column]: r.sync_key_kind === 1 ? formatUuid(r.key_bytes) : r.key_bytes.toString('utf8'),
      },
      op: (['', 'INSERT', 'UPDATE', 'DELETE'] as const)[r.op_code] as BundleRow['op'],
      row_version: res.bundle.bundle_seq,
      ...(r.payload === null ? {} : { payload: JSON.parse(r.payload) }),
    }));
    const recomputed = computeBundleHash(rows.map((r) => ({ ...r, payload: r.payload ?? null })));
    expect(recomputed).toBe(res.bundle.bundle_hash);
    const log = await q(
      `SELECT encode(bundle_hash,'hex') AS h, row_count FROM sync.bundle_log WHERE bundle_seq = $1 AND source_id = 'admin-panel'
      AND user_pk = (SELECT user_pk FROM sync.user_state WHERE user_id = 'scope-hash')`,
      [res.bundle.bundle_seq],
    );
    expect(log.rows[0]).toEqual({ h: res.bundle.bundle_hash, row_count: '2' });
    const typed = rows[0].payload!;
    expect(typed.data).toBe('AP8Q');
    expect(typed.created_at).toBe('2026-03-24T16:42:11.123456+00:00');
    expect(typed.amount).toBe(12.5);
    expect(typed.tags).toEqual({ a: [1, 2], z: 1 });
    expect(stored.rows[0].payload).toContain('"a\\u003cb\\u003e\\u0026c"');
  });

  it('collapses insert+delete to nothing and reports no captured changes, rolling everything back', async () => {
    const before = await q(`SELECT count(*)::int AS n FROM sync.bundle_log`);
    await expect(
      scopes.execWrite('scope-empty', { writerId: 'admin-panel' }, async (trx) => {
        const id = randomUUID();
        await sql`INSERT INTO business.unregistered_notes (id, body) VALUES (${randomUUID()}, 'x')`.execute(
          trx,
        );
        await sql`INSERT INTO business.users (id, name, email) VALUES (${id}, 'n', 'e')`.execute(trx);
        await sql`DELETE FROM business.users WHERE id = ${id}`.execute(trx);
      }),
    ).rejects.toThrow(ScopeWriteNoCapturedChangesError);
    expect((await q(`SELECT count(*)::int AS n FROM sync.bundle_log`)).rows[0].n).toBe(before.rows[0].n);
    expect((await q(`SELECT count(*)::int AS n FROM business.unregistered_notes`)).rows[0].n).toBe(0);
    const scope = await q(
      `SELECT s.state_code FROM sync.scope_state s JOIN sync.user_state u USING (user_pk) WHERE u.user_id = 'scope-empty'`,
    );
    expect(scope.rows.length === 0 || scope.rows[0].state_code === 0).toBe(true);
  });

  it('applies the collapse rules: update+delete → DELETE, delete+insert → UPDATE, key change → DELETE+INSERT', async () => {
    const a = randomUUID();
    const b = randomUUID();
    const c = randomUUID();
    await scopes.execWrite('scope-collapse', { writerId: 'w' }, async (trx) => {
      for (const id of [a, b, c])
        await sql`INSERT INTO business.users (id, name, email) VALUES (${id}, 'v1', 'e')`.execute(trx);
    });
    const d = randomUUID();
    const res = await scopes.execWrite('scope-collapse', { writerId: 'w' }, async (trx) => {
      await sql`UPDATE business.users SET name = 'v2' WHERE id = ${a} AND _sync_scope_id = 'scope-collapse'`.execute(
        trx,
      );
      await sql`DELETE FROM business.users WHERE id = ${a}`.execute(trx);
      await sql`DELETE FROM business.users WHERE id = ${b}`.execute(trx);
      await sql`INSERT INTO business.users (id, name, email) VALUES (${b}, 'reborn', 'e')`.execute(trx);
      await sql`UPDATE business.users SET id = ${d} WHERE id = ${c}`.execute(trx);
    });
    const rows = await committedBundleRows(t, 'scope-collapse', res.bundle.bundle_seq);
    expect(rows.map((r) => [r.op, r.key.id])).toEqual([
      ['DELETE', a],
      ['UPDATE', b],
      ['DELETE', c],
      ['INSERT', d],
    ]);
    expect(rows[1].payload).toMatchObject({ name: 'reborn' });
    expect(rows[0]).not.toHaveProperty('payload');
    const state = await q(
      `SELECT encode(key_bytes,'hex') AS k, bundle_seq::int AS v, deleted FROM sync.row_state WHERE user_pk = (SELECT user_pk FROM sync.user_state WHERE user_id='scope-collapse') ORDER BY 1`,
    );
    expect(state.rows).toHaveLength(4);
    expect(state.rows.filter((r) => r.deleted)).toHaveLength(2);
    expect(state.rows.every((r) => r.v === 2)).toBe(true);
  });

  it('captures cascaded deletes and rows inside savepoints that survive, not those rolled back', async () => {
    const user = randomUUID();
    const post = randomUUID();
    await scopes.execWrite('scope-cascade', { writerId: 'w' }, async (trx) => {
      await sql`INSERT INTO business.users (id, name, email) VALUES (${user}, 'u', 'e')`.execute(trx);
      await sql`INSERT INTO business.posts (id, title, content, author_id) VALUES (${post}, 't', 'c', ${user})`.execute(
        trx,
      );
      await sql`SAVEPOINT sp`.execute(trx);
      await sql`INSERT INTO business.docs (doc_id, body) VALUES ('ghost', 'x')`.execute(trx);
      await sql`ROLLBACK TO SAVEPOINT sp`.execute(trx);
    });
    const res = await scopes.execWrite('scope-cascade', { writerId: 'w' }, async (trx) => {
      await sql`DELETE FROM business.users WHERE id = ${user}`.execute(trx);
    });
    const rows = await committedBundleRows(t, 'scope-cascade', res.bundle.bundle_seq);
    expect(rows.map((r) => `${r.op} ${r.table}`).sort()).toEqual(['DELETE posts', 'DELETE users']);
    const docs =
      await q(`SELECT count(*)::int AS n FROM sync.row_state WHERE table_id = (SELECT table_id FROM sync.table_catalog WHERE table_name = 'docs')
      AND user_pk = (SELECT user_pk FROM sync.user_state WHERE user_id='scope-cascade')`);
    expect(docs.rows[0].n).toBe(0);
  });

  it('rolls back completely when the callback throws: no bundle, no sequence gap', async () => {
    await insertUser('scope-rollback');
    await expect(
      scopes.execWrite('scope-rollback', { writerId: 'admin-panel' }, async (trx) => {
        await sql`INSERT INTO business.users (id, name, email) VALUES (${randomUUID()}, 'x', 'y')`.execute(
          trx,
        );
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    const next = await insertUser('scope-rollback');
    expect(next.bundle).toMatchObject({ bundle_seq: 2, source_bundle_id: 2 });
    expect(
      (await q(`SELECT count(*)::int AS n FROM business.users WHERE _sync_scope_id = 'scope-rollback'`))
        .rows[0].n,
    ).toBe(2);
  });

  it('rejects writes outside a bundle, cross-scope writes and owner mutation, counting out-of-bundle rejections', async () => {
    const id = (await insertUser('scope-guard')).result;
    const counter = async () =>
      Number(
        (
          await q(
            `SELECT CASE WHEN is_called THEN last_value ELSE 0 END AS n FROM sync.rejected_registered_write_seq`,
          )
        ).rows[0].n,
      );
    const before = await counter();
    await expect(
      q(`INSERT INTO business.users (_sync_scope_id, id, name, email) VALUES ('scope-guard', $1, 'n', 'e')`, [
        randomUUID(),
      ]),
    ).rejects.toThrow('write to registered table business.users requires oversync sync bundle context');
    expect(await counter()).toBe(before + 1);
    await expect(q(`TRUNCATE business.docs`)).rejects.toThrow(
      /TRUNCATE of registered table business.docs is not allowed/,
    );
    const other = scopes.execWrite('scope-intruder', { writerId: 'w' }, async (trx) => {
      await sql`UPDATE business.users SET name = 'pwned' WHERE id = ${id}`.execute(trx);
    });
    await expect(other).rejects.toThrow(RegisteredWriteRejectedError);
    await expect(other).rejects.toThrow(/scope mismatch/);
    await expect(
      scopes.execWrite('scope-intruder', { writerId: 'w' }, async (trx) => {
        await sql`INSERT INTO business.users (_sync_scope_id, id, name, email) VALUES ('scope-guard', ${randomUUID()}, 'n', 'e')`.execute(
          trx,
        );
      }),
    ).rejects.toThrow(/scope mismatch/);
    await expect(
      scopes.execWrite('scope-guard', { writerId: 'w' }, async (trx) => {
        await sql`UPDATE business.users SET _sync_scope_id = 'elsewhere' WHERE id = ${id}`.execute(trx);
      }),
    ).rejects.toThrow(/scope mutation is not allowed/);
  });

  it('validates inputs and refuses nested writes', async () => {
    await expect(scopes.execWrite('  ', { writerId: 'w' }, async () => 1)).rejects.toThrow(/scope_id/);
    await expect(scopes.execWrite('s', { writerId: ' ' }, async () => 1)).rejects.toThrow(/writer_id/);
    await expect(scopes.execWrite('s', { writerId: 'w' }, undefined as never)).rejects.toThrow(/callback/);
    await expect(
      scopes.execWrite('scope-nest', { writerId: 'w' }, async () =>
        scopes.execWrite('scope-nest', { writerId: 'w' }, async () => 1),
      ),
    ).rejects.toThrow(ScopeWriteInvalidError);
  });

  it('fails closed on an INITIALIZING scope and for a retired writer', async () => {
    await q(`INSERT INTO sync.user_state (user_id) VALUES ('scope-init')`);
    await q(`INSERT INTO sync.scope_state (user_pk, state_code, initializer_source_id, initialization_id, lease_expires_at)
      SELECT user_pk, 1, 'device-1', gen_random_uuid(), now() + interval '5 minutes' FROM sync.user_state WHERE user_id = 'scope-init'`);
    await expect(insertUser('scope-init')).rejects.toThrow(ScopeInitializingError);
    await insertUser('scope-retired');
    await q(`UPDATE sync.source_state SET state = 'retired', replaced_by_source_id = 'replacement-writer', retirement_reason = 'source_retired'
      WHERE source_id = 'admin-panel' AND user_pk = (SELECT user_pk FROM sync.user_state WHERE user_id = 'scope-retired')`);
    const err = await insertUser('scope-retired').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SourceRetiredError);
    expect((err as SourceRetiredError).replacedBySourceId).toBe('replacement-writer');
  });

  it('sequences writers per (scope, writer) and keeps bundle_seq gapless under 20 concurrent writes', async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        scopes.execWrite(
          i % 2 ? 'scope-par-a' : 'scope-par-b',
          { writerId: i % 4 < 2 ? 'w1' : 'w2' },
          async (trx) => {
            await sql`INSERT INTO business.docs (doc_id, body) VALUES (${'d' + i}, 'x')`.execute(trx);
          },
        ),
      ),
    );
    for (const scope of ['scope-par-a', 'scope-par-b']) {
      const seqs = await q(
        `SELECT bundle_seq::int AS s, source_id, source_bundle_id::int AS b FROM sync.bundle_log WHERE user_pk = (SELECT user_pk FROM sync.user_state WHERE user_id = $1) ORDER BY 1`,
        [scope],
      );
      expect(seqs.rows.map((r) => r.s)).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
      for (const w of ['w1', 'w2']) {
        const ids = seqs.rows.filter((r) => r.source_id === w).map((r) => r.b);
        expect(ids).toEqual(Array.from({ length: ids.length }, (_, i) => i + 1));
      }
    }
    expect(results).toHaveLength(20);
  });
});

function formatUuid(bytes: Buffer): string {
  const h = bytes.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
