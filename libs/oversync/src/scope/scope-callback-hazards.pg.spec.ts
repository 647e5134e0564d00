import { computeBundleHash, type BundleRow } from '@oversync/protocol';
import { sql } from 'kysely';
import { execSql } from '../../../../test/support/business-schema.js';
import { committedBundleRows } from '../../../../test/support/bundle-rows.js';
import { createOversyncTestApp, type OversyncTestApp } from '../../../../test/support/oversync-app.js';
import { snapshotRowsOf } from '../../../../test/support/read-builders.js';
import { RegisteredWriteRejectedError, ScopeWriteTransactionBrokenError } from '../errors/index.js';
import { OversyncRuntime } from '../runtime/oversync-runtime.service.js';
import { ScopeManager } from './scope.manager.js';

/**
 * Adversarial review of what a host can do around `ScopeManager.execWrite` (inside its callback, in
 * its session or pool configuration, or with ordinary PostgreSQL features) that makes Oversync
 * store or serve wrong, inconsistent or uncaptured data, or fail with an unclear error.
 *
 * The database default time zone is Europe/Berlin (a host's database, role or pool setting), which
 * the render settings pin away for payloads.
 */
const SCHEMA = `
CREATE SCHEMA h;
CREATE DOMAIN h.bytes AS bytea;
CREATE DOMAIN h.bytes2 AS h.bytes;
CREATE TABLE h.items (_sync_scope_id text NOT NULL, id text NOT NULL, name text, at timestamptz, n numeric,
  doc jsonb, j json, span tstzrange, days daterange, raw1 h.bytes, raw2 h.bytes2,
  PRIMARY KEY (_sync_scope_id, id));
-- A host helper schema with an ordinary-looking function name.
CREATE SCHEMA hostfns;
CREATE FUNCTION hostfns.to_json(text) RETURNS json LANGUAGE sql IMMUTABLE AS $$ SELECT pg_catalog.to_json(upper($1)) $$;
-- A host's deferred trigger, which runs at COMMIT (after finalisation), logging its environment.
CREATE TABLE h.commit_log (id text, tz text, date_style text, float_digits text);
CREATE FUNCTION h.log_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO h.commit_log VALUES (NEW.id, current_setting('TimeZone'), current_setting('DateStyle'),
                                   current_setting('extra_float_digits'));
  RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER items_log_commit AFTER INSERT ON h.items DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW WHEN (NEW.name = 'log at commit') EXECUTE FUNCTION h.log_commit();
`;

const TABLES = ['items'].map((table) => ({
  schema: 'h',
  table,
  syncKeyColumns: ['id'],
}));

interface PgInterval {
  days?: number;
  hours?: number;
}

const summary = (rows: BundleRow[]): string[] => rows.map((r) => `${r.op} ${r.table}.${r.key.id}`);
const hashOf = (rows: BundleRow[]): string =>
  computeBundleHash(rows.map((r) => ({ ...r, payload: r.payload ?? null })));

describe('scope write callback hazards (real PostgreSQL)', () => {
  let t: OversyncTestApp;
  let scopes: ScopeManager;
  const q = (text: string, values: unknown[] = []) => execSql(t.db.url, text, values);

  const snapshotRows = (scope: string) => snapshotRowsOf(t, scope);

  const liveKeys = async (scope: string, table: string): Promise<string[]> =>
    (
      await q(
        `SELECT convert_from(rs.key_bytes, 'UTF8') AS k FROM sync.row_state rs
           JOIN sync.user_state u USING (user_pk) JOIN sync.table_catalog c USING (table_id)
          WHERE u.user_id = $1 AND c.table_name = $2 AND NOT rs.deleted ORDER BY 1`,
        [scope, table],
      )
    ).rows.map((r: { k: string }) => r.k);

  beforeAll(async () => {
    t = await createOversyncTestApp({
      schemaSql: SCHEMA,
      timeZone: 'Europe/Berlin',
      options: { registeredTables: TABLES },
    });
    scopes = t.get(ScopeManager);
  });
  afterAll(async () => {
    await t.close();
    await t.db.drop();
  });

  it('renders range payloads alike in bundle and snapshot when a callback changed DateStyle', async () => {
    const write = (scope: string, settings: string[]) =>
      scopes.execWrite(scope, { writerId: 'w' }, async (trx) => {
        for (const setting of settings) await sql.raw(setting).execute(trx);
        await sql`INSERT INTO h.items (id, span, days)
                  VALUES ('r1', tstzrange('2026-01-02 03:04:05+00', '2026-02-01 00:00:00+00'),
                          daterange('2026-01-02', '2026-02-01'))`.execute(trx);
      });
    const plain = await write('u-datestyle-plain', []);
    const changed = await write('u-datestyle-changed', ["SET LOCAL DateStyle = 'SQL, DMY'"]);
    const [a] = await committedBundleRows(t, 'u-datestyle-plain', plain.bundle.bundle_seq);
    const [b] = await committedBundleRows(t, 'u-datestyle-changed', changed.bundle.bundle_seq);
    const [snap] = await snapshotRows('u-datestyle-changed');
    expect(a.payload).toMatchObject({
      span: '["2026-01-02 03:04:05+00","2026-02-01 00:00:00+00")',
      days: '[2026-01-02,2026-02-01)',
    });
    expect({ bundle: b.payload, snapshot: snap.payload }).toEqual({ bundle: a.payload, snapshot: a.payload });
  });
  it("runs the callback under the host session's own TimeZone and IntervalStyle", async () => {
    const probe = `SELECT current_setting('TimeZone') AS tz, '2026-06-01 12:00'::timestamptz AS at, interval '1 day 2 hours' AS iv`;
    const view = (r: { tz: string; at: Date; iv: PgInterval }) => ({
      tz: r.tz,
      at: r.at.toISOString(),
      iv: { days: r.iv.days ?? 0, hours: r.iv.hours ?? 0 },
    });
    const outside = view((await q(probe)).rows[0]);
    expect(outside).toEqual({
      tz: 'Europe/Berlin',
      at: '2026-06-01T10:00:00.000Z',
      iv: { days: 1, hours: 2 },
    });
    let inside: ReturnType<typeof view> | undefined;
    await scopes.execWrite('u-env', { writerId: 'w' }, async (trx) => {
      const { rows } = await sql<{ tz: string; at: Date; iv: PgInterval }>`${sql.raw(probe)}`.execute(trx);
      inside = view(rows[0]);
      // The host's own literal, meant in its session zone.
      await sql`INSERT INTO h.items (id, at) VALUES ('e1', '2026-06-01 12:00')`.execute(trx);
    });
    const stored = (await q(`SELECT at FROM h.items WHERE _sync_scope_id = 'u-env'`)).rows[0].at as Date;
    // The render settings used to be pinned before the callback: tz UTC, the literal stored 2 h
    // off, and pg's interval parser read ISO 'P1DT2H' as empty.
    expect({ inside, stored: stored.toISOString() }).toEqual({ inside: outside, stored: outside.at });
  });
  it("gives the host's deferred triggers (run at COMMIT, after finalisation) the host's own settings back", async () => {
    await scopes.execWrite('u-deferred', { writerId: 'w' }, async (trx) => {
      await sql`SET LOCAL DateStyle = 'SQL, DMY'`.execute(trx);
      await sql`INSERT INTO h.items (id, name) VALUES ('d1', 'log at commit')`.execute(trx);
    });
    // Finalisation pins TimeZone UTC, DateStyle ISO and extra_float_digits 1 for its own statement.
    expect((await q(`SELECT id, tz, date_style, float_digits FROM h.commit_log`)).rows).toEqual([
      { id: 'd1', tz: 'Europe/Berlin', date_style: 'SQL, DMY', float_digits: '1' },
    ]);
  });

  it('reports a callback that ended the transaction itself, naming what happened to its writes', async () => {
    const committed = await scopes
      .execWrite('u-commit', { writerId: 'w' }, async (trx) => {
        await sql`INSERT INTO h.items (id, name) VALUES ('c1', 'orphan')`.execute(trx);
        await sql`COMMIT`.execute(trx);
      })
      .catch((e: unknown) => e);
    expect(committed).toBeInstanceOf(ScopeWriteTransactionBrokenError);
    expect(committed).toMatchObject({ details: { reason: 'ended' } });
    expect((committed as Error).message).toMatch(/committed without a bundle/);
    // PostgreSQL cannot refuse the host's own COMMIT: the row is there, with no bundle.
    expect((await q(`SELECT id FROM h.items WHERE _sync_scope_id = 'u-commit'`)).rows).toEqual([
      { id: 'c1' },
    ]);
    expect(await liveKeys('u-commit', 'items')).toEqual([]);

    // A ROLLBACK in the first bundle of a connection also drops the capture stage it created.
    const rolledBack = await Promise.all(
      [1, 2].map((n) =>
        scopes
          .execWrite(`u-rollback-${n}`, { writerId: 'w' }, async (trx) => {
            await sql`INSERT INTO h.items (id) VALUES ('r1')`.execute(trx);
            await sql`ROLLBACK`.execute(trx);
          })
          .catch((e: unknown) => e),
      ),
    );
    for (const error of rolledBack) expect(error).toBeInstanceOf(ScopeWriteTransactionBrokenError);
    expect(
      (await q(`SELECT count(*)::int AS n FROM h.items WHERE _sync_scope_id LIKE 'u-rollback-%'`)).rows[0].n,
    ).toBe(0);
  });

  it('renders payloads with the built-ins when the host has a to_json(text) on its search_path', async () => {
    const res = await scopes.execWrite('u-search-path', { writerId: 'w' }, async (trx) => {
      await sql`SET LOCAL search_path = hostfns, public`.execute(trx);
      await sql`INSERT INTO h.items (id, name) VALUES ('k1', 'Mixed Case')`.execute(trx);
    });
    const rows = await committedBundleRows(t, 'u-search-path', res.bundle.bundle_seq);
    expect({ name: rows[0].payload?.name, hash: hashOf(rows) }).toEqual({
      name: 'Mixed Case',
      hash: res.bundle.bundle_hash,
    });
  });
  it('explains the failure when a callback swallowed a rejected write and carried on', async () => {
    const error = await scopes
      .execWrite('u-swallow', { writerId: 'w' }, async (trx) => {
        await sql`INSERT INTO h.items (id) VALUES ('mine')`.execute(trx);
        try {
          await sql`INSERT INTO h.items (_sync_scope_id, id) VALUES ('someone-else', 'theirs')`.execute(trx);
        } catch {
          // A host that logs and carries on.
        }
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ScopeWriteTransactionBrokenError);
    expect(error).toMatchObject({ details: { reason: 'aborted', scope_id: 'u-swallow' } });
    expect((error as Error).message).toMatch(/SAVEPOINT/);
  });
  it('keeps savepoint rollbacks, views and MERGE consistent with capture (pinned)', async () => {
    await q(`CREATE VIEW h.items_view AS SELECT * FROM h.items`);
    await scopes.execWrite('u-merge', { writerId: 'w' }, async (trx) => {
      await sql`INSERT INTO h.items (id, name) VALUES ('m1', 'a'), ('m2', 'a')`.execute(trx);
    });
    const res = await scopes.execWrite('u-merge', { writerId: 'w' }, async (trx) => {
      await sql`UPDATE h.items SET name = 'b' WHERE _sync_scope_id = 'u-merge' AND id = 'm1'`.execute(trx);
      // Rolled back: the repeat flag this statement set must roll back with its stage rows.
      await sql`SAVEPOINT sp`.execute(trx);
      await sql`UPDATE h.items SET name = 'lost' WHERE _sync_scope_id = 'u-merge'`.execute(trx);
      await sql`INSERT INTO h.items (id, name) VALUES ('lost', 'x')`.execute(trx);
      await sql`ROLLBACK TO SAVEPOINT sp`.execute(trx);
      await sql`MERGE INTO h.items t USING (VALUES ('m2', 'c'), ('m3', 'new')) s(id, name)
                  ON t._sync_scope_id = 'u-merge' AND t.id = s.id
                WHEN MATCHED THEN UPDATE SET name = s.name
                WHEN NOT MATCHED THEN INSERT (id, name) VALUES (s.id, s.name)`.execute(trx);
      await sql`INSERT INTO h.items_view (_sync_scope_id, id, name) VALUES ('u-merge', 'v1', 'via view')`.execute(
        trx,
      );
      await sql`MERGE INTO h.items t USING (VALUES ('m1')) s(id) ON t._sync_scope_id = 'u-merge' AND t.id = s.id
                WHEN MATCHED THEN DELETE`.execute(trx);
    });
    const rows = await committedBundleRows(t, 'u-merge', res.bundle.bundle_seq);
    expect(summary(rows).sort()).toEqual([
      'DELETE items.m1',
      'INSERT items.m3',
      'INSERT items.v1',
      'UPDATE items.m2',
    ]);
    expect(rows.find((r) => r.key.id === 'm2')?.payload).toMatchObject({ name: 'c' });
    expect(hashOf(rows)).toBe(res.bundle.bundle_hash);
    expect(await liveKeys('u-merge', 'items')).toEqual(['m2', 'm3', 'v1']);
  });
  it('refuses a write through another connection inside the callback with a clear error (pinned)', async () => {
    const error = await scopes
      .execWrite('u-other-conn', { writerId: 'w' }, async (trx) => {
        await sql`INSERT INTO h.items (id) VALUES ('own')`.execute(trx);
        await q(`INSERT INTO h.items (_sync_scope_id, id) VALUES ('u-other-conn', 'elsewhere')`);
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RegisteredWriteRejectedError);
    expect((error as Error).message).toMatch(/requires oversync sync bundle context/);
    expect(
      (await q(`SELECT count(*)::int AS n FROM h.items WHERE _sync_scope_id = 'u-other-conn'`)).rows[0].n,
    ).toBe(0);
  });
  it('leaves no session state of a scope write on the pooled connection (pinned)', async () => {
    const db = t.get(OversyncRuntime).db;
    const probe = sql<Record<string, string>>`
      SELECT pg_backend_pid()::text AS pid, current_setting('TimeZone') AS tz, current_setting('DateStyle') AS ds,
             current_setting('IntervalStyle') AS ivs, current_setting('extra_float_digits') AS efd,
             current_setting('bytea_output') AS bo, current_setting('work_mem') AS wm, current_setting('jit') AS jit,
             current_setting('enable_bitmapscan') AS bs, current_setting('session_replication_role') AS srr,
             COALESCE(current_setting('oversync.bundle_user_id', true), '') AS ctx,
             (SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'advisory')::text AS locks`;
    const { pid: _before, ...before } = (await probe.execute(db)).rows[0];
    let pid = '';
    await scopes.execWrite('u-pool', { writerId: 'w' }, async (trx) => {
      pid = (await sql<{ pid: string }>`SELECT pg_backend_pid()::text AS pid`.execute(trx)).rows[0].pid;
      await sql`SET LOCAL DateStyle = 'SQL, DMY'`.execute(trx);
      await sql`SET LOCAL extra_float_digits = 0`.execute(trx);
      await sql`SET LOCAL TimeZone = 'Asia/Tokyo'`.execute(trx);
      await sql`INSERT INTO h.items (id) VALUES ('p1')`.execute(trx);
    });
    const { pid: same, ...after } = (await probe.execute(db)).rows[0];
    expect(same).toBe(pid);
    expect(after).toEqual(before);
  });
});
