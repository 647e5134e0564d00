import { foldWireFields, wireFieldNames } from './wire-field-names.util.js';

const names = wireFieldNames(['source_bundle_id', 'planned_row_count', 'schema', 'key']);

describe('foldWireFields (Go encoding/json field matching)', () => {
  it('returns the object itself when every key is already exact', () => {
    const plain = { source_bundle_id: 1, planned_row_count: 2 };
    expect(foldWireFields(plain, names)).toBe(plain);
  });

  it('matches field names case-insensitively, keeping unknown keys as sent', () => {
    expect(foldWireFields({ Source_Bundle_Id: 1, PLANNED_ROW_COUNT: 2, Extra: true }, names)).toEqual({
      source_bundle_id: 1,
      planned_row_count: 2,
      Extra: true,
    });
  });

  it('folds the two non-ASCII letters Go folds into ASCII: ſ (U+017F) and the Kelvin sign (U+212A)', () => {
    expect(foldWireFields({ '\u017fchema': 'a', '\u212aey': 'k' }, names)).toEqual({ schema: 'a', key: 'k' });
  });

  it('lets the later of two spellings win, as Go assigns fields in document order', () => {
    expect(
      foldWireFields(
        JSON.parse('{"schema":"first","SCHEMA":"second"}') as object & Record<string, unknown>,
        names,
      ),
    ).toEqual({
      schema: 'second',
    });
  });

  it('keeps an own "__proto__" key as data, never as the prototype', () => {
    const folded = foldWireFields(
      JSON.parse('{"__proto__":{"polluted":true},"Schema":"s"}') as Record<string, unknown>,
      names,
    );
    expect(Object.getPrototypeOf(folded)).toBe(Object.prototype);
    expect(Object.hasOwn(folded, '__proto__')).toBe(true);
    expect(folded.schema).toBe('s');
  });
});
