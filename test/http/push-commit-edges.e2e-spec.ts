/**
 * Commit edges over real HTTP: a committed bundle's hash, recomputed by the client's canonical
 * serializer over the rows it fetches, matches the server's for values PostgreSQL coerces or
 * renders differently from what was pushed (numeric precision, timestamps, bytea, json, booleans).
 */
import { computeBundleHash } from '@oversync/protocol';
import { createOversyncTestApp, type OversyncTestApp } from '../support/oversync-app.js';
import { fetchCommittedRows, newId, pushOk, readyUser } from '../support/push-builders.js';

describe('committed bundle hash over coerced values', () => {
  let t: OversyncTestApp;
  let schema: string;

  beforeAll(async () => {
    t = await createOversyncTestApp({ listen: true });
    schema = t.schema;
  });
  afterAll(async () => {
    await t.close();
  });

  const typedRow = (payload: Record<string, unknown>) => {
    const id = newId();
    return {
      schema,
      table: 'typed_rows',
      key: { id },
      op: 'INSERT',
      base_row_version: 0,
      payload: { id, name: 'n', enabled_flag: 1, ...payload },
    };
  };

  it.each<[string, Record<string, unknown>, Record<string, unknown>]>([
    [
      'numeric beyond float64',
      { amount: '12345678901234567890.123456789' },
      { amount: 12345678901234567000 },
    ],
    ['bigint beyond 2^53', { count_value: '9007199254740993' }, { count_value: 9007199254740992 }],
    ['exponent forms', { rating: 1e21, amount: 1e-7 }, { rating: 1e21, amount: 1e-7 }],
    ['negative zero', { rating: -0, count_value: -0 }, { rating: 0, count_value: 0 }],
    [
      'a timestamp with an offset and nanoseconds',
      { created_at: '2026-03-24T10:42:11.1234567-08:00' },
      { created_at: '2026-03-24T18:42:11.123457+00:00' },
    ],
    ['bytea', { data: 'AAEC/w==' }, { data: 'AAEC/w==' }],
    ['a boolean from text', { active: 'true' }, { active: true }],
    [
      'json with unsorted, astral and HTML-significant keys and values',
      {
        tags: { b: [1.1, 1e21, '<>&\u2028'], '\uffff': 1, '\ud83d\ude00': 2, a: { y: 12345678901234567890 } },
      },
      {
        tags: { a: { y: 12345678901234567000 }, b: [1.1, 1e21, '<>&\u2028'], '\uffff': 1, '\ud83d\ude00': 2 },
      },
    ],
    ['text with escapes', { note: '<a>&\u2029\u0001' }, { note: '<a>&\u2029\u0001' }],
    // Go's decoder turns a lone UTF-16 surrogate into U+FFFD; PostgreSQL's JSON refuses its escape.
    // A payload of plain values is staged with JSON.stringify, which escapes it (\ud800), so that
    // path must hand such a payload to canonicalisation.
    ['lone surrogates in text', { note: 'a\ud800b\udc00c' }, { note: 'a\ufffdb\ufffdc' }],
    ['a lone surrogate inside json', { tags: { k: '\udbff' } }, { tags: { k: '\ufffd' } }],
  ])('verifies for %s', async (_name, pushed, committed) => {
    const { c } = await readyUser(t.baseUrl, 'writer');
    const commit = await pushOk(c, 1, [typedRow(pushed)]);
    const { rows } = await fetchCommittedRows(c, commit.bundle_seq as number);
    expect(rows[0].payload).toMatchObject(committed);
    expect(computeBundleHash(rows)).toBe(commit.bundle_hash);
  });
});
