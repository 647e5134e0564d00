import { randomUUID } from 'node:crypto';
import { Injectable, Scope } from '@nestjs/common';
import { computeBundleHash, type BundleRow } from '@oversync/protocol';
import { sql } from 'kysely';
import { execSql } from '../../../../test/support/business-schema.js';
import { committedBundleRows } from '../../../../test/support/bundle-rows.js';
import { createOversyncTestApp, type OversyncTestApp } from '../../../../test/support/oversync-app.js';
import { snapshotRowsOf } from '../../../../test/support/read-builders.js';
import { createTestDatabase, type TestDatabase } from '../../../../test/support/test-database.js';
import { OversyncConfigError, ScopeWriteInvalidError } from '../errors/index.js';
import { ScopeWrite } from '../scope/scope-write.decorator.js';
import { ScopeWriteContext } from '../scope/scope-write.context.js';
import { ScopeManager } from '../scope/scope.manager.js';
import { SyncService } from '../sync.service.js';

/**
 * Edge cases of the capture engine and server-originated writes: net effects of key
 * changes, re-inserts, upserts, MERGE, writable CTEs, COPY and cross-table triggers; savepoints;
 * nesting; concurrency; TOAST-sized values; retention at commit.
 */
const SCHEMA = `
CREATE SCHEMA rc;
CREATE TABLE rc.items (_sync_scope_id text NOT NULL, id text NOT NULL, name text, n integer,
  PRIMARY KEY (_sync_scope_id, id));
CREATE TABLE rc.mirror (_sync_scope_id text NOT NULL, id text NOT NULL, name text,
  PRIMARY KEY (_sync_scope_id, id));
CREATE TABLE rc.tree (_sync_scope_id text NOT NULL, id text NOT NULL, parent_id text,
  PRIMARY KEY (_sync_scope_id, id),
  FOREIGN KEY (_sync_scope_id, parent_id) REFERENCES rc.tree (_sync_scope_id, id) ON UPDATE CASCADE DEFERRABLE INITIALLY IMMEDIATE);
CREATE TABLE rc.accounts (_sync_scope_id text NOT NULL, id text NOT NULL, PRIMARY KEY (_sync_scope_id, id));
CREATE TABLE rc.transfers (_sync_scope_id text NOT NULL, id text NOT NULL, from_id text, to_id text,
  PRIMARY KEY (_sync_scope_id, id),
  FOREIGN KEY (_sync_scope_id, from_id) REFERENCES rc.accounts (_sync_scope_id, id) ON UPDATE CASCADE DEFERRABLE INITIALLY IMMEDIATE,
  FOREIGN KEY (_sync_scope_id, to_id) REFERENCES rc.accounts (_sync_scope_id, id) ON UPDATE CASCADE DEFERRABLE INITIALLY IMMEDIATE);
CREATE TABLE rc.blobs (_sync_scope_id text NOT NULL, id uuid NOT NULL, body text, raw bytea,
  PRIMARY KEY (_sync_scope_id, id));
-- A user trigger on items that rewrites the mirror row by deleting and re-inserting it.
CREATE FUNCTION rc.remirror() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM rc.mirror WHERE _sync_scope_id = NEW._sync_scope_id AND id = NEW.id;
  INSERT INTO rc.mirror (_sync_scope_id, id, name) VALUES (NEW._sync_scope_id, NEW.id, NEW.name);
  RETURN NULL;
END $$;
CREATE TRIGGER items_remirror AFTER INSERT OR UPDATE ON rc.items FOR EACH ROW
  WHEN (NEW.n = 42) EXECUTE FUNCTION rc.remirror();
`;
const TABLES = ['items', 'mirror', 'blobs', 'tree', 'accounts', 'transfers'].map((table) => ({
  schema: 'rc',
  table,
  syncKeyColumns: ['id'],
}));

interface Db {
  'rc.items': { _sync_scope_id?: string; id: string; name: string | null; n: number | null };
}

@Injectable()
class ItemsWriter {
  constructor(private readonly scope: ScopeWriteContext<Db>) {}

  @ScopeWrite('review-writer')
  async add(userId: string, id: string, later?: (p: Promise<unknown>) => void): Promise<string> {
    await this.scope.trx.insertInto('rc.items').values({ id, name: 'x', n: 1 }).execute();
    // Schedules follow-up work (an event handler, a queue job) that runs after this bundle committed.
    if (later) later(new Promise((r) => setTimeout(r, 50)).then(() => this.add(userId, `${id}-later`)));
    return id;
  }
}

/** A request-scoped back-office service (e.g. it injects REQUEST for the acting admin). */
@Injectable({ scope: Scope.REQUEST })
class RequestScopedWriter {
  constructor(private readonly scope: ScopeWriteContext<Db>) {}

  @ScopeWrite('request-writer')
  async add(userId: string, id: string): Promise<string> {
    await this.scope.trx.insertInto('rc.items').values({ id, name: 'req', n: 1 }).execute();
    return `${this.scope.scopeId}:${id}`;
  }
}

const summary = (rows: BundleRow[]): string[] => rows.map((r) => `${r.op} ${r.table}.${r.key.id}`);
const hashOf = (rows: BundleRow[]): string =>
  computeBundleHash(rows.map((r) => ({ ...r, payload: r.payload ?? null })));

describe('capture engine edges (real PostgreSQL)', () => {
  let t: OversyncTestApp;
  let scopes: ScopeManager;
  let sync: SyncService;
  const q = (text: string, values: unknown[] = []) => execSql(t.db.url, text, values);

  const seed = (scope: string, rows: Array<[string, string]>) =>
    scopes.execWrite(scope, { writerId: 'seed' }, async (trx) => {
      for (const [id, name] of rows)
        await sql`INSERT INTO rc.items (id, name, n) VALUES (${id}, ${name}, 1)`.execute(trx);
    });
  const write = (
    scope: string,
    fn: (trx: Parameters<Parameters<ScopeManager['execWrite']>[2]>[0]) => Promise<void>,
  ) => scopes.execWrite(scope, { writerId: 'w' }, fn);
  const bundleOf = async (scope: string, seq: number) => committedBundleRows(t, scope, seq);
  const liveState = async (scope: string) =>
    (
      await q(
        `SELECT c.table_name || '.' || CASE c.sync_key_kind WHEN 1 THEN encode(rs.key_bytes, 'hex') ELSE convert_from(rs.key_bytes, 'UTF8') END
                || CASE WHEN rs.deleted THEN ' (deleted)' ELSE '' END AS k
           FROM sync.row_state rs JOIN sync.user_state u USING (user_pk) JOIN sync.table_catalog c USING (table_id)
          WHERE u.user_id = $1 ORDER BY 1`,
        [scope],
      )
    ).rows.map((r: { k: string }) => r.k);

  /**
   * Settles `work`, or reports 'hung' after `ms` and then frees it: cancels the backend waiting for
   * a scope lock held by the same process, and waits for `work` to unwind.
   */
  const settleOrHang = async (work: Promise<unknown>, ms = 5000): Promise<unknown> => {
    const settled = work.then(
      () => 'committed',
      (e: unknown) => e,
    );
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      settled,
      new Promise((r) => (timer = setTimeout(() => r('hung'), ms))),
    ]);
    clearTimeout(timer);
    if (outcome === 'hung') {
      await q(`SELECT pg_cancel_backend(pid) FROM pg_locks
                WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`);
      await settled;
    }
    return outcome;
  };

  beforeAll(async () => {
    t = await createOversyncTestApp({
      schemaSql: SCHEMA,
      providers: [ItemsWriter],
      options: { registeredTables: TABLES, retention: { retainedBundlesPerUser: 4, pruneBatchSize: 3 } },
    });
    scopes = t.get(ScopeManager);
    sync = t.get(SyncService);
  });
  afterAll(async () => {
    await t.close();
  });

  it('writable CTEs: DELETE … RETURNING re-inserting the same key is an UPDATE; UPDATE … RETURNING moving a key and re-using the old one', async () => {
    await seed('u-cte', [['a', 'old']]);
    const res = await write('u-cte', async (trx) => {
      await sql`WITH d AS (DELETE FROM rc.items WHERE _sync_scope_id = 'u-cte' AND id = 'a' RETURNING id, name)
                INSERT INTO rc.items (id, name, n) SELECT id, name || '-new', 2 FROM d`.execute(trx);
    });
    const rows = await bundleOf('u-cte', res.bundle.bundle_seq);
    expect(summary(rows)).toEqual(['UPDATE items.a']);
    expect(rows[0].payload).toEqual({ id: 'a', name: 'old-new', n: 2 });
    expect(hashOf(rows)).toBe(res.bundle.bundle_hash);
    await seed('u-cte2', [['a', 'A']]);
    const moved = await write('u-cte2', async (trx) => {
      await sql`WITH u AS (UPDATE rc.items SET id = 'b' WHERE _sync_scope_id = 'u-cte2' AND id = 'a' RETURNING id, name)
                INSERT INTO rc.items (id, name, n) SELECT 'a', name || '-copy', 3 FROM u`.execute(trx);
    });
    const movedRows = await bundleOf('u-cte2', moved.bundle.bundle_seq);
    expect(summary(movedRows).sort()).toEqual(['INSERT items.b', 'UPDATE items.a']);
    expect(hashOf(movedRows)).toBe(moved.bundle.bundle_hash);
    expect(await liveState('u-cte2')).toEqual(['items.a', 'items.b']);
  });

  it('upsert: ON CONFLICT DO UPDATE on existing, deleted-then-reinserted and new keys', async () => {
    await seed('u-upsert', [
      ['a', 'A'],
      ['b', 'B'],
    ]);
    const res = await write('u-upsert', async (trx) => {
      await sql`DELETE FROM rc.items WHERE _sync_scope_id = 'u-upsert' AND id = 'b'`.execute(trx);
      await sql`INSERT INTO rc.items (id, name) VALUES ('a', 'A2'), ('b', 'B2'), ('c', 'C2')
                ON CONFLICT (_sync_scope_id, id) DO UPDATE SET name = EXCLUDED.name`.execute(trx);
    });
    const rows = await bundleOf('u-upsert', res.bundle.bundle_seq);
    expect(summary(rows).sort()).toEqual(['INSERT items.c', 'UPDATE items.a', 'UPDATE items.b']);
    expect(hashOf(rows)).toBe(res.bundle.bundle_hash);
  });

  it('MERGE changing the key of a matched row while inserting its old key', async () => {
    await seed('u-merge-key', [['a', 'A']]);
    const res = await write('u-merge-key', async (trx) => {
      await sql`MERGE INTO rc.items t
                USING (VALUES ('a', 'b'), ('zz', 'c')) s(src, dst)
                   ON t._sync_scope_id = 'u-merge-key' AND t.id = s.src
                WHEN MATCHED THEN UPDATE SET id = s.dst
                WHEN NOT MATCHED THEN INSERT (id, name) VALUES (s.dst, 'fresh')`.execute(trx);
    });
    const rows = await bundleOf('u-merge-key', res.bundle.bundle_seq);
    expect(summary(rows).sort()).toEqual(['DELETE items.a', 'INSERT items.b', 'INSERT items.c']);
    expect(hashOf(rows)).toBe(res.bundle.bundle_hash);
  });

  it('COPY FROM is captured like an INSERT', async () => {
    const res = await write('u-copy', async (trx) => {
      await sql
        .raw(`COPY rc.items (id, name, n) FROM PROGRAM 'printf "c1\\tone\\t1\\nc2\\ttwo\\t2\\n"'`)
        .execute(trx);
    });
    const rows = await bundleOf('u-copy', res.bundle.bundle_seq);
    expect(summary(rows)).toEqual(['INSERT items.c1', 'INSERT items.c2']);
    expect(hashOf(rows)).toBe(res.bundle.bundle_hash);
  });

  it('a trigger deleting and re-inserting a row of another registered table yields UPDATE there', async () => {
    await scopes.execWrite('u-mirror', { writerId: 'seed' }, async (trx) => {
      await sql`INSERT INTO rc.items (id, name, n) VALUES ('m', 'one', 42)`.execute(trx);
    });
    const res = await write('u-mirror', async (trx) => {
      await sql`UPDATE rc.items SET name = 'two' WHERE _sync_scope_id = 'u-mirror' AND id = 'm'`.execute(trx);
    });
    const rows = await bundleOf('u-mirror', res.bundle.bundle_seq);
    expect(summary(rows).sort()).toEqual(['UPDATE items.m', 'UPDATE mirror.m']);
    expect(rows.find((r) => r.table === 'mirror')?.payload).toEqual({ id: 'm', name: 'two' });
  });

  it('key change combined with re-use of the old key and a second move in one transaction', async () => {
    await seed('u-keys', [
      ['a', 'A'],
      ['x', 'X'],
    ]);
    const res = await write('u-keys', async (trx) => {
      await sql`UPDATE rc.items SET id = 'b' WHERE _sync_scope_id = 'u-keys' AND id = 'a'`.execute(trx);
      await sql`INSERT INTO rc.items (id, name) VALUES ('a', 'new A')`.execute(trx);
      await sql`UPDATE rc.items SET id = 'y' WHERE _sync_scope_id = 'u-keys' AND id = 'x'`.execute(trx);
      await sql`UPDATE rc.items SET id = 'x' WHERE _sync_scope_id = 'u-keys' AND id = 'y'`.execute(trx);
    });
    const rows = await bundleOf('u-keys', res.bundle.bundle_seq);
    expect(summary(rows).sort()).toEqual(['INSERT items.b', 'UPDATE items.a', 'UPDATE items.x']);
    expect(await liveState('u-keys')).toEqual(['items.a', 'items.b', 'items.x']);
  });

  it('savepoint rolled back after a key change excludes the key change', async () => {
    await seed('u-sp', [['a', 'A']]);
    const res = await write('u-sp', async (trx) => {
      await sql`UPDATE rc.items SET name = 'A1' WHERE _sync_scope_id = 'u-sp' AND id = 'a'`.execute(trx);
      await sql`SAVEPOINT s1`.execute(trx);
      await sql`UPDATE rc.items SET id = 'b' WHERE _sync_scope_id = 'u-sp' AND id = 'a'`.execute(trx);
      await sql`SAVEPOINT s2`.execute(trx);
      await sql`DELETE FROM rc.items WHERE _sync_scope_id = 'u-sp' AND id = 'b'`.execute(trx);
      await sql`RELEASE SAVEPOINT s2`.execute(trx);
      await sql`ROLLBACK TO SAVEPOINT s1`.execute(trx);
    });
    const rows = await bundleOf('u-sp', res.bundle.bundle_seq);
    expect(summary(rows)).toEqual(['UPDATE items.a']);
    expect(rows[0].payload).toMatchObject({ name: 'A1' });
  });

  it('net no-op UPDATE (changed and changed back) is still served as an UPDATE, as go-oversync does', async () => {
    await seed('u-noop', [['a', 'A']]);
    const res = await write('u-noop', async (trx) => {
      await sql`UPDATE rc.items SET name = 'B' WHERE _sync_scope_id = 'u-noop' AND id = 'a'`.execute(trx);
      await sql`UPDATE rc.items SET name = 'A' WHERE _sync_scope_id = 'u-noop' AND id = 'a'`.execute(trx);
    });
    const rows = await bundleOf('u-noop', res.bundle.bundle_seq);
    expect(summary(rows)).toEqual(['UPDATE items.a']);
  });

  it('large TOASTed text and bytea values round-trip with a matching hash', async () => {
    const id = randomUUID();
    const res = await scopes.execWrite('u-toast', { writerId: 'w' }, async (trx) => {
      await sql`INSERT INTO rc.blobs (id, body, raw)
                VALUES (${id}, repeat(E'<&>\\u2028é"\\n', 400000), decode(repeat('00ff10', 1000000), 'hex'))`.execute(
        trx,
      );
    });
    const rows = await bundleOf('u-toast', res.bundle.bundle_seq);
    expect(rows).toHaveLength(1);
    expect((rows[0].payload!.body as string).length).toBe(7 * 400000);
    expect(Buffer.from(rows[0].payload!.raw as string, 'base64').length).toBe(3000000);
    expect(hashOf(rows)).toBe(res.bundle.bundle_hash);
    const snap = await snapshotRowsOf(t, 'u-toast');
    expect(snap).toHaveLength(1);
  });

  it('refuses withinSyncBundle nested in an execWrite of the same scope (it would wait for its own lock)', async () => {
    await seed('u-nest-within', [['a', 'A']]);
    const outcome = await settleOrHang(
      scopes.execWrite('u-nest-within', { writerId: 'w' }, async (trx) => {
        await sql`INSERT INTO rc.items (id, name) VALUES ('outer', 'o')`.execute(trx);
        await sync.withinSyncBundle(
          { userId: 'u-nest-within' },
          { sourceId: 'inner', sourceBundleId: 1 },
          async (inner) => {
            await sql`INSERT INTO rc.items (id, name) VALUES ('inner', 'i')`.execute(inner);
          },
        );
      }),
    );
    expect(outcome).toBeInstanceOf(ScopeWriteInvalidError);
  });

  it('runs a @ScopeWrite call scheduled from inside a scope write after it committed as a bundle of its own', async () => {
    const svc = t.get(ItemsWriter);
    let followUp: Promise<unknown> | undefined;
    await svc.add('u-later', 'first', (p) => {
      followUp = p;
    });
    const outcome = await followUp!.then(
      () => 'ok',
      (e: unknown) => String(e),
    );
    expect(outcome).toBe('ok');
    expect(await liveState('u-later')).toEqual(['items.first', 'items.first-later']);
  });

  it('refuses execWrite nested in a withinSyncBundle callback of the same scope (it would wait for its own lock)', async () => {
    await seed('u-nest-exec', [['a', 'A']]);
    const outcome = await settleOrHang(
      sync.withinSyncBundle(
        { userId: 'u-nest-exec' },
        { sourceId: 'outer', sourceBundleId: 1 },
        async (trx) => {
          await sql`INSERT INTO rc.items (id, name) VALUES ('outer', 'o')`.execute(trx);
          await scopes.execWrite('u-nest-exec', { writerId: 'inner' }, async (inner) => {
            await sql`INSERT INTO rc.items (id, name) VALUES ('inner', 'i')`.execute(inner);
          });
        },
      ),
    );
    expect(outcome).toBeInstanceOf(ScopeWriteInvalidError);
  });

  it('refuses at start-up a @ScopeWrite method on a request-scoped provider (it could not be wrapped)', async () => {
    const database = await createTestDatabase();
    try {
      const error = await createOversyncTestApp({
        database,
        schemaSql: SCHEMA,
        providers: [RequestScopedWriter],
        options: { registeredTables: TABLES },
      }).then(
        async (app) => {
          await app.close();
          return undefined;
        },
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(OversyncConfigError);
      expect((error as Error).message).toMatch(
        /@ScopeWrite on RequestScopedWriter\.add is on a request-scoped/,
      );
    } finally {
      await database.drop();
    }
  });

  it('refuses withinSyncBundle for another scope inside an execWrite callback (it would commit on its own)', async () => {
    await seed('u-x-other', [['o', 'O']]);
    const error = await scopes
      .execWrite('u-x-main', { writerId: 'w' }, async (trx) => {
        await sql`INSERT INTO rc.items (id, name) VALUES ('m', 'M')`.execute(trx);
        await sync.withinSyncBundle(
          { userId: 'u-x-other' },
          { sourceId: 'nested', sourceBundleId: 1 },
          async (other) => {
            await sql`INSERT INTO rc.items (id, name) VALUES ('leak', 'L')`.execute(other);
          },
        );
        throw new Error('outer write fails after the nested one');
      })
      .catch((e: unknown) => e);
    expect(await liveState('u-x-main')).toEqual([]);
    // The outer bundle rolled back; the nested one for another scope must not have committed alone.
    expect(await liveState('u-x-other')).toEqual(['items.o']);
    expect(error).toBeInstanceOf(ScopeWriteInvalidError);
  });

  it('captures a key change that ON UPDATE CASCADE feeds back into the same row (self-reference) as DELETE + INSERT', async () => {
    await scopes.execWrite('u-self', { writerId: 'seed' }, async (trx) => {
      await sql`INSERT INTO rc.tree (id, parent_id) VALUES ('self', NULL)`.execute(trx);
      await sql`UPDATE rc.tree SET parent_id = 'self' WHERE _sync_scope_id = 'u-self' AND id = 'self'`.execute(
        trx,
      );
    });
    // Only statement on the table in this transaction: the ON UPDATE CASCADE rows share the
    // statement's transition tables, where row self2 appears twice (as its intermediate version).
    const res = await scopes
      .execWrite('u-self', { writerId: 'w' }, async (trx) => {
        await sql`UPDATE rc.tree SET id = 'self2' WHERE _sync_scope_id = 'u-self' AND id = 'self'`.execute(
          trx,
        );
      })
      .catch((e: unknown) => e);
    expect(res instanceof Error ? res.message : 'committed').toBe('committed');
    const { bundle } = res as Awaited<ReturnType<ScopeManager['execWrite']>>;
    const rows = await bundleOf('u-self', bundle.bundle_seq);
    expect(summary(rows)).toEqual(['DELETE tree.self', 'INSERT tree.self2']);
    expect(rows[1].payload).toEqual({ id: 'self2', parent_id: 'self2' });
    expect(hashOf(rows)).toBe(bundle.bundle_hash);
    expect(await liveState('u-self')).toEqual(['tree.self (deleted)', 'tree.self2']);
  });

  it("captures the child's new key as an INSERT when a parent and its child are renamed in one statement (self-referencing cascade)", async () => {
    await scopes.execWrite('u-subtree', { writerId: 'seed' }, async (trx) => {
      await sql`INSERT INTO rc.tree (id, parent_id) VALUES ('root', NULL)`.execute(trx);
      await sql`INSERT INTO rc.tree (id, parent_id) VALUES ('kid', 'root')`.execute(trx);
    });
    const res = await write('u-subtree', async (trx) => {
      // A second statement on the table first, so finalisation takes its collapsing path.
      await sql`UPDATE rc.tree SET parent_id = parent_id WHERE _sync_scope_id = 'u-subtree'`.execute(trx);
      await sql`UPDATE rc.tree SET id = id || '-x' WHERE _sync_scope_id = 'u-subtree' AND id IN ('root', 'kid')`.execute(
        trx,
      );
    });
    const rows = await bundleOf('u-subtree', res.bundle.bundle_seq);
    expect(summary(rows).sort()).toEqual([
      'DELETE tree.kid',
      'DELETE tree.root',
      'INSERT tree.kid-x',
      'INSERT tree.root-x',
    ]);
    expect(rows.find((r) => r.key.id === 'kid-x')?.payload).toEqual({ id: 'kid-x', parent_id: 'root-x' });
    expect(await liveState('u-subtree')).toEqual([
      'tree.kid (deleted)',
      'tree.kid-x',
      'tree.root (deleted)',
      'tree.root-x',
    ]);
  });

  it('captures a key change cascading twice into one child row (two FKs to the same parent) as one UPDATE of the child', async () => {
    await scopes.execWrite('u-2fk', { writerId: 'seed' }, async (trx) => {
      await sql`INSERT INTO rc.accounts (id) VALUES ('acc')`.execute(trx);
      await sql`INSERT INTO rc.transfers (id, from_id, to_id) VALUES ('t1', 'acc', 'acc')`.execute(trx);
    });
    // Both cascades land in one transition table of transfers: t1 appears twice on each side.
    const res = await scopes
      .execWrite('u-2fk', { writerId: 'w' }, async (trx) => {
        await sql`UPDATE rc.accounts SET id = 'acc2' WHERE _sync_scope_id = 'u-2fk' AND id = 'acc'`.execute(
          trx,
        );
      })
      .catch((e: unknown) => e);
    expect(res instanceof Error ? res.message : 'committed').toBe('committed');
    const { bundle } = res as Awaited<ReturnType<ScopeManager['execWrite']>>;
    const rows = await bundleOf('u-2fk', bundle.bundle_seq);
    expect(summary(rows).sort()).toEqual([
      'DELETE accounts.acc',
      'INSERT accounts.acc2',
      'UPDATE transfers.t1',
    ]);
    expect(rows.find((r) => r.table === 'transfers')?.payload).toEqual({
      id: 't1',
      from_id: 'acc2',
      to_id: 'acc2',
    });
    expect(hashOf(rows)).toBe(bundle.bundle_hash);
  });

  it('keeps retention exact when many bundles of one scope commit concurrently', async () => {
    await seed('u-ret', [['r0', 'x']]);
    await Promise.all(
      Array.from({ length: 25 }, (_, i) =>
        scopes.execWrite('u-ret', { writerId: `w${i % 3}` }, async (trx) => {
          await sql`INSERT INTO rc.items (id, name) VALUES (${'r' + (i + 1)}, 'x')`.execute(trx);
        }),
      ),
    );
    const st = (
      await q(
        `SELECT next_bundle_seq::int - 1 AS latest, retained_bundle_floor::int AS floor FROM sync.user_state WHERE user_id = 'u-ret'`,
      )
    ).rows[0];
    const kept = (
      await q(
        `SELECT bundle_seq::int AS s FROM sync.bundle_log WHERE user_pk = (SELECT user_pk FROM sync.user_state WHERE user_id = 'u-ret') ORDER BY 1`,
      )
    ).rows.map((r: { s: number }) => r.s);
    expect(st).toEqual({ latest: 26, floor: 22 });
    expect(kept).toEqual([23, 24, 25, 26]);
    const orphanRows = await q(
      `SELECT count(*)::int AS n FROM sync.bundle_rows WHERE user_pk = (SELECT user_pk FROM sync.user_state WHERE user_id = 'u-ret') AND bundle_seq <= 22`,
    );
    expect(orphanRows.rows[0].n).toBe(0);
  });
});

describe('server writes on a database whose default isolation is REPEATABLE READ (real PostgreSQL)', () => {
  let db: TestDatabase;
  let t: OversyncTestApp;
  let scopes: ScopeManager;

  beforeAll(async () => {
    db = await createTestDatabase();
    await execSql(db.url, SCHEMA);
    // A host setting (database, role or pool option); pull and snapshots pick their own level.
    await execSql(
      db.url,
      `ALTER DATABASE "${db.name}" SET default_transaction_isolation = 'repeatable read'`,
    );
    t = await createOversyncTestApp({
      database: db,
      skipSchema: true,
      options: { registeredTables: TABLES },
    });
    scopes = t.get(ScopeManager);
  });
  afterAll(async () => {
    await t.close();
    await db.drop();
  });

  it('lets the second of two concurrent execWrites of one scope wait its turn under a REPEATABLE READ database default', async () => {
    await scopes.execWrite('u-rr', { writerId: 'seed' }, async (trx) => {
      await sql`INSERT INTO rc.items (id, name) VALUES ('seed', 'x')`.execute(trx);
    });
    const first = scopes.execWrite('u-rr', { writerId: 'w' }, async (trx) => {
      await sql`INSERT INTO rc.items (id, name) VALUES ('one', 'x')`.execute(trx);
      await sql`SELECT pg_sleep(0.5)`.execute(trx);
    });
    await new Promise((r) => setTimeout(r, 150));
    const second = scopes.execWrite('u-rr', { writerId: 'w2' }, async (trx) => {
      await sql`INSERT INTO rc.items (id, name) VALUES ('two', 'x')`.execute(trx);
    });
    const [a, b] = await Promise.allSettled([first, second]);
    expect(a.status).toBe('fulfilled');
    expect(b.status === 'rejected' ? String(b.reason) : 'fulfilled').toBe('fulfilled');
    const seqs = await execSql(
      db.url,
      `SELECT bundle_seq::int AS s FROM sync.bundle_log WHERE user_pk = (SELECT user_pk FROM sync.user_state WHERE user_id = 'u-rr') ORDER BY 1`,
    );
    expect(seqs.rows.map((r: { s: number }) => r.s)).toEqual([1, 2, 3]);
  });
});
