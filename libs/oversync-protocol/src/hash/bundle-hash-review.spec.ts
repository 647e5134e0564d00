/**
 * `bundle_hash` against an independent rendering of go-oversync's `computeCommittedBundleHash`: one
 * seven-key object per row (`row_ordinal` 0-based, `payload` decoded, or null for a DELETE whatever
 * the row carries), `json.Marshal`, canonicalised, SHA-256 (node:crypto) of the UTF-8 bytes. The
 * canonical text is rebuilt with the TypeScript recipe of wire-protocol.md §12 (`JSON.stringify`
 * plus Go's HTML and line-separator escapes, `-0` kept, keys in code point order), not with
 * canonicalJson.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import type { JsonValue } from '../json/json.types.js';
import type { RowOp } from '../wire/bundle.types.js';
import {
  canonicalBundleText,
  canonicalBundleTextFromWire,
  computeBundleHash,
  computeBundleHashFromWire,
  digestCanonicalText,
  type BundleHashRow,
} from './bundle-hash.js';
import { sha256HexUtf8 } from './sha256.js';

const GO_ESCAPES: Record<string, string> = {
  '<': '\\u003c',
  '>': '\\u003e',
  '&': '\\u0026',
  '\u2028': '\\u2028',
  '\u2029': '\\u2029',
};

/** The §12 recipe (well-formed strings only: lone surrogates are covered by the string tests). */
function recipe(value: JsonValue | undefined): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'number') return Object.is(value, -0) ? '-0' : JSON.stringify(value);
  if (typeof value === 'string')
    return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => GO_ESCAPES[c]);
  if (typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `[${value.map(recipe).join(',')}]`;
  const keys = Object.keys(value).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  return `{${keys.map((k) => `${recipe(k)}:${recipe(value[k])}`).join(',')}}`;
}

function goBundleText(rows: readonly BundleHashRow[]): string {
  return recipe(
    rows.map((row, i) => ({
      row_ordinal: i,
      schema: row.schema,
      table: row.table,
      key: row.key,
      op: row.op,
      row_version: row.row_version,
      payload: row.op === 'DELETE' ? null : (row.payload ?? null),
    })),
  );
}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

const name = fc.stringMatching(/^[a-z_][a-z0-9_]{0,8}$/);
const text = fc.string({ unit: 'grapheme', maxLength: 12 });
const payload = fc.dictionary(
  fc.oneof(name, text),
  fc.oneof(
    fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<JsonValue>,
    fc.constantFrom<JsonValue>(-0, 1e21, 1e-7, 5e-324, 2 ** 53 + 2, 12.5, '<&>', '\u2028é😀', null),
  ),
  { maxKeys: 6 },
);
const row: fc.Arbitrary<BundleHashRow> = fc.record({
  schema: name,
  table: name,
  key: fc.record({ id: fc.oneof(text, fc.uuid()) }),
  op: fc.constantFrom<RowOp>('INSERT', 'UPDATE', 'DELETE'),
  row_version: fc.integer({ min: 1, max: 2 ** 53 - 1 }),
  payload: fc.option(payload, { nil: undefined }),
});

describe('computeBundleHash = go-oversync computeCommittedBundleHash (independent rendering)', () => {
  it('hashes random bundles like the §12 recipe over node:crypto, with the byte count of the text', () => {
    fc.assert(
      fc.property(fc.array(row, { maxLength: 6 }), (rows) => {
        const expected = goBundleText(rows);
        const actual = canonicalBundleText(rows);
        expect(actual).toBe(expected);
        expect(computeBundleHash(rows)).toBe(sha256(expected));
        expect(sha256HexUtf8(actual)).toBe(sha256(expected));
        expect(digestCanonicalText(actual)).toEqual({
          bundleHash: sha256(expected),
          byteCount: Buffer.byteLength(expected, 'utf8'),
        });
      }),
      { numRuns: 1500 },
    );
  });

  it('hashes a DELETE row as payload null even when the row object carries a payload (Go ignores it)', () => {
    // A pull/committed-rows row object checked in place may keep a DELETE payload a server sent.
    const rows: BundleHashRow[] = [
      {
        schema: 'public',
        table: 'notes',
        key: { id: 'n1' },
        op: 'DELETE',
        row_version: 4,
        payload: { id: 'n1', body: 'x' },
      },
    ];
    const expected =
      '[{"key":{"id":"n1"},"op":"DELETE","payload":null,"row_ordinal":0,"row_version":4,"schema":"public","table":"notes"}]';
    expect(goBundleText(rows)).toBe(expected);
    expect(canonicalBundleText(rows)).toBe(expected);
    expect(computeBundleHash(rows)).toBe(sha256(expected));
    const wire = [
      {
        schema: 'public',
        table: 'notes',
        keyJson: '{"id":"n1"}',
        op: 'DELETE' as const,
        rowVersion: 4,
        payloadWire: '{"id":"n1"}',
      },
    ];
    expect(canonicalBundleTextFromWire(wire)).toBe(expected);
    expect(computeBundleHashFromWire(wire)).toBe(sha256(expected));
  });

  it('keeps wire-protocol.md §12 vector 4 (number normalisation and escapes)', () => {
    const parsed = JSON.parse(
      '{"a":12.50,"b":1e21,"c":0.0000001,"d":9007199254740993,"e":-0,"f":100,"g":"\u2028é😀"}',
    ) as JsonValue;
    const rows: BundleHashRow[] = [
      { schema: 'public', table: 'nums', key: { id: 'x' }, op: 'INSERT', row_version: 2, payload: parsed },
    ];
    const text = canonicalBundleText(rows);
    expect(text).toContain(
      '"payload":{"a":12.5,"b":1e+21,"c":1e-7,"d":9007199254740992,"e":-0,"f":100,"g":"\\u2028é😀"}',
    );
    expect(Buffer.byteLength(text)).toBe(194);
    expect(computeBundleHash(rows)).toBe('71b2c8422ac0e2d11347e4e9dd71cb1d17165d61708ef9d54dcc2ed9546833ad');
  });
});
