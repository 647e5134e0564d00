import { canonicalizeJsonText, canonicalJson } from '../json/canonical-json.js';
import type { JsonObject, JsonValue } from '../json/json.types.js';
import type { BundleRow } from '../wire/bundle.types.js';
import {
  canonicalBundleText,
  canonicalBundleTextFromWire,
  computeBundleHash,
  computeBundleHashFromWire,
  digestCanonicalText,
  type BundleHashRow,
  type WireHashRow,
} from './bundle-hash.js';
import { utf8Encode } from './utf8.js';

/** Builds the fast-path row from parsed parts, canonicalising key and payload text first. */
function toWire(row: BundleHashRow, payloadText?: string): WireHashRow {
  const payload = row.payload ?? null;
  return {
    schema: row.schema,
    table: row.table,
    keyJson: canonicalJson(row.key),
    op: row.op,
    rowVersion: row.row_version,
    payloadWire:
      payloadText !== undefined
        ? canonicalizeJsonText(payloadText)
        : payload === null
          ? null
          : canonicalJson(payload),
  };
}

interface Vector {
  name: string;
  rows: BundleHashRow[];
  /** Raw payload JSON text per row (fed through canonicalizeJsonText on the wire path). */
  payloadTexts?: (string | undefined)[];
  text?: string;
  bytes: number;
  sha256: string;
}

const VECTOR_4_PAYLOAD =
  '{"a":12.50,"b":1e21,"c":0.0000001,"d":9007199254740993,"e":-0,"f":100,"g":"\u2028é😀"}';

const VECTORS: Vector[] = [
  {
    name: 'vector 1 (simple insert)',
    rows: [
      {
        schema: 'public',
        table: 'users',
        key: { id: 'row-1' },
        op: 'INSERT',
        row_version: 3,
        payload: { name: 'Alice', email: 'alice@example.com' },
      },
    ],
    text: '[{"key":{"id":"row-1"},"op":"INSERT","payload":{"email":"alice@example.com","name":"Alice"},"row_ordinal":0,"row_version":3,"schema":"public","table":"users"}]',
    bytes: 159,
    sha256: '677c5687bb91a8c2d34bc9e2e4f8c1d47981957bd876ba090c39b5e263d26b78',
  },
  {
    name: 'vector 2 (update + delete)',
    rows: [
      {
        schema: 'business',
        table: 'users',
        key: { id: '550e8400-e29b-41d4-a716-446655440000' },
        op: 'UPDATE',
        row_version: 7,
        payload: {
          score: 1.5,
          note: null,
          name: 'Ada',
          id: '550e8400-e29b-41d4-a716-446655440000',
          data: 'AAEC',
          active: true,
        },
      },
      {
        schema: 'business',
        table: 'posts',
        key: { id: 'doc-42' },
        op: 'DELETE',
        row_version: 7,
        payload: null,
      },
    ],
    text: '[{"key":{"id":"550e8400-e29b-41d4-a716-446655440000"},"op":"UPDATE","payload":{"active":true,"data":"AAEC","id":"550e8400-e29b-41d4-a716-446655440000","name":"Ada","note":null,"score":1.5},"row_ordinal":0,"row_version":7,"schema":"business","table":"users"},{"key":{"id":"doc-42"},"op":"DELETE","payload":null,"row_ordinal":1,"row_version":7,"schema":"business","table":"posts"}]',
    bytes: 379,
    sha256: 'cd13d6d6dea78de1bb598da8752b188bc2f44d43318c1b2b6aed0edfa311c985',
  },
  {
    name: 'vector 3 (HTML escaping)',
    rows: [
      {
        schema: 'public',
        table: 'notes',
        key: { id: 'n1' },
        op: 'INSERT',
        row_version: 1,
        payload: JSON.parse('{"body":"a<b && c>d","id":"n1"}') as JsonObject,
      },
    ],
    payloadTexts: ['{"body":"a<b && c>d","id":"n1"}'],
    text: '[{"key":{"id":"n1"},"op":"INSERT","payload":{"body":"a\\u003cb \\u0026\\u0026 c\\u003ed","id":"n1"},"row_ordinal":0,"row_version":1,"schema":"public","table":"notes"}]',
    bytes: 163,
    sha256: '9a08c4dee498686fc1bf3e7321bd267d55f71ce8380d195074265cd3dd7e5144',
  },
  {
    name: 'vector 4 (numbers, -0, U+2028, non-ASCII)',
    rows: [
      {
        schema: 'public',
        table: 'nums',
        key: { id: 'x' },
        op: 'INSERT',
        row_version: 2,
        payload: JSON.parse(VECTOR_4_PAYLOAD) as JsonObject,
      },
    ],
    payloadTexts: [VECTOR_4_PAYLOAD],
    text: '[{"key":{"id":"x"},"op":"INSERT","payload":{"a":12.5,"b":1e+21,"c":1e-7,"d":9007199254740992,"e":-0,"f":100,"g":"\\u2028é😀"},"row_ordinal":0,"row_version":2,"schema":"public","table":"nums"}]',
    bytes: 194,
    sha256: '71b2c8422ac0e2d11347e4e9dd71cb1d17165d61708ef9d54dcc2ed9546833ad',
  },
];

describe('bundle_hash test vectors (wire-protocol.md §12)', () => {
  describe.each(VECTORS)('$name', (vector) => {
    it('builds the canonical text from parsed rows', () => {
      const text = canonicalBundleText(vector.rows);
      expect(text).toBe(vector.text);
      expect(utf8Encode(text).length).toBe(vector.bytes);
    });

    it('hashes parsed rows', () => {
      expect(computeBundleHash(vector.rows)).toBe(vector.sha256);
    });

    it('produces the same text and hash on the wire fast path', () => {
      const wire = vector.rows.map((row, i) => toWire(row, vector.payloadTexts?.[i]));
      expect(canonicalBundleTextFromWire(wire)).toBe(vector.text);
      expect(computeBundleHashFromWire(wire)).toBe(vector.sha256);
    });

    it('reports hash and byte count together', () => {
      expect(digestCanonicalText(canonicalBundleText(vector.rows))).toEqual({
        bundleHash: vector.sha256,
        byteCount: vector.bytes,
      });
    });
  });
});

describe('canonicalBundleText', () => {
  const rows: BundleHashRow[] = [
    {
      schema: 'public',
      table: 't',
      key: { k: 'a&b' },
      op: 'UPDATE',
      row_version: 12,
      payload: { z: [1, -0, { y: 'é', b: '\u0001' }], a: { '\u{1F600}': 1, '\uffff': 2 } },
    },
    { schema: 'public', table: 't', key: { k: 'gone' }, op: 'DELETE', row_version: 12 },
    { schema: 'other', table: 'u', key: { id: '1' }, op: 'INSERT', row_version: 12, payload: {} },
  ];

  it('equals canonical JSON of the seven-key objects with 0-based row_ordinal', () => {
    const objects: JsonValue[] = rows.map((row, i) => ({
      table: row.table,
      schema: row.schema,
      row_version: row.row_version,
      row_ordinal: i,
      payload: row.payload ?? null,
      op: row.op,
      key: row.key,
    }));
    expect(canonicalBundleText(rows)).toBe(canonicalJson(objects));
  });

  it('matches the wire fast path on mixed rows', () => {
    expect(canonicalBundleTextFromWire(rows.map((row) => toWire(row)))).toBe(canonicalBundleText(rows));
    expect(computeBundleHashFromWire(rows.map((row) => toWire(row)))).toBe(computeBundleHash(rows));
  });

  it('treats an omitted DELETE payload (wire BundleRow) as null', () => {
    const row: BundleRow = { schema: 's', table: 't', key: { id: 'k' }, op: 'DELETE', row_version: 5 };
    expect(canonicalBundleText([row])).toContain('"payload":null,"row_ordinal":0');
  });

  it('renders an empty bundle as []', () => {
    expect(canonicalBundleText([])).toBe('[]');
    expect(canonicalBundleTextFromWire([])).toBe('[]');
  });

  it('changes the hash when any field changes', () => {
    const base = computeBundleHash(rows);
    expect(computeBundleHash([rows[1], rows[0], rows[2]])).not.toBe(base);
    expect(computeBundleHash([{ ...rows[0], row_version: 13 }, rows[1], rows[2]])).not.toBe(base);
  });
});
