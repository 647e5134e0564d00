import { createHash } from 'node:crypto';
import { CommittedBundleRowsService, ScopeManager, ScopeWriteInvalidError } from '@oversync/nestjs';
import {
  canonicalizeJsonText,
  canonicalJson,
  computeBundleHash,
  type BundleRow,
  type JsonValue,
} from '@oversync/protocol';
import fc from 'fast-check';
import { sql, type Kysely } from 'kysely';
import { createOversyncTestApp, type OversyncTestApp } from '../../../../test/support/oversync-app.js';
import { createTestKysely } from '../../../../test/support/test-kysely.js';

/**
 * Canonical JSON and `bundle_hash` across the three implementations that must agree
 * byte for byte: the SQL rendering of finalisation (payloads and hash built in PostgreSQL), the
 * protocol canonicaliser (what `@oversync/client` re-hashes), and go-oversync's
 * `canonicalJSON` (`json.Unmarshal` into `any`, then sorted keys, `json.Marshal` of leaves:
 * oversync/upload_support.go), re-implemented below from Go's encoding/json rules.
 */

// ---------------------------------------------------------------------------------------------
// A faithful model of go-oversync's canonicalJSON (Go 1.25 encoding/json).
// ---------------------------------------------------------------------------------------------

type GoValue = null | boolean | number | string | GoValue[] | Map<string, GoValue>;

/** Go's `json.Unmarshal(raw, &any)`: strings decoded with Go's surrogate rules, numbers as float64, last duplicate wins. */
function goParse(text: string): GoValue {
  let i = 0;
  const fail = (why: string): never => {
    throw new SyntaxError(`go model: ${why} at ${i}`);
  };
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i])) i++;
  };
  const hex4 = (at: number): number => {
    const h = text.slice(at, at + 4);
    return /^[0-9a-fA-F]{4}$/.test(h) ? parseInt(h, 16) : -1;
  };
  const str = (): string => {
    i++; // opening quote
    let out = '';
    for (;;) {
      if (i >= text.length) fail('unterminated string');
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return out;
      }
      if (c < 0x20) fail('control character in string');
      if (c === 0x5c) {
        const e = text[i + 1];
        i += 2;
        const simple: Record<string, string> = {
          '"': '"',
          '\\': '\\',
          '/': '/',
          b: '\b',
          f: '\f',
          n: '\n',
          r: '\r',
          t: '\t',
        };
        if (e in simple) {
          out += simple[e];
          continue;
        }
        if (e !== 'u') fail('bad escape');
        let rr = hex4(i);
        if (rr < 0) fail('bad \\u');
        i += 4;
        if (rr >= 0xd800 && rr <= 0xdfff) {
          // utf16.DecodeRune(rr, next): a valid pair is consumed, anything else is U+FFFD.
          const next = text[i] === '\\' && text[i + 1] === 'u' ? hex4(i + 2) : -1;
          if (rr <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
            out += String.fromCharCode(rr, next);
            i += 6;
            continue;
          }
          rr = 0xfffd;
        }
        out += String.fromCharCode(rr);
        continue;
      }
      // Raw text: a valid surrogate pair is one rune; a lone surrogate stands for invalid UTF-8 (U+FFFD).
      if (c >= 0xd800 && c <= 0xdbff) {
        const d = text.charCodeAt(i + 1);
        if (d >= 0xdc00 && d <= 0xdfff) {
          out += text[i] + text[i + 1];
          i += 2;
          continue;
        }
      }
      out += c >= 0xd800 && c <= 0xdfff ? '\ufffd' : text[i];
      i++;
    }
  };
  const value = (depth: number): GoValue => {
    if (depth > 10000) fail('exceeded max depth');
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const obj = new Map<string, GoValue>();
      ws();
      if (text[i] === '}') {
        i++;
        return obj;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail('expected key');
        const k = str();
        ws();
        if (text[i] !== ':') fail('expected colon');
        i++;
        obj.set(k, value(depth + 1));
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          return obj;
        }
        fail('expected , or }');
      }
    }
    if (c === '[') {
      i++;
      const arr: GoValue[] = [];
      ws();
      if (text[i] === ']') {
        i++;
        return arr;
      }
      for (;;) {
        arr.push(value(depth + 1));
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          return arr;
        }
        fail('expected , or ]');
      }
    }
    if (c === '"') return str();
    for (const [word, v] of [
      ['true', true],
      ['false', false],
      ['null', null],
    ] as const) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return v;
      }
    }
    const m = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/.exec(text.slice(i));
    if (!m) fail('bad value');
    i += m![0].length;
    const x = Number(m![0]); // strconv.ParseFloat: correctly rounded
    if (!Number.isFinite(x)) fail(`cannot unmarshal number ${m![0]} into float64`);
    return x;
  };
  const v = value(0);
  ws();
  if (i !== text.length) fail('trailing data');
  return v;
}

/** Go's `floatEncoder` for float64 (shortest digits; 'e' format below 1e-6 and from 1e21 with e-0X cleaned to e-X). */
function goFloat(x: number): string {
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  const [mantissa, expText] = x.toExponential().split('e'); // shortest round-trip digits
  const exp = Number(expText);
  const abs = Math.abs(x);
  if (abs < 1e-6 || abs >= 1e21) {
    const e = `e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
    return (mantissa + e).replace(/e-0(\d)$/, 'e-$1');
  }
  const sign = x < 0 ? '-' : '';
  const digits = mantissa.replace('-', '').replace('.', '');
  const point = exp + 1;
  if (point <= 0) return `${sign}0.${'0'.repeat(-point)}${digits}`;
  if (point >= digits.length) return sign + digits + '0'.repeat(point - digits.length);
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}

/** Go's `encodeState.string` with HTML escaping on (json.Marshal). */
function goString(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (cp < 0x80) {
      if (ch === '"' || ch === '\\') out += '\\' + ch;
      else if (ch === '\b') out += '\\b';
      else if (ch === '\f') out += '\\f';
      else if (ch === '\n') out += '\\n';
      else if (ch === '\r') out += '\\r';
      else if (ch === '\t') out += '\\t';
      else if (cp < 0x20 || ch === '<' || ch === '>' || ch === '&')
        out += '\\u00' + cp.toString(16).padStart(2, '0');
      else out += ch;
    } else if (cp === 0x2028 || cp === 0x2029) {
      out += '\\u' + cp.toString(16);
    } else if (cp >= 0xd800 && cp <= 0xdfff) {
      out += '\ufffd';
    } else {
      out += ch;
    }
  }
  return out + '"';
}

const byUtf8 = (a: string, b: string) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));

/** go-oversync's writeCanonicalJSON: sort.Strings keys (bytes), json.Marshal for leaves. */
function goMarshal(v: GoValue): string {
  if (v === null) return 'null';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'number') return goFloat(v);
  if (typeof v === 'string') return goString(v);
  if (Array.isArray(v)) return `[${v.map(goMarshal).join(',')}]`;
  const keys = [...v.keys()].sort(byUtf8);
  return `{${keys.map((k) => `${goString(k)}:${goMarshal(v.get(k)!)}`).join(',')}}`;
}

const goCanonical = (text: string): string => goMarshal(goParse(text));

/** go-oversync's computeCommittedBundleHash over rows whose payload is raw JSON text (as the Go client receives them). */
function goBundleText(
  rows: readonly {
    schema: string;
    table: string;
    key: Record<string, string>;
    op: string;
    row_version: number;
    payloadText: string | null;
  }[],
): string {
  const parts = rows.map((r, i) => {
    const obj = new Map<string, GoValue>([
      ['row_ordinal', i],
      ['schema', r.schema],
      ['table', r.table],
      ['key', new Map(Object.entries(r.key))],
      ['op', r.op],
      ['row_version', r.row_version],
      ['payload', r.op !== 'DELETE' && r.payloadText !== null ? goParse(r.payloadText) : null],
    ]);
    return goMarshal(obj);
  });
  return `[${parts.join(',')}]`;
}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

// ---------------------------------------------------------------------------------------------
// Generators of JSON *text* in the spellings PostgreSQL, Go and clients meet.
// ---------------------------------------------------------------------------------------------

const numberText = fc.oneof(
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => (Object.is(d, -0) ? '-0' : String(d))),
  fc
    .record({
      neg: fc.boolean(),
      int: fc.stringMatching(/^(0|[1-9][0-9]{0,24})$/),
      frac: fc.option(fc.stringMatching(/^[0-9]{1,20}$/), { nil: undefined }),
      exp: fc.option(
        fc.tuple(fc.constantFrom('e', 'E', 'e+', 'E-', 'e-'), fc.integer({ min: 0, max: 320 })),
        {
          nil: undefined,
        },
      ),
    })
    .map(
      ({ neg, int, frac, exp }) =>
        `${neg ? '-' : ''}${int}${frac === undefined ? '' : `.${frac}`}${exp === undefined ? '' : `${exp[0]}${exp[1]}`}`,
    )
    .filter((t) => Number.isFinite(Number(t))),
  fc.constantFrom(
    '1e21',
    '1e-7',
    '0.000001',
    '9007199254740993',
    '-0.0',
    '1.10',
    '100',
    '123e-2',
    '5e-324',
    '1E400'.slice(0, 4),
  ),
);

const stringChar = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 3 }),
  fc.constantFrom(
    '<',
    '>',
    '&',
    '\u2028',
    '\u2029',
    '"',
    '\\',
    '\n',
    '\t',
    '\b',
    '\f',
    '\u0001',
    '\u001f',
    '\u007f',
    '\u0080',
    'é',
    '😀',
    '\ue000',
    '\uffff',
    '\u{10ffff}',
    '/',
  ),
);
/** A JSON string literal, sometimes with escapes in place of raw characters. */
const stringText = fc
  .tuple(fc.array(stringChar, { maxLength: 5 }), fc.array(fc.boolean(), { minLength: 20, maxLength: 20 }))
  .map(([parts, escapeMask]) => {
    const s = parts.join('');
    let out = '"';
    let n = 0;
    for (const ch of s) {
      const plain = JSON.stringify(ch).slice(1, -1);
      if (escapeMask[n++ % 20] && plain === ch) {
        // \uXXXX spelling of the same character (a pair for non-BMP).
        out +=
          [...ch].length === 1 && ch.length === 2
            ? `\\u${ch.charCodeAt(0).toString(16)}\\u${ch.charCodeAt(1).toString(16).toUpperCase()}`
            : `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`;
      } else {
        out += plain;
      }
    }
    return out + '"';
  });

const keyText = fc.oneof(
  stringText,
  fc.constantFrom('"a"', '"b"', '"\\u0061"', '"\ue000"', '"😀"', '"10"', '"9"', '"__proto__"'),
);

const jsonText: fc.Arbitrary<string> = fc.letrec<{ v: string }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small' },
    numberText,
    stringText,
    fc.constantFrom('true', 'false', 'null'),
    fc.array(tie('v'), { maxLength: 4 }).map((xs) => `[${xs.join(', ')}]`),
    // Duplicate keys are common in generated objects (small key alphabet).
    fc
      .array(fc.tuple(keyText, tie('v')), { maxLength: 5 })
      .map((kv) => `{ ${kv.map(([k, v]) => `${k} : ${v}`).join(',')} }`),
  ),
})).v;

describe('canonical JSON and bundle_hash across SQL, the protocol canonicaliser and go-oversync', () => {
  describe('the Go model itself', () => {
    it('reproduces the four wire-protocol §12 test vectors (bytes and SHA-256)', () => {
      const v1 =
        '[{"key":{"id":"row-1"},"op":"INSERT","payload":{"email":"alice@example.com","name":"Alice"},"row_ordinal":0,"row_version":3,"schema":"public","table":"users"}]';
      expect(goCanonical(v1)).toBe(v1);
      expect(sha256(v1)).toBe('677c5687bb91a8c2d34bc9e2e4f8c1d47981957bd876ba090c39b5e263d26b78');
      const v2 =
        '[{"key":{"id":"550e8400-e29b-41d4-a716-446655440000"},"op":"UPDATE","payload":{"active":true,"data":"AAEC","id":"550e8400-e29b-41d4-a716-446655440000","name":"Ada","note":null,"score":1.5},"row_ordinal":0,"row_version":7,"schema":"business","table":"users"},{"key":{"id":"doc-42"},"op":"DELETE","payload":null,"row_ordinal":1,"row_version":7,"schema":"business","table":"posts"}]';
      expect(goCanonical(v2)).toBe(v2);
      expect(sha256(v2)).toBe('cd13d6d6dea78de1bb598da8752b188bc2f44d43318c1b2b6aed0edfa311c985');
      const row = (table: string, version: number, key: string, payload: string) => ({
        schema: 'public',
        table,
        key: { id: key },
        op: 'INSERT',
        row_version: version,
        payloadText: payload,
      });
      const v3 = goBundleText([row('notes', 1, 'n1', '{"body":"a<b && c>d","id":"n1"}')]);
      expect(Buffer.byteLength(v3)).toBe(163);
      expect(sha256(v3)).toBe('9a08c4dee498686fc1bf3e7321bd267d55f71ce8380d195074265cd3dd7e5144');
      const v4 = goBundleText([
        row(
          'nums',
          2,
          'x',
          '{"a":12.50,"b":1e21,"c":0.0000001,"d":9007199254740993,"e":-0,"f":100,"g":"\u2028é😀"}',
        ),
      ]);
      expect(v4).toContain(
        '"payload":{"a":12.5,"b":1e+21,"c":1e-7,"d":9007199254740992,"e":-0,"f":100,"g":"\\u2028é😀"}',
      );
      expect(Buffer.byteLength(v4)).toBe(194);
      expect(sha256(v4)).toBe('71b2c8422ac0e2d11347e4e9dd71cb1d17165d61708ef9d54dcc2ed9546833ad');
    });
  });

  describe('protocol canonicaliser vs Go', () => {
    it('canonicalises random JSON text exactly like go-oversync (numbers in any spelling, escapes, duplicates, UTF-8 key order)', () => {
      fc.assert(
        fc.property(jsonText, (text) => {
          expect(canonicalizeJsonText(text)).toBe(goCanonical(text));
        }),
        { numRuns: 3000 },
      );
    });

    it('replaces lone surrogate escapes in values like Go (U+FFFD), wherever they sit', () => {
      for (const text of [
        '"\\ud800"',
        '"\\udc00\\ud800\\udc00"',
        '"\\ud800\\u0041"',
        '["\\ud83d", "x\\ude00"]',
        '{"a":"\\udfff<"}',
      ]) {
        expect(canonicalizeJsonText(text)).toBe(goCanonical(text));
      }
    });

    // Go decodes every lone surrogate escape to U+FFFD while it reads the object, so keys that
    // decode alike are duplicates and the one LAST IN THE DOCUMENT wins (map assignment order).
    // The canonicaliser first sorts the raw keys (a lone surrogate sorts above U+FFFD) and then
    // lets the last in *sorted* order win.
    it('keeps the document-last of keys that decode to the same U+FFFD key, as Go does', () => {
      expect(goCanonical('{"\\ud800":1,"\\ufffd":2}')).toBe('{"\ufffd":2}');
      expect(canonicalizeJsonText('{"\\ud800":1,"\\ufffd":2}')).toBe('{"\ufffd":2}');
      expect(goCanonical('{"\\udc00":2,"\\ud800":1}')).toBe('{"\ufffd":1}');
      expect(canonicalizeJsonText('{"\\udc00":2,"\\ud800":1}')).toBe('{"\ufffd":1}');
      // The same through canonicalJson, which the server applies to pushed payloads.
      expect(canonicalJson(JSON.parse('{"doc":{"\\ud800":"first","\\ufffd":"last"}}') as JsonValue)).toBe(
        '{"doc":{"\ufffd":"last"}}',
      );
    });
  });

  describe('server (real PostgreSQL, real Nest app)', () => {
    let t: OversyncTestApp;
    let db: Kysely<unknown>;
    let seq = 0;

    const SCHEMA = `
      CREATE SCHEMA rc;
      CREATE TYPE rc.mood AS ENUM ('ok', 'sad <3');
      -- A composite for person names, named like PostgreSQL's own identifier type.
      CREATE TYPE rc.name AS (last text, first text);
      CREATE TABLE rc.sink (_sync_scope_id text NOT NULL, id text NOT NULL,
        t text, i8 bigint, f4 real, f8 double precision, num numeric, bo boolean, by bytea, js json, jb jsonb,
        ts timestamptz, tsn timestamp, d date, tm time, ia integer[], fa double precision[], ta text[],
        en rc.mood, rg int4range, u uuid, "Zé" text, "😀" text, "\ue000" text, "a<b" text,
        PRIMARY KEY (_sync_scope_id, id));
      CREATE TABLE rc.people (_sync_scope_id text NOT NULL, id text NOT NULL, who rc.name,
        PRIMARY KEY (_sync_scope_id, id));
      CREATE TABLE rc.objects (_sync_scope_id text NOT NULL, id text NOT NULL, o oid,
        PRIMARY KEY (_sync_scope_id, id));
      CREATE TABLE rc.docs (_sync_scope_id text NOT NULL, id text NOT NULL, doc jsonb,
        PRIMARY KEY (_sync_scope_id, id));
    `;

    beforeAll(async () => {
      t = await createOversyncTestApp({
        schemaSql: SCHEMA,
        timeZone: 'America/New_York',
        options: {
          registeredTables: ['sink', 'people', 'objects', 'docs'].map((table) => ({
            schema: 'rc',
            table,
            syncKeyColumns: ['id'],
          })),
        },
      });
      db = createTestKysely(t.db.url);
    });
    afterAll(async () => {
      await db?.destroy();
      await t?.close();
    });

    /** Runs `statements` as one server-originated bundle of a fresh scope; returns what a client is served. */
    async function commitAndServe(statements: string[]) {
      const scope = `canon-${++seq}`;
      const { bundle } = await t.get(ScopeManager).execWrite(scope, { writerId: 'w' }, async (trx) => {
        for (const s of statements) await sql.raw(s).execute(trx);
      });
      const text = await t
        .get(CommittedBundleRowsService)
        .readPageJson(scope, { bundleSeq: bundle.bundle_seq, afterRowOrdinal: null, maxRows: 1000 });
      return { scope, bundle, text };
    }

    /** What @oversync/client does with a committed-rows page: JSON.parse, then computeBundleHash. */
    function clientHash(text: string): string {
      const page = JSON.parse(text) as { rows: BundleRow[] };
      return computeBundleHash(page.rows);
    }

    /** What go-oversync's client does: each payload kept raw, then computeCommittedBundleHash. */
    function goClientHash(text: string): string {
      const page = goParse(text) as Map<string, GoValue>;
      const rows = (page.get('rows') as Map<string, GoValue>[]).map((r) => ({
        schema: r.get('schema') as string,
        table: r.get('table') as string,
        key: Object.fromEntries(r.get('key') as Map<string, string>),
        op: r.get('op') as string,
        row_version: r.get('row_version') as number,
        payloadText: r.has('payload') ? goMarshal(r.get('payload')!) : null,
      }));
      return sha256(goBundleText(rows));
    }

    /** Stored (and served) payload texts of a scope's bundle, by key, exactly as hashed. */
    async function servedPayloads(scope: string, bundleSeq: number): Promise<Map<string, string | null>> {
      const page = await t
        .get(CommittedBundleRowsService)
        .readPage(scope, { bundleSeq, afterRowOrdinal: null, maxRows: 1000 });
      return new Map(page.rows.map((r) => [r.key.id, r.payloadWire]));
    }

    /**
     * go-oversync's payload for a row: `to_jsonb(row) - '_sync_scope_id'` (its capture trigger),
     * top-level bytea rewritten to base64, then canonicalJSON. Read with UTC and ISO settings.
     */
    async function goPayload(
      table: string,
      id: string,
      scope: string,
      bytea: string[] = [],
    ): Promise<string> {
      const text = await db.transaction().execute(async (trx) => {
        await sql`SELECT set_config('TimeZone', 'UTC', true), set_config('DateStyle', 'ISO, MDY', true)`.execute(
          trx,
        );
        const { rows } = await sql<{ v: string }>`
          SELECT (to_jsonb(r) - '_sync_scope_id')::text AS v FROM ${sql.table(`rc.${table}`)} r
           WHERE r.id = ${id} AND r._sync_scope_id = ${scope}`.execute(trx);
        return rows[0].v;
      });
      const value = goParse(text) as Map<string, GoValue>;
      for (const column of bytea) {
        const hex = value.get(column);
        if (typeof hex === 'string') value.set(column, Buffer.from(hex.slice(2), 'hex').toString('base64'));
      }
      return goMarshal(value);
    }

    it("serves hazardous values whose bundle_hash both clients verify, with go-oversync's payload bytes", async () => {
      const rows: Record<string, string> = {
        r1: `'a<b>&c "q" \\ é😀 ${'\u2028\u2029'} ' || chr(1) || chr(127) || chr(31), 9007199254740993, 0.1, 1e21, 1.10,
             true, '\\x00ff10', '{"b":[1,1.0,2.50e3],"a":"<","a":"dup","\ue000":1,"😀":2}',
             '{"z":1e-7,"é":{"b":null,"a":"x"},"\ue000":1,"😀":2,"a<":[1.0,2.50e3,123456789012345678901234567890]}',
             '2026-11-22 06:49:42.123456+05:30', '2026-01-01 00:00:00.5', '2026-02-03', '04:05:06.5', '{1,2,3}',
             '{1e-7,0.30000000000000004,5e-324}', '{"x,y",NULL,"<&>"}', 'sad <3', '[1,5)',
             'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'zé', 'emoji', 'private use', 'lt'`,
        r2: `'', -9223372036854775808, 3.4028235e38, 5e-324, 123456789012345678901234567890.5,
             false, '\\x', '[]', '{"n":-1e-400,"m":1e308,"k":[true,false,null]}',
             'infinity', '0044-03-15 12:00:00 BC', '-infinity', '24:00:00', '{}', '{}', '{}', 'ok', 'empty',
             '00000000-0000-0000-0000-000000000000', '', '', '', ''`,
        r3: `NULL, 2, 1.17549435e-38, 1.7976931348623157e308, 0.000001, NULL, NULL, 'null', '"\u2028<"', NULL,
             NULL, NULL, NULL, '{{1,2},{3,4}}', '{-1.5e-10,1e21}', '{""}', NULL, '[,)', NULL, NULL, NULL, NULL, NULL`,
      };
      const cols = `id, t, i8, f4, f8, num, bo, by, js, jb, ts, tsn, d, tm, ia, fa, ta, en, rg, u, "Zé", "😀", "\ue000", "a<b"`;
      // Text keys with characters Go escapes, non-BMP and private-use characters, across two tables.
      const keys = ['k<\u2028&"😀\\', 'k\ue000', 'k\u{1F600}', "k'\u007f\u0001"];
      const { scope, bundle, text } = await commitAndServe([
        ...Object.entries(rows).map(
          ([id, values]) => `INSERT INTO rc.sink (${cols}) VALUES ('${id}', ${values})`,
        ),
        ...keys.map((k) => `INSERT INTO rc.docs (id, doc) VALUES (${sqlString(k)}, '{"k":1}')`),
      ]);
      expect(bundle.row_count).toBe(3 + keys.length);
      expect((JSON.parse(text) as { rows: BundleRow[] }).rows.slice(3).map((r) => r.key.id)).toEqual(keys);
      expect(clientHash(text)).toBe(bundle.bundle_hash);
      expect(goClientHash(text)).toBe(bundle.bundle_hash);
      const served = await servedPayloads(scope, bundle.bundle_seq);
      for (const id of Object.keys(rows)) {
        expect(served.get(id)).toBe(await goPayload('sink', id, scope, ['by']));
      }
    });

    it("property: sync.canonical_json / sync.canonical_jsonb equal go-oversync's canonicalJSON of the same document", async () => {
      const storable = (d: string) =>
        !/\\u0000|\\ud[89a-f]/i.test(d) &&
        !/[\ud800-\udfff]/.test(d.replace(/[\ud800-\udbff][\udc00-\udfff]/g, ''));
      await fc.assert(
        fc.asyncProperty(fc.array(jsonText, { minLength: 20, maxLength: 20 }), async (docs) => {
          const texts = docs.filter(storable);
          const rows = await db.transaction().execute(async (trx) => {
            await sql`SELECT set_config('extra_float_digits', '1', true)`.execute(trx);
            return (
              await sql<{ j: string; b: string; bt: string }>`
                SELECT sync.canonical_json(d::json) AS j, sync.canonical_jsonb(d::jsonb) AS b, d::jsonb::text AS bt
                  FROM unnest(${texts}::text[]) WITH ORDINALITY AS u(d, n) ORDER BY n`.execute(trx)
            ).rows;
          });
          rows.forEach((r, i) => {
            // json keeps the document (-0, duplicates: last wins); jsonb is what to_jsonb hands Go.
            expect(r.j).toBe(goCanonical(texts[i]));
            expect(r.b).toBe(goCanonical(r.bt));
          });
        }),
        { numRuns: 60 },
      );
    });

    it('property: jsonb documents are stored as go-oversync would canonicalise them, and both clients verify the hash', async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(jsonText, { minLength: 1, maxLength: 6 }), async (docs) => {
          // PostgreSQL text cannot hold NUL, and jsonb refuses lone surrogates: not storable.
          const storable = docs.filter(
            (d) =>
              !/\\u0000|\\ud[89a-f]/i.test(d) &&
              !/[\ud800-\udfff]/.test(d.replace(/[\ud800-\udbff][\udc00-\udfff]/g, '')),
          );
          fc.pre(storable.length > 0);
          const { scope, bundle, text } = await commitAndServe(
            storable.map((d, i) => `INSERT INTO rc.docs (id, doc) VALUES ('d${i}', ${sqlString(d)}::jsonb)`),
          );
          expect(clientHash(text)).toBe(bundle.bundle_hash);
          expect(goClientHash(text)).toBe(bundle.bundle_hash);
          const served = await servedPayloads(scope, bundle.bundle_seq);
          for (let i = 0; i < storable.length; i++) {
            expect(served.get(`d${i}`)).toBe(await goPayload('docs', `d${i}`, scope));
          }
        }),
        { numRuns: 120 },
      );
    });

    // A composite type whose name equals a built-in one (here `name`, natural for person names) is
    // rendered by the built-in's rule: payload-sql.ts switches on pg_type.typname alone, so the
    // composite goes out as raw to_json text with its keys in attribute order (last, first),
    // which is not canonical. The hash is computed over that text, and every client re-hashes the
    // canonical form: each one rejects the bundle ("bundle_hash mismatch").
    it('renders a composite type named like a built-in (rc.name) canonically, so clients accept its bundle', async () => {
      const { scope, bundle, text } = await commitAndServe([
        `INSERT INTO rc.people (id, who) VALUES ('p1', ROW('Lovelace', 'Ada <3')::rc.name)`,
      ]);
      expect(JSON.parse(text).rows[0].payload).toEqual({
        id: 'p1',
        who: { first: 'Ada <3', last: 'Lovelace' },
      });
      // Both clients reject the bundle: the hash covers non-canonical payload text.
      expect(clientHash(text)).toBe(bundle.bundle_hash);
      expect(goClientHash(text)).toBe(bundle.bundle_hash);
      const stored = (await servedPayloads(scope, bundle.bundle_seq)).get('p1')!;
      expect(stored).toBe(canonicalizeJsonText(stored));
      expect(stored).toBe(await goPayload('people', 'p1', scope));
    });

    // to_json / to_jsonb treat only int2/int4/int8/float4/float8/numeric as JSON numbers; an oid
    // is a string ("4242"), which is what go-oversync serves and what this server's own conflict
    // `server_row` (to_jsonb) shows. payload-sql.ts renders oid as a bare number instead.
    it("renders an oid column as the JSON string to_jsonb gives it (go-oversync's payload), not a number", async () => {
      const { scope, bundle } = await commitAndServe([`INSERT INTO rc.objects (id, o) VALUES ('o1', 4242)`]);
      const stored = (await servedPayloads(scope, bundle.bundle_seq)).get('o1');
      expect(stored).toBe(await goPayload('objects', 'o1', scope));
      expect(stored).toBe('{"id":"o1","o":"4242"}');
    });

    // sync.canonical_jsonb / sync.canonical_json recurse through PL/pgSQL, one query per level, and
    // run out of PostgreSQL's default 2 MB max_stack_depth after about 650 levels (go-oversync,
    // which canonicalises in Go, accepts such values). The write is refused by name, nothing lands.
    it('refuses a jsonb value nested 1000 levels deep with a clear error and writes nothing', async () => {
      const depth = 1000;
      const doc = '{"a":'.repeat(depth) + '[1.50,"<"]' + '}'.repeat(depth);
      const error = await commitAndServe([
        `INSERT INTO rc.docs (id, doc) VALUES ('deep', '${doc}'::jsonb)`,
      ]).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(ScopeWriteInvalidError);
      expect((error as Error).message).toMatch(/nested too deeply to canonicalise/);
      const { rows } = await sql<{
        n: string;
      }>`SELECT count(*)::text AS n FROM rc.docs WHERE id = 'deep'`.execute(db);
      expect(rows[0].n).toBe('0');
    });
  });
});

function sqlString(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}
