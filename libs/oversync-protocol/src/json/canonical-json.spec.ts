import {
  canonicalizeJsonText,
  canonicalJson,
  canonicalJsonNumber,
  canonicalJsonString,
  compareUtf8,
  NonFiniteNumberError,
} from './canonical-json.js';
import type { JsonValue } from './json.types.js';

describe('canonicalJsonString (Go encoding/json escaping)', () => {
  it.each([
    ['plain', 'hello', '"hello"'],
    ['quote', 'a"b', '"a\\"b"'],
    ['backslash', 'a\\b', '"a\\\\b"'],
    ['newline', '\n', '"\\n"'],
    ['carriage return', '\r', '"\\r"'],
    ['tab', '\t', '"\\t"'],
    ['backspace', '\b', '"\\b"'],
    ['form feed', '\f', '"\\f"'],
    ['NUL', '\u0000', '"\\u0000"'],
    ['vertical tab', '\u000b', '"\\u000b"'],
    ['ESC uses lowercase hex', '\u001b', '"\\u001b"'],
    ['unit separator', '\u001f', '"\\u001f"'],
    ['less-than', '<', '"\\u003c"'],
    ['greater-than', '>', '"\\u003e"'],
    ['ampersand', '&', '"\\u0026"'],
    ['line separator', '\u2028', '"\\u2028"'],
    ['paragraph separator', '\u2029', '"\\u2029"'],
    ['DEL stays raw', '\u007f', '"\u007f"'],
    ['slash stays raw', 'a/b', '"a/b"'],
    ['non-ASCII stays raw', 'é€', '"é€"'],
    ['surrogate pair stays raw', '😀', '"😀"'],
    ['U+FFFD stays raw', '\ufffd', '"\ufffd"'],
    ['lone high surrogate → U+FFFD', 'a\ud800b', '"a\ufffdb"'],
    ['lone low surrogate → U+FFFD', 'a\udc00b', '"a\ufffdb"'],
    ['trailing high surrogate → U+FFFD', 'x\ud83d', '"x\ufffd"'],
    ['reversed pair → two U+FFFD', '\ude00\ud83d', '"\ufffd\ufffd"'],
    ['mixed', 'a<\n>"😀&', '"a\\u003c\\n\\u003e\\"😀\\u0026"'],
  ])('%s', (_name, input, expected) => {
    expect(canonicalJsonString(input)).toBe(expected);
  });

  it('escapes every control character below 0x20 and nothing else in ASCII except " \\ < > &', () => {
    for (let c = 0; c < 0x80; c++) {
      const ch = String.fromCharCode(c);
      const out = canonicalJsonString(ch);
      const escaped = c < 0x20 || '"\\<>&'.includes(ch);
      expect(out === `"${ch}"`).toBe(!escaped);
      expect(JSON.parse(out)).toBe(ch);
    }
  });
});

describe('canonicalJsonNumber', () => {
  it.each([
    [0, '0'],
    [-0, '-0'],
    [12.5, '12.5'],
    [100, '100'],
    [-3, '-3'],
    [1e21, '1e+21'],
    [1e20, '100000000000000000000'],
    [1e-7, '1e-7'],
    [1.5e-7, '1.5e-7'],
    [0.000001, '0.000001'],
    [9007199254740993, '9007199254740992'],
    [5e-324, '5e-324'],
    [1.7976931348623157e308, '1.7976931348623157e+308'],
    [0.1 + 0.2, '0.30000000000000004'],
  ])('%p → %s', (input, expected) => {
    expect(canonicalJsonNumber(input)).toBe(expected);
  });

  it.each([NaN, Infinity, -Infinity])('rejects %p', (input) => {
    expect(() => canonicalJsonNumber(input)).toThrow(NonFiniteNumberError);
  });
});

describe('compareUtf8', () => {
  it('orders U+FFFF before U+1F600 (UTF-16 order would not)', () => {
    expect(compareUtf8('\uffff', '\u{1F600}')).toBeLessThan(0);
    expect(compareUtf8('\u{1F600}', '\uffff')).toBeGreaterThan(0);
    expect('\u{1F600}' < '\uffff').toBe(true); // the UTF-16 order this comparator corrects
  });

  it('orders like the UTF-8 bytes for assorted strings', () => {
    const words = [
      'b',
      'a',
      '',
      'ab',
      '\u00e9',
      '\ue000',
      '\u{10000}',
      '\ud7ff',
      'Z',
      '10',
      '9',
      '\u{1F600}x',
    ];
    const byBytes = [...words].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    expect([...words].sort(compareUtf8)).toEqual(byBytes);
  });

  it('returns 0 for equal strings', () => {
    expect(compareUtf8('same', 'same')).toBe(0);
  });
});

describe('canonicalJson', () => {
  it('sorts keys by UTF-8 byte order, recursively, without whitespace', () => {
    const value: JsonValue = {
      b: 1,
      a: { d: [3, { z: null, y: true }], c: false },
      '\u{1F600}': 1,
      '\uffff': 2,
    };
    expect(canonicalJson(value)).toBe(
      '{"a":{"c":false,"d":[3,{"y":true,"z":null}]},"b":1,"\uffff":2,"\u{1F600}":1}',
    );
  });

  it('sorts integer-like keys as strings, not numerically', () => {
    expect(canonicalJson({ b: 1, 10: 2, 9: 3 })).toBe('{"10":2,"9":3,"b":1}');
  });

  it('escapes keys like values', () => {
    expect(canonicalJson({ '<k>': 'a&b' })).toBe('{"\\u003ck\\u003e":"a\\u0026b"}');
  });

  it('renders empty containers, null and booleans', () => {
    expect(canonicalJson({ a: [], b: {}, c: null, d: true, e: false })).toBe(
      '{"a":[],"b":{},"c":null,"d":true,"e":false}',
    );
    expect(canonicalJson([])).toBe('[]');
    expect(canonicalJson('x')).toBe('"x"');
  });

  it('skips undefined properties and writes undefined array slots as null', () => {
    expect(canonicalJson({ a: undefined, b: 1 })).toBe('{"b":1}');
    expect(canonicalJson({ a: undefined })).toBe('{}');
    expect(canonicalJson([1, undefined as unknown as JsonValue, 2])).toBe('[1,null,2]');
  });

  it('throws on non-finite numbers anywhere in the tree', () => {
    expect(() => canonicalJson({ a: [1, NaN] })).toThrow(RangeError);
  });

  it('throws on values JSON cannot hold', () => {
    expect(() => canonicalJson({ f: (() => 1) as unknown as JsonValue })).toThrow(TypeError);
    expect(() => canonicalJson(10n as unknown as JsonValue)).toThrow(TypeError);
  });

  it('round-trips through JSON.parse and is idempotent on a pseudo-random corpus', () => {
    let seed = 42;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    const alphabet = ['a', 'Z', '<', '&', '"', '\\', '\n', '\u0001', 'é', '\u2028', '😀', '\uffff', ' '];
    const str = () => Array.from({ length: rand(6) }, () => alphabet[rand(alphabet.length)]).join('');
    const gen = (depth: number): JsonValue => {
      switch (rand(depth > 2 ? 4 : 6)) {
        case 0:
          return str();
        case 1:
          return (rand(2000) - 1000) / (rand(7) + 1);
        case 2:
          return rand(2) === 0;
        case 3:
          return null;
        case 4:
          return Array.from({ length: rand(4) }, () => gen(depth + 1));
        default:
          return Object.fromEntries(Array.from({ length: rand(5) }, () => [str(), gen(depth + 1)]));
      }
    };
    for (let i = 0; i < 300; i++) {
      const value = gen(0);
      const text = canonicalJson(value);
      expect(JSON.parse(text)).toEqual(value);
      expect(canonicalizeJsonText(text)).toBe(text);
      expect(text).not.toMatch(/[<>&\u2028\u2029\n]/);
    }
  });
});

describe('canonicalizeJsonText', () => {
  it('normalises whitespace, key order and numbers like Go', () => {
    expect(canonicalizeJsonText(' { "b" : [1, 2.50, {"z":true, "a":null}], "a":"x", "n": -0 } ')).toBe(
      '{"a":"x","b":[1,2.5,{"a":null,"z":true}],"n":-0}',
    );
    expect(canonicalizeJsonText('[1E2, 1e-7, 0.0000001, 1e21, 123e-2]')).toBe('[100,1e-7,1e-7,1e+21,1.23]');
  });

  it('keeps the last of duplicate keys, as Go does', () => {
    expect(canonicalizeJsonText('{"a":1,"b":0,"a":2}')).toBe('{"a":2,"b":0}');
  });

  it('decodes escapes and re-escapes the Go way', () => {
    expect(canonicalizeJsonText('"\\u003c\\/\\u00e9\\ud83d\\ude00\\u2029"')).toBe('"\\u003c/é😀\\u2029"');
  });

  it('replaces lone surrogate escapes by U+FFFD, in keys too (then sorts the replaced key)', () => {
    expect(canonicalizeJsonText('"\\ud800"')).toBe('"\ufffd"');
    expect(canonicalizeJsonText('{"\\udfff":1,"\\uffff":2,"a":3}')).toBe('{"a":3,"\ufffd":1,"\uffff":2}');
  });

  it('keeps a __proto__ key as ordinary data', () => {
    expect(canonicalizeJsonText('{"b":1,"__proto__":{"x":1}}')).toBe('{"__proto__":{"x":1},"b":1}');
    expect(canonicalizeJsonText('{"\\ud800":0,"__proto__":1}')).toBe('{"__proto__":1,"\ufffd":0}');
  });

  it('rejects invalid JSON and float64 overflow', () => {
    expect(() => canonicalizeJsonText('{"a":}')).toThrow(SyntaxError);
    expect(() => canonicalizeJsonText('1e400')).toThrow(RangeError);
  });
});

describe('canonicalJson of deeply nested values (Go decodes up to 10,000 levels)', () => {
  it('serialises 5,000 levels of arrays and objects without overflowing the stack', () => {
    const depth = 5000;
    const arrays = '['.repeat(depth) + '1' + ']'.repeat(depth);
    const objects = '{"a":'.repeat(depth) + '"<"' + '}'.repeat(depth);
    expect(canonicalizeJsonText(arrays)).toBe(arrays);
    expect(canonicalizeJsonText(objects)).toBe('{"a":'.repeat(depth) + '"\\u003c"' + '}'.repeat(depth));
  });

  it('renders a subtree below the recursion limit exactly as it renders it at the top', () => {
    const subtree = JSON.parse(
      '{"z":[-0,1e21,12.50,"\\u2028<&>",null,true],"\\udc00":"lone","a":{"\\ufffd":1,"\\ud800":2},"é":{},"b":[[],{}]}',
    ) as JsonValue;
    const wrap = (levels: number): JsonValue => {
      let value: JsonValue = subtree;
      for (let i = 0; i < levels; i++) value = i % 2 === 0 ? [value] : { k: value };
      return value;
    };
    const inner = canonicalJson(subtree);
    for (const levels of [255, 256, 257, 600]) {
      let expected = inner;
      for (let i = 0; i < levels; i++) expected = i % 2 === 0 ? `[${expected}]` : `{"k":${expected}}`;
      expect(canonicalJson(wrap(levels))).toBe(expected);
    }
  });
});
