import { randomUUID } from 'node:crypto';
import { canonicalJson, canonicalJsonNumber, canonicalJsonString, type JsonValue } from '@oversync/protocol';
import fc from 'fast-check';
import { sql, type Kysely } from 'kysely';
import { createTestDatabase, type TestDatabase } from '../../../../test/support/test-database.js';
import { createTestKysely } from '../../../../test/support/test-kysely.js';
import { CANONICAL_JSON_FUNCTIONS_DDL } from '../schema/canonical-json-functions.ddl.js';
import { payloadSql } from './payload-sql.js';
import { readTableColumns } from './table-columns.js';
import { toWirePayloadObject } from './wire-payload.util.js';
import type { CatalogTable } from '../schema/table-catalog.js';

/**
 * Finalisation renders canonical JSON in SQL; the hash clients verify is defined by the Node
 * canonicaliser (byte-identical to go-oversync). These properties pin the two to each other.
 */
describe('SQL canonical JSON (real PostgreSQL) equals the protocol canonicaliser', () => {
  let database: TestDatabase;
  let db: Kysely<unknown>;

  // Every query runs with the settings sync.lock_scope pins for finalisation.
  async function one<T>(query: ReturnType<typeof sql<{ v: T }>>): Promise<T> {
    return db.transaction().execute(async (trx) => {
      await sql`SELECT set_config('extra_float_digits', '1', true), set_config('TimeZone', 'UTC', true),
                       set_config('IntervalStyle', 'iso_8601', true)`.execute(trx);
      return (await query.execute(trx)).rows[0].v;
    });
  }

  beforeAll(async () => {
    database = await createTestDatabase('canonical_sql');
    db = createTestKysely(database.url);
    await sql.raw(`CREATE SCHEMA sync; ${CANONICAL_JSON_FUNCTIONS_DDL}`).execute(db);
  });
  afterAll(async () => {
    await db.destroy();
    await database.drop();
  });

  it('renders every float64 like Go and ECMAScript', async () => {
    // Includes values whose shortest digits PostgreSQL and ECMAScript disagree on when taken
    // naively (ties at the ends of the rounding interval, e.g. -23209599515200750).
    const edges = [
      0,
      -0,
      1,
      -1,
      1.5,
      0.1,
      0.1 + 0.2,
      1e21,
      1e-7,
      1e-6,
      123456789012345680000,
      1e15,
      1e16,
      5e-324,
      1.7976931348623157e308,
      2 ** 53 + 2,
      -1.25e-10,
      -23209599515200750,
      9007199254740993,
    ];
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.double({ noNaN: true, noDefaultInfinity: true }),
          fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map(Number),
          fc.integer({ min: -(10 ** 9), max: 10 ** 9 }).map((i) => i / 1000),
          fc.constantFrom(...edges),
        ),
        async (x) => {
          const text = await one<string>(
            sql`SELECT sync.js_number(${String(Object.is(x, -0) ? '-0' : x)}::float8) AS v`,
          );
          expect(text).toBe(canonicalJsonNumber(x));
        },
      ),
      { numRuns: 1500 },
    );
  });

  it('escapes every string like Go', async () => {
    const specials = fc.constantFrom(
      '<',
      '>',
      '&',
      '\u2028',
      '\u2029',
      '"',
      '\\',
      '\n',
      '\t',
      '\u0001',
      '\u007f',
      'é',
      '😀',
      '\b',
      '\f',
    );
    const text = fc.array(fc.oneof(fc.string(), specials), { maxLength: 8 }).map((parts) => parts.join(''));
    await fc.assert(
      fc.asyncProperty(text, async (s) => {
        fc.pre(
          !s.includes('\u0000') && !/[\ud800-\udfff]/.test(s.replace(/[\ud800-\udbff][\udc00-\udfff]/g, '')),
        );
        expect(await one<string>(sql`SELECT sync.go_json_string(${s}::text) AS v`)).toBe(
          canonicalJsonString(s),
        );
      }),
      { numRuns: 300 },
    );
  });

  it('canonicalises json and jsonb documents like the protocol does', async () => {
    const safeString = fc.string().filter((s) => !s.includes('\u0000'));
    const value: fc.Arbitrary<JsonValue> = fc.letrec<{ v: JsonValue }>((tie) => ({
      v: fc.oneof(
        { depthSize: 'small' },
        safeString,
        fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => (Object.is(d, -0) ? 0 : d)),
        fc.boolean(),
        fc.constant(null),
        fc.array(tie('v'), { maxLength: 4 }),
        fc.dictionary(safeString, tie('v'), { maxKeys: 4 }),
      ),
    })).v;
    await fc.assert(
      fc.asyncProperty(value, async (v) => {
        const text = JSON.stringify(v);
        const expected = canonicalJson(JSON.parse(text) as JsonValue);
        expect(await one<string>(sql`SELECT sync.canonical_json(${text}::json) AS v`)).toBe(expected);
        expect(await one<string>(sql`SELECT sync.canonical_jsonb(${text}::jsonb) AS v`)).toBe(expected);
      }),
      { numRuns: 200 },
    );
    // json keeps what jsonb normalises: -0 and the last of duplicate keys, as JSON.parse does.
    expect(await one<string>(sql`SELECT sync.canonical_json('{"b":1,"a":-0,"b":2.50}'::json) AS v`)).toBe(
      canonicalJson(JSON.parse('{"b":1,"a":-0,"b":2.50}') as JsonValue),
    );
  });

  describe('numbers outside float64 range', () => {
    // Exact decimal bounds: at most 2^-1075 reads as 0 (ties to even), above it as 5e-324; from
    // 2^1024 - 2^970 up a decimal reads as Infinity, below it as the largest double.
    const zeroBound = `${(5n ** 1075n).toString()}e-1075`;
    const infinityBound = (2n ** 1024n - 2n ** 970n).toString();
    const beyond = /^numeric value .* is beyond the float64 range of JSON numbers$/;

    /** What JSON.parse makes of `text`: canonical text, or null when it reads as ±Infinity. */
    const reference = (text: string): string | null => {
      const value = JSON.parse(text) as number;
      return Number.isFinite(value) ? canonicalJsonNumber(value) : null;
    };
    // A numeric has no -0 (row_to_json prints a negative zero as 0); any other value reads alike.
    const numericExpected = (text: string): string | null =>
      /^-?[0.]+(e.*)?$/i.test(text) ? '0' : reference(text);
    const viaJson = (text: string) => one<string>(sql`SELECT sync.canonical_json(${`[${text}]`}::json) AS v`);
    const viaNumeric = (text: string) =>
      one<string>(sql`SELECT sync.numeric_json_number(${text}::numeric, 'n') AS v`);

    async function expectLikeJsonParse(text: string, numericToo: boolean): Promise<void> {
      const expected = reference(text);
      if (expected === null) {
        await expect(viaJson(text)).rejects.toThrow(beyond);
        if (numericToo) await expect(viaNumeric(text)).rejects.toThrow(beyond);
        return;
      }
      expect(await viaJson(text)).toBe(`[${expected}]`);
      if (numericToo) expect(await viaNumeric(text)).toBe(numericExpected(text));
    }

    it('reads what float64 cannot hold as 0 / -0 and refuses what would be Infinity, at the exact bounds', async () => {
      const edges = [
        '1e-400',
        '-1e-400',
        '2e-324',
        '-2e-324',
        '3e-324',
        '-3e-324',
        '5e-324',
        zeroBound,
        `-${zeroBound}`,
        `${(5n ** 1075n + 1n).toString()}e-1075`,
        `-${(5n ** 1075n + 1n).toString()}e-1075`,
        `0.${'0'.repeat(400)}1`,
        `-0.${'0'.repeat(400)}1`,
        `0.${'0'.repeat(320)}${'9'.repeat(900)}`,
        '1.7976931348623157e308',
        '1.7976931348623158e308',
        infinityBound,
        (2n ** 1024n - 2n ** 970n - 1n).toString(),
        `${(2n ** 1024n - 2n ** 970n - 1n).toString()}.${'9'.repeat(850)}`,
        '1e400',
        '-1e400',
        '1e309',
      ];
      for (const text of edges) await expectLikeJsonParse(text, true);
      // Exponents no numeric can hold, and zeros with any exponent (json only).
      for (const text of [
        '1e-999999999',
        '-1E-999999999',
        '0e999999999',
        '-0.0e-5',
        '1E+999999999',
        '10e-325',
      ]) {
        await expectLikeJsonParse(text, false);
      }
      // The refusal names the column and shows a long value shortened.
      await expect(
        one<string>(
          sql`SELECT sync.numeric_json_number(${`-${'123456789'.repeat(40)}`}::numeric, 'price') AS v`,
        ),
      ).rejects.toThrow(
        'numeric value -1.234567...e+359 in column "price" is beyond the float64 range of JSON numbers',
      );
      await expect(
        one<string>(sql`SELECT sync.canonical_jsonb('{"a": 1e400}'::jsonb, 'doc') AS v`),
      ).rejects.toThrow('numeric value 1e+400 in column "doc" is beyond');
    });

    it('renders random decimals, in range or not, like JSON.parse', async () => {
      const decimal = fc
        .record({
          neg: fc.boolean(),
          int: fc.stringMatching(/^(0|[1-9][0-9]{0,20})$/),
          frac: fc.option(fc.stringMatching(/^[0-9]{1,20}$/), { nil: undefined }),
          exp: fc.option(fc.integer({ min: -360, max: 360 }), { nil: undefined }),
        })
        .map(
          ({ neg, int, frac, exp }) =>
            `${neg ? '-' : ''}${int}${frac === undefined ? '' : `.${frac}`}${exp === undefined ? '' : `e${exp}`}`,
        );
      await fc.assert(
        fc.asyncProperty(decimal, async (text) => expectLikeJsonParse(text, true)),
        { numRuns: 400 },
      );
    });

    it('renders short numerics (the plain fast path) like JSON.parse', async () => {
      const short = fc
        .tuple(fc.bigInt({ min: -(10n ** 17n), max: 10n ** 17n }), fc.integer({ min: 0, max: 24 }))
        .map(([digits, scale]) => {
          const abs = (digits < 0n ? -digits : digits).toString().padStart(scale + 1, '0');
          const text = scale === 0 ? abs : `${abs.slice(0, -scale)}.${abs.slice(-scale)}`;
          return `${digits < 0n ? '-' : ''}${text}`;
        });
      const edges = [
        '0.000001',
        '-0.000001',
        '0.0000009',
        '999999999999999',
        '1000000000000000',
        '1.50',
        '0.10',
        '-0.00',
      ];
      await fc.assert(
        fc.asyncProperty(fc.oneof(short, fc.constantFrom(...edges)), async (text) => {
          expect(await viaNumeric(text)).toBe(numericExpected(text));
        }),
        { numRuns: 500 },
      );
    });
  });

  it('canonicalises json strings holding NUL (which PostgreSQL text cannot hold) like the protocol does', async () => {
    const samples = [
      '{"a":"x\\u0000y"}',
      '["\\u0000","\\u0000\\u0000<&>","a\\\\u0000b","\\\\\\u0000","\\u00e9\\u0000\\ud83d\\ude00\\/"]',
      '{"k":{"deep":["\\u0000",1.50,"\\u2028"]}}',
    ];
    for (const text of samples) {
      expect(await one<string>(sql`SELECT sync.canonical_json(${text}::json) AS v`)).toBe(
        canonicalJson(JSON.parse(text) as JsonValue),
      );
    }
    const withNul = fc
      .array(fc.oneof(fc.string(), fc.constantFrom('\u0000', '\\', '<')), { maxLength: 6 })
      .map((parts) => parts.join(''));
    await fc.assert(
      fc.asyncProperty(fc.array(withNul, { maxLength: 4 }), async (strings) => {
        const text = JSON.stringify(strings);
        expect(await one<string>(sql`SELECT sync.canonical_json(${text}::json) AS v`)).toBe(
          canonicalJson(JSON.parse(text) as JsonValue),
        );
      }),
      { numRuns: 150 },
    );
  });

  it('refuses, with a clear error, a json value holding both \\u0000 and \\u0001 (no stand-in left)', async () => {
    await expect(
      one<string>(sql`SELECT sync.canonical_json(${'["\\u0000","\\u0001"]'}::json) AS v`),
    ).rejects.toThrow(/holds both \\u0000 and \\u0001 escapes/);
    // An escaped backslash before "u0001" is text, not the stand-in: still canonicalised.
    const text = '["\\u0000","\\\\u0001"]';
    expect(await one<string>(sql`SELECT sync.canonical_json(${text}::json) AS v`)).toBe(
      canonicalJson(JSON.parse(text) as JsonValue),
    );
  });

  it('renders whole rows of every column type exactly like row_to_json plus the Node canonicaliser', async () => {
    await sql
      .raw(
        `
      CREATE TYPE public.mood AS ENUM ('ok', 'sad <3');
      CREATE TYPE public.pair AS (a integer, b text);
      CREATE DOMAIN public.blob AS bytea;
      CREATE TABLE public.every_type (
        _sync_scope_id text NOT NULL, id uuid NOT NULL, t text, vc varchar(10), ch char(4), nm name,
        i2 smallint, i4 integer, i8 bigint, f4 real, f8 double precision, num numeric, bo boolean,
        by bytea, bl public.blob, js json, jb jsonb, ts timestamptz, tsz timestamp, d date, tm time,
        iv interval, ia integer[], ta text[], en public.mood, pr public.pair, ip inet, "Zed" text,
        "ä" text, PRIMARY KEY (_sync_scope_id, id))`,
      )
      .execute(db);
    const rows = [
      `'s', '${randomUUID()}', 'a<b>&c "q" \\ é😀', 'v', 'ab', 'n', -3, 2147483647, 9007199254740993, 0.1, 1e21,
       1.50, true, '\\x00ff10', '\\x', '{"b":[1,1.0,-0],"a":"<"}', '{"z":1e-7,"y":{"b":null,"a":"x"}}',
       '2026-11-22 06:49:42.123456+00', '2026-01-01 00:00:00', '2026-02-03', '04:05:06.5', '1 day 2 hours',
       '{1,2,3}', '{"x,y",NULL}', 'sad <3', ROW(1, 'p&q'), '10.0.0.1/8', 'upper', 'umlaut'`,
      `'s', '${randomUUID()}', NULL, NULL, NULL, NULL, NULL, NULL, -9223372036854775808, 'NaN', '-Infinity',
       'NaN', false, NULL, NULL, 'null', '[]', 'infinity', NULL, NULL, NULL, NULL, '{}', '{}', NULL, NULL, NULL, NULL, NULL`,
      // Every column NULL, numbers included (a NULL must never reach the slow number path).
      `'s', '${randomUUID()}', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL`,
      `'s', '${randomUUID()}', '', '', '', '', 0, 0, 0, -0, -0, 0.000001, NULL, '\\x', NULL, '0', '{}', NULL, NULL,
       NULL, NULL, NULL, NULL, NULL, 'ok', ROW(NULL, NULL), NULL, '', ''`,
    ];
    for (const values of rows) await sql.raw(`INSERT INTO public.every_type VALUES (${values})`).execute(db);
    const rendered = await renderRows('every_type');
    expect(rendered).toHaveLength(4);
    const table = { byteaColumns: ['by', 'bl'] } as unknown as CatalogTable;
    for (const r of rendered) expect(r.payload).toBe(canonicalJson(toWirePayloadObject(table, r.image)));
  });

  it('keeps -0 inside arrays and composites and reads numerics too small for float64 as 0 / -0, like the canonicaliser', async () => {
    await sql
      .raw(
        `
      CREATE TYPE public.fpair AS (x double precision, n numeric, j json);
      CREATE TABLE public.nested_numbers (_sync_scope_id text NOT NULL, id integer NOT NULL, fa float8[],
        fp public.fpair, na numeric[], n numeric, jb jsonb, js json, PRIMARY KEY (_sync_scope_id, id));
      INSERT INTO public.nested_numbers VALUES
        ('s', 1, '{-0,0,1.5,NaN}', ROW('-0'::float8, -1e-400, '{"b": -0, "a": 1e-400}'), '{1e-400,-1e-400,2.50}',
         -1e-400, '{"a": -1e-400, "b": [1e-400]}', '{"b": [1e-400, -0], "a": -1e-999}'),
        ('s', 2, '{{-0},{2}}', ROW(0, 1e-400, NULL), '{}', 1e-400, '[-0]', '-0')`,
      )
      .execute(db);
    const rendered = await renderRows('nested_numbers');
    expect(rendered.map((r) => r.payload)).toEqual([
      '{"fa":[-0,0,1.5,"NaN"],"fp":{"j":{"a":0,"b":-0},"n":-0,"x":-0},"id":1,"jb":{"a":-0,"b":[0]},' +
        '"js":{"a":-0,"b":[0,-0]},"n":-0,"na":[0,-0,2.5]}',
      '{"fa":[[-0],[2]],"fp":{"j":null,"n":0,"x":0},"id":2,"jb":[0],"js":-0,"n":0,"na":[]}',
    ]);
    const table = { byteaColumns: [] } as unknown as CatalogTable;
    for (const r of rendered) expect(r.payload).toBe(canonicalJson(toWirePayloadObject(table, r.image)));
  });

  /** Every row of `public.<name>` as row_to_json and as payloadSql renders it, in id order. */
  async function renderRows(name: string): Promise<{ image: string; payload: string }[]> {
    const columns = await readTableColumns(db, 'public', name);
    return db.transaction().execute(async (trx) => {
      await sql`SELECT set_config('extra_float_digits', '1', true), set_config('TimeZone', 'UTC', true),
                       set_config('IntervalStyle', 'iso_8601', true)`.execute(trx);
      return (
        await sql<{ image: string; payload: string }>`
          SELECT row_to_json(r)::text AS image, ${sql.raw(payloadSql(columns, 'r'))} AS payload
            FROM ${sql.table(`public.${name}`)} r ORDER BY r.id`.execute(trx)
      ).rows;
    });
  }
});
