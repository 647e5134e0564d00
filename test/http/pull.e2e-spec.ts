import { canonicalJsonString, computeBundleHash, type PullResponse } from '@oversync/protocol';
import { ScopeManager } from '@oversync/nestjs';
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { createOversyncTestApp, type OversyncTestApp } from '../support/oversync-app.js';
import { committedBundleRows } from '../support/bundle-rows.js';
import {
  commitBundles,
  commitUsers,
  initEmptyScope,
  initializingScope,
  q,
  uninitializedScope,
} from '../support/read-builders.js';
import { syncClient, type SyncReply } from '../support/sync-http.js';

describe('GET /sync/pull', () => {
  let t: OversyncTestApp;

  beforeAll(async () => {
    t = await createOversyncTestApp({ listen: true });
  });
  afterAll(async () => t.close());

  const pull = (user: string, query = '') =>
    syncClient(t.baseUrl, user, 'reader')<PullResponse>({ path: `/sync/pull${query}` });

  it('pages by bundle count under a frozen stable ceiling (F1)', async () => {
    const user = 'pull-frozen';
    await commitBundles(t, user, 3, 'writer');
    const first = await pull(user, '?after_bundle_seq=0&max_bundles=1');
    expect(first.status).toBe(200);
    expect(first.headers.get('content-type')).toBe('application/json');
    expect(first.text.endsWith('}\n')).toBe(true);
    expect(first.json.stable_bundle_seq).toBe(3);
    expect(first.json.bundles.map((b) => b.bundle_seq)).toEqual([1]);
    expect(first.json.has_more).toBe(true);
    expect(first.json.bundles[0].rows[0].payload).not.toHaveProperty('_sync_scope_id');

    await commitBundles(t, user, 1, 'writer'); // bundle 4 arrives mid-pull
    const second = await pull(user, '?after_bundle_seq=1&max_bundles=1&target_bundle_seq=3');
    expect(second.json).toMatchObject({ stable_bundle_seq: 3, has_more: true });
    expect(second.json.bundles.map((b) => b.bundle_seq)).toEqual([2]);
    const third = await pull(user, '?after_bundle_seq=2&max_bundles=5&target_bundle_seq=3');
    expect(third.json).toMatchObject({ stable_bundle_seq: 3, has_more: false });
    expect(third.json.bundles.map((b) => b.bundle_seq)).toEqual([3]);
    const fresh = await pull(user);
    expect(fresh.json.stable_bundle_seq).toBe(4);
    expect(fresh.json.bundles.map((b) => b.bundle_seq)).toEqual([1, 2, 3, 4]);
  });

  it('serves complete bundles whose rows, counts and hashes match the committed bundle (F3)', async () => {
    const user = 'pull-contents';
    const ids = [randomUUID(), randomUUID()];
    const { bundle } = await t.get(ScopeManager).execWrite(user, { writerId: 'admin-panel' }, async (trx) => {
      await sql`INSERT INTO business.users (id, name, email) VALUES (${ids[0]}, 'a<b>&c', 'x@y'), (${ids[1]}, 'B', 'b@y')`.execute(
        trx,
      );
      await sql`INSERT INTO business.docs (doc_id, body) VALUES ('doc "1" é😀', 'text key')`.execute(trx);
      await sql`INSERT INTO business.files (id, name, data) VALUES (${randomUUID()}, 'f', '\\x00ff10'::bytea)`.execute(
        trx,
      );
    });
    const del = await t.get(ScopeManager).execWrite(user, { writerId: 'admin-panel' }, async (trx) => {
      await sql`DELETE FROM business.users WHERE _sync_scope_id = ${user} AND id = ${ids[1]}`.execute(trx);
    });
    const res = await pull(user);
    expect(res.status).toBe(200);
    // Go's encoder escapes <, > and & inside payloads too.
    expect(res.text).toContain('a\\u003cb\\u003e\\u0026c');
    const [b1, b2] = res.json.bundles;
    expect(b1).toMatchObject({
      bundle_seq: 1,
      source_id: 'admin-panel',
      source_bundle_id: 1,
      row_count: bundle.row_count,
      bundle_hash: bundle.bundle_hash,
    });
    expect(Object.keys(b1)).toEqual([
      'bundle_seq',
      'source_id',
      'source_bundle_id',
      'row_count',
      'bundle_hash',
      'rows',
    ]);
    expect(b1.rows).toEqual(await committedBundleRows(t, user, 1));
    expect(computeBundleHash(b1.rows.map((r) => ({ ...r, payload: r.payload ?? null })))).toBe(
      b1.bundle_hash,
    );
    expect(b1.rows.find((r) => r.table === 'docs')!.key).toEqual({ doc_id: 'doc "1" é😀' });
    expect(b1.rows.find((r) => r.table === 'files')!.payload!.data).toBe('AP8Q');
    expect(Object.keys(b1.rows[0])).toEqual(['schema', 'table', 'key', 'op', 'row_version', 'payload']);
    // DELETE rows carry no payload key at all.
    expect(b2.rows).toEqual([
      { schema: 'business', table: 'users', key: { id: ids[1] }, op: 'DELETE', row_version: 2 },
    ]);
    expect(res.text).not.toContain('"payload":null');
    expect(b2.bundle_hash).toBe(del.bundle.bundle_hash);
  });

  it('escapes text keys exactly like Go (<>&, control characters, U+2028, backslash)', async () => {
    const user = 'pull-keys';
    const key = 'k<&>\\ "q"\n\t\u0001\u0008\u000c\u2028\u2029é😀';
    await t.get(ScopeManager).execWrite(user, { writerId: 'w' }, async (trx) => {
      await sql`INSERT INTO business.docs (doc_id, body) VALUES (${key}, 'x')`.execute(trx);
    });
    const res = await pull(user);
    expect(res.json.bundles[0].rows[0].key).toEqual({ doc_id: key });
    expect(res.text).toContain(`"key":{"doc_id":${canonicalJsonString(key)}}`);
  });

  it('answers an empty page for an empty scope and when the checkpoint reached stable (F2)', async () => {
    await initEmptyScope(t, 'pull-empty');
    const empty = await pull('pull-empty');
    expect(empty.status).toBe(200);
    expect(empty.text).toBe('{"stable_bundle_seq":0,"bundles":[],"has_more":false}\n');
    await commitBundles(t, 'pull-at', 2);
    expect((await pull('pull-at', '?after_bundle_seq=2')).json).toEqual({
      stable_bundle_seq: 2,
      bundles: [],
      has_more: false,
    });
    expect((await pull('pull-at', '?after_bundle_seq=7')).json).toEqual({
      stable_bundle_seq: 2,
      bundles: [],
      has_more: false,
    });
    expect((await pull('pull-at', '?after_bundle_seq=1&target_bundle_seq=1')).json).toEqual({
      stable_bundle_seq: 1,
      bundles: [],
      has_more: false,
    });
  });

  it('echoes a target beyond the latest bundle without inventing has_more', async () => {
    await commitBundles(t, 'pull-target', 3);
    const res = await pull('pull-target', '?after_bundle_seq=0&max_bundles=5&target_bundle_seq=10');
    expect(res.json.stable_bundle_seq).toBe(10);
    expect(res.json.bundles.map((b) => b.bundle_seq)).toEqual([1, 2, 3]);
    expect(res.json.has_more).toBe(false);
    const capped = await pull('pull-target', '?max_bundles=3');
    expect(capped.json.has_more).toBe(false); // exactly max bundles left: the look-ahead finds none
    const more = await pull('pull-target', '?max_bundles=2');
    expect(more.json).toMatchObject({ stable_bundle_seq: 3, has_more: true });
  });

  it('accepts max_bundles at both ends of 1…5000 and rejects beyond (B5)', async () => {
    await commitBundles(t, 'pull-max', 2);
    expect((await pull('pull-max', '?max_bundles=1')).json.bundles).toHaveLength(1);
    expect((await pull('pull-max', '?max_bundles=5000')).json.bundles).toHaveLength(2);
    for (const bad of ['0', '5001', '-3']) {
      const res = await pull('pull-max', `?max_bundles=${bad}`);
      expect(res.status).toBe(400);
      expect(res.json).toEqual({
        error: 'invalid_request',
        message: 'max_bundles must be between 1 and 5000',
      });
    }
  });

  it.each([
    ['?after_bundle_seq=x', 'after_bundle_seq must be an integer'],
    ['?after_bundle_seq=1.5', 'after_bundle_seq must be an integer'],
    ['?after_bundle_seq=%201', 'after_bundle_seq must be an integer'],
    ['?after_bundle_seq=99999999999999999999', 'after_bundle_seq must be an integer'],
    ['?after_bundle_seq=-1', 'after_bundle_seq must be >= 0'],
    ['?max_bundles=many', 'max_bundles must be an integer'],
    ['?target_bundle_seq=abc', 'target_bundle_seq must be an integer'],
    ['?target_bundle_seq=-1', 'target_bundle_seq must be >= 0'],
    ['?after_bundle_seq=-1&max_bundles=0', 'after_bundle_seq must be >= 0'],
  ])('rejects %s with 400 invalid_request (B5)', async (query, message) => {
    const res = await pull('pull-validation', query);
    expect(res.status).toBe(400);
    expect(res.json).toEqual({ error: 'invalid_request', message });
    // Go's encoder escapes '>' as \u003e; the envelope text matches byte for byte.
    expect(res.text).toBe(
      `${JSON.stringify({ error: 'invalid_request', message }).replace('>', '\\u003e')}\n`,
    );
  });

  it('validates the query before the scope state', async () => {
    const res = await pull('pull-nobody', '?after_bundle_seq=x');
    expect(res.status).toBe(400);
    expect(res.json).toEqual({ error: 'invalid_request', message: 'after_bundle_seq must be an integer' });
  });

  it('requires an INITIALIZED scope: 409 scope_uninitialized / scope_initializing', async () => {
    const expectError = (res: SyncReply<PullResponse>, status: number, error: string) => {
      expect(res.status).toBe(status);
      expect((res.json as unknown as { error: string }).error).toBe(error);
    };
    expectError(await pull('pull-unknown-user'), 409, 'scope_uninitialized');
    await uninitializedScope(t, 'pull-uninit');
    expectError(await pull('pull-uninit'), 409, 'scope_uninitialized');
    await initializingScope(t, 'pull-initializing');
    expectError(await pull('pull-initializing'), 409, 'scope_initializing');
    // A lapsed lease reads as uninitialized (read paths never reset it themselves).
    await initializingScope(t, 'pull-lapsed', true);
    expectError(await pull('pull-lapsed'), 409, 'scope_uninitialized');
    const state = await q(
      t,
      `SELECT s.state_code FROM sync.scope_state s JOIN sync.user_state u USING (user_pk) WHERE u.user_id = 'pull-lapsed'`,
    );
    expect(state.rows[0].state_code).toBe(1);
  });

  it('answers 500 pull_failed on an unexpected database error, without internals', async () => {
    await commitBundles(t, 'pull-broken', 1);
    await q(t, `ALTER TABLE sync.bundle_rows RENAME TO bundle_rows_moved`);
    try {
      const res = await pull('pull-broken');
      expect(res.status).toBe(500);
      expect((res.json as unknown as { error: string }).error).toBe('pull_failed');
      expect(res.text).not.toContain('bundle_rows');
    } finally {
      await q(t, `ALTER TABLE sync.bundle_rows_moved RENAME TO bundle_rows`);
    }
    expect((await pull('pull-broken')).status).toBe(200);
  });

  it('isolates scopes: another user never sees these bundles (F4)', async () => {
    await initEmptyScope(t, 'pull-iso-b');
    await commitBundles(t, 'pull-iso-a', 2);
    const b = await pull('pull-iso-b');
    expect(b.json).toEqual({ stable_bundle_seq: 0, bundles: [], has_more: false });
  });

  it('never shows part of a bundle while a large commit is in flight', async () => {
    const user = 'pull-concurrent';
    await commitBundles(t, user, 1);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const big = t.get(ScopeManager).execWrite(user, { writerId: 'bulk' }, async (trx) => {
      await sql`INSERT INTO business.users (id, name, email)
                SELECT gen_random_uuid(), 'bulk-' || g, 'b' || g || '@x' FROM generate_series(1, 3000) g`.execute(
        trx,
      );
      await gate;
    });
    const during: PullResponse[] = [];
    for (let i = 0; i < 5; i++) during.push((await pull(user)).json);
    release();
    const { bundle } = await big;
    const after = (await pull(user)).json;
    for (const page of during) {
      expect(page.stable_bundle_seq).toBe(1);
      expect(page.bundles.map((b) => b.bundle_seq)).toEqual([1]);
    }
    expect(after.stable_bundle_seq).toBe(2);
    const pulled = after.bundles[1];
    expect(pulled.rows).toHaveLength(3000);
    expect(pulled.row_count).toBe(3000);
    expect(pulled.bundle_hash).toBe(bundle.bundle_hash);
  });

  it('pages a multi-row history with max_bundles clamps, gap-free and strictly increasing', async () => {
    const user = 'pull-walk';
    // More than 9 bundles and 9 rows, so text ordering of sequences or ordinals would show.
    for (let i = 0; i < 12; i++) await commitUsers(t, user, (i % 3) * 5 + 1);
    const seen: number[] = [];
    let after = 0;
    let target = 0;
    for (;;) {
      const res = await pull(
        user,
        `?after_bundle_seq=${after}&max_bundles=3${target ? `&target_bundle_seq=${target}` : ''}`,
      );
      if (!target) target = res.json.stable_bundle_seq;
      expect(res.json.stable_bundle_seq).toBe(target);
      for (const b of res.json.bundles) {
        expect(b.rows).toHaveLength(b.row_count!);
        expect(b.rows.every((r) => r.row_version === b.bundle_seq)).toBe(true);
        seen.push(b.bundle_seq);
      }
      if (res.json.has_more) expect(res.json.bundles.length).toBe(3);
      if (!res.json.has_more) break;
      after = res.json.bundles.at(-1)!.bundle_seq;
    }
    expect(seen).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  });
});
