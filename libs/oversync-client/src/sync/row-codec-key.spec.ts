import { type TableSpec } from '../schema/table-spec.js';
import { keyTextOf } from './row-codec.js';

const table = { keyColumn: { wireName: 'id' } } as unknown as TableSpec;

describe('keyTextOf', () => {
  it('reads the key column member of a key_json', () => {
    expect(keyTextOf(table, '{"id":"u1"}')).toBe('u1');
    expect(keyTextOf(table, '{"id":"a\\"b\\\\c"}')).toBe('a"b\\c');
  });

  it('reads the one member of a key_json captured under a key column renamed since', () => {
    expect(keyTextOf(table, '{"user_id":"u1"}')).toBe('u1');
  });
});
