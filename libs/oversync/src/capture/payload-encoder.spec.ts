import { canonicalJson, type JsonObject } from '@oversync/protocol';
import type { CatalogTable } from '../schema/table-catalog.js';
import { TablePayloadEncoder } from './payload-encoder.js';

const table = {
  schema: 'public',
  table: 't',
  keyColumn: 'id',
  byteaColumns: ['data'],
} as unknown as CatalogTable;

describe('TablePayloadEncoder', () => {
  it('produces exactly the generic canonical text for awkward values', () => {
    const enc = new TablePayloadEncoder(table);
    const images = [
      {
        _sync_scope_id: 'u',
        id: 'a',
        note: 'a<b>&c "q" \\ \n',
        n: -0,
        big: 9007199254740993,
        f: 1e21,
        tiny: 1e-7,
        data: '\\x00ff',
        j: { z: 1, a: [2.5, 'é😀'] },
        nul: null,
        t: true,
      },
      {
        _sync_scope_id: 'u',
        id: 'b',
        note: 'plain',
        n: 12.5,
        big: 1,
        f: 0,
        tiny: 0,
        data: null,
        j: [],
        nul: null,
        t: false,
      },
      {
        _sync_scope_id: 'u',
        id: 'c',
        note: '\u2028\ud800',
        n: 1,
        big: 2,
        f: 3,
        tiny: 4,
        data: '\\x',
        j: {},
        nul: null,
        t: true,
      },
    ];
    for (const image of images) {
      const { object, text } = enc.encode(JSON.stringify(image).replace('"n":0', '"n":-0'));
      const expected = { ...image } as JsonObject;
      delete expected._sync_scope_id;
      if (typeof expected.data === 'string')
        expected.data = Buffer.from(expected.data.slice(2), 'hex').toString('base64');
      expect(object).not.toHaveProperty('_sync_scope_id');
      expect(text).toBe(
        canonicalJson(JSON.parse(JSON.stringify(expected).replace('"n":0', '"n":-0')) as JsonObject),
      );
    }
  });

  it('falls back to the generic path when a row has a different column set', () => {
    const enc = new TablePayloadEncoder(table);
    enc.encode('{"_sync_scope_id":"u","b":1,"a":2}');
    expect(enc.encode('{"_sync_scope_id":"u","b":1,"a":2,"c":3}').text).toBe('{"a":2,"b":1,"c":3}');
    expect(enc.encode('{"_sync_scope_id":"u","b":1,"a":2}').text).toBe('{"a":2,"b":1}');
  });
});
