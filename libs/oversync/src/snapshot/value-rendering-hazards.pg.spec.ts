import { canonicalJson } from '@oversync/protocol';
import { sql } from 'kysely';
import { execSql } from '../../../../test/support/business-schema.js';
import { createOversyncTestApp, type OversyncTestApp } from '../../../../test/support/oversync-app.js';
import { snapshotTextOf, type SnapshotRowJson } from '../../../../test/support/read-builders.js';
import { renderSettingsSql } from '../capture/render-settings.js';
import { toWirePayloadObject } from '../capture/wire-payload.util.js';
import { CommittedBundleRowsService } from '../push/committed-bundle-rows.service.js';
import { PullService } from '../pull/pull.service.js';
import { OversyncRuntime } from '../runtime/oversync-runtime.service.js';
import { ScopeManager } from '../scope/scope.manager.js';

/**
 * Values that must reach devices alike whichever path delivered the row: a bundle payload (pull)
 * and a snapshot row carry the same JSON text, and both equal the protocol canonicaliser's
 * rendering of the row (`row_to_json` read by JSON.parse), or the write is refused when the
 * canonicaliser cannot render it.
 *
 * The database default time zone is Europe/Berlin (a host's database, role or pool setting), which
 * the render settings pin away for payloads.
 */
const SCHEMA = `
CREATE SCHEMA h;
CREATE DOMAIN h.bytes AS bytea;
CREATE TYPE h.mood AS ENUM ('ok', 'sad <3');
CREATE TYPE h.point AS (x double precision, label text, extra jsonb);
CREATE TABLE h.items (_sync_scope_id text NOT NULL, id text NOT NULL, name text, at timestamptz, n numeric,
  doc jsonb, j json, span tstzrange, days daterange, raw1 h.bytes, fa double precision[], pt h.point,
  mood h.mood, na numeric[], PRIMARY KEY (_sync_scope_id, id));
`;

describe('values that must render alike in bundles and snapshots (real PostgreSQL)', () => {
  let t: OversyncTestApp;
  let scopes: ScopeManager;
  const q = (text: string, values: unknown[] = []) => execSql(t.db.url, text, values);

  const snapshotText = (scope: string) => snapshotTextOf(t, scope);

  /** The stored payload text of each row of a scope's only bundle, by key, and the pull page text. */
  const pulled = async (scope: string): Promise<{ payloads: Map<string, string>; text: string }> => {
    const page = await t.get(CommittedBundleRowsService).readPage(scope, {
      bundleSeq: 1,
      afterRowOrdinal: null,
      maxRows: 1000,
    });
    const payloads = new Map(page.rows.map((r) => [r.key.id, r.payloadWire ?? '']));
    const text = await t
      .get(PullService)
      .pullJson(scope, { afterBundleSeq: 0, maxBundles: 10, targetBundleSeq: 0 });
    return { payloads, text };
  };

  /** Writes `rows` (SQL value lists after the id) to a new scope and returns what pull and a snapshot serve. */
  const writeAndServe = async (scope: string, columns: string, rows: Record<string, string>) => {
    await scopes.execWrite(scope, { writerId: 'w' }, async (trx) => {
      for (const [id, values] of Object.entries(rows)) {
        await sql.raw(`INSERT INTO h.items (id, ${columns}) VALUES ('${id}', ${values})`).execute(trx);
      }
    });
    const pull = await pulled(scope);
    const snapshot = await snapshotText(scope);
    const snapshotRows = (JSON.parse(snapshot) as { rows: SnapshotRowJson[] }).rows;
    return { ...pull, snapshot, snapshotRows };
  };

  beforeAll(async () => {
    t = await createOversyncTestApp({
      schemaSql: SCHEMA,
      timeZone: 'Europe/Berlin',
      options: { registeredTables: [{ schema: 'h', table: 'items', syncKeyColumns: ['id'] }] },
    });
    scopes = t.get(ScopeManager);
  });
  afterAll(async () => {
    await t.close();
    await t.db.drop();
  });

  it('renders numbers below float64 subnormals as 0 / -0 (as JSON.parse and Go read them), in bundles and snapshots alike', async () => {
    const served = await writeAndServe('u-underflow', 'n, doc, j, na', {
      z1: `1e-400, '{"x": 1e-400, "y": -1e-400}', '[1e-400, -1e-400, 2e-324, 3e-324, -0.0e-99999]', '{1e-400,-1e-400}'`,
      z2: `-1e-400, NULL, NULL, NULL`,
    });
    expect(served.payloads.get('z1')).toBe(
      '{"at":null,"days":null,"doc":{"x":0,"y":-0},"fa":null,"id":"z1","j":[0,-0,0,5e-324,-0],"mood":null,' +
        '"n":0,"na":[0,-0],"name":null,"pt":null,"raw1":null,"span":null}',
    );
    expect(served.payloads.get('z2')).toContain('"n":-0');
    for (const payload of served.payloads.values()) {
      expect(served.text).toContain(`"payload":${payload}}`);
      expect(served.snapshot).toContain(`"payload":${payload}}`);
    }
  });

  it('refuses numbers beyond float64 range at finalisation with a typed error naming the value, table and column', async () => {
    const attempt = (values: string) =>
      scopes.execWrite('u-overflow', { writerId: 'w' }, async (trx) => {
        await sql.raw(`INSERT INTO h.items (id, n, doc, j) VALUES ('o1', ${values})`).execute(trx);
      });
    const refused = (value: string, column: string) =>
      `the bundle holds a value the wire cannot carry: numeric value ${value} in column "h.items.${column}" is beyond the float64 range of JSON numbers; nothing was written`;
    await expect(attempt(`1e400, NULL, NULL`)).rejects.toMatchObject({
      code: 'oversync_scope_write_invalid',
      details: { sqlstate: '22003' },
      message: expect.stringContaining(refused('1e+400', 'n')) as unknown,
    });
    await expect(attempt(`-1e400, NULL, NULL`)).rejects.toThrow(refused('-1e+400', 'n'));
    await expect(attempt(`NULL, '{"a": [1, 1e308, 2e308]}', NULL`)).rejects.toThrow(refused('2e+308', 'doc'));
    await expect(attempt(`NULL, NULL, '{"a": 1.8e308}'`)).rejects.toThrow(refused('1.8e308', 'j'));
    // The largest double itself is fine; the write was rolled back each time before.
    expect(
      (await q(`SELECT count(*)::int AS n FROM h.items WHERE _sync_scope_id = 'u-overflow'`)).rows,
    ).toEqual([{ n: 0 }]);
    const res = await attempt(`1.7976931348623157e308, NULL, NULL`);
    expect(res.bundle.row_count).toBe(1);
  });

  it('serves nested JSON of json and jsonb columns with sorted keys from a snapshot, as pull does', async () => {
    const served = await writeAndServe('u-json-order', 'doc, j', {
      d1: `'{"b": 1, "aa": {"z": 1, "y": [1.50, {"d": 0, "c": 1}]}}', '{"b": 1, "a": 2, "b": 3}'`,
    });
    const [snap] = served.snapshotRows;
    // The client stores json columns as JSON.stringify(value) (row-codec scalarToSql), so the text
    // devices hold depends on the order in which keys arrive.
    expect(JSON.stringify(snap.payload.doc)).toBe('{"aa":{"y":[1.5,{"c":1,"d":0}],"z":1},"b":1}');
    expect(JSON.stringify(snap.payload.j)).toBe('{"a":2,"b":3}');
    const payload = served.payloads.get('d1')!;
    expect(served.snapshot).toContain(`"payload":${payload}}`);
    expect(served.text).toContain(`"payload":${payload}}`);
  });

  it('serves every column type as the same JSON text from a snapshot as from pull, -0 in arrays and composites kept', async () => {
    const served = await writeAndServe('u-types', 'name, at, n, doc, j, span, days, raw1, fa, pt, mood, na', {
      t1: `'a<b>&c "q" é', '2026-03-29 01:30:00+00', 1.50, '{"k": [-0, 1e-7]}', '[-0, 12.50]',
           '[2026-03-29 00:00:00+00,2026-03-30 00:00:00+00)', '[2026-01-01,2026-02-01)', '\\x00ff10',
           '{-0,1.5,NaN,-Infinity}', ROW('-0'::float8, 'x>y', '{"b": 1, "a": -0}'), 'sad <3', '{0.10,NULL}'`,
      t2: `NULL, NULL, 123456789.123456789, 'null', 'null', 'empty', NULL, '\\x', '{}', ROW(NULL, NULL, NULL), 'ok', '{}'`,
    });
    const runtime = t.get(OversyncRuntime);
    const image = await runtime.db.transaction().execute(async (trx) => {
      await sql`SELECT ${sql.raw(renderSettingsSql())}`.execute(trx);
      const { rows } = await sql<{ id: string; image: string }>`
        SELECT id, row_to_json(i)::text AS image FROM h.items i WHERE _sync_scope_id = 'u-types' ORDER BY id`.execute(
        trx,
      );
      return rows;
    });
    expect(image).toHaveLength(2);
    const table = runtime.catalog.byName('h', 'items')!;
    for (const { id, image: text } of image) {
      // The reference: the protocol canonicaliser over row_to_json as JSON.parse reads it (bytea as
      // base64, the scope column left out).
      const payload = served.payloads.get(id)!;
      expect(payload).toBe(canonicalJson(toWirePayloadObject(table, text)));
      expect(served.text).toContain(`"payload":${payload}}`);
      expect(served.snapshot).toContain(`"payload":${payload}}`);
    }
    const t1 = served.payloads.get('t1')!;
    expect(t1).toContain('"fa":[-0,1.5,"NaN","-Infinity"]');
    expect(t1).toContain('"pt":{"extra":{"a":0,"b":1},"label":"x\\u003ey","x":-0}');
    expect(t1).toContain('"at":"2026-03-29T01:30:00+00:00"');
  });
});
