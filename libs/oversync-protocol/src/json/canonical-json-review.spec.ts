/**
 * Canonical JSON against expectations derived independently from Go's rules (go-oversync hashes
 * `json.Unmarshal` into `any`, then `json.Marshal` per value with keys in `sort.Strings` order):
 *
 * - numbers: encoding/json's float encoder = `strconv.AppendFloat(f, 'f' or 'e', -1, 64)` (shortest
 *   digits that read back, the closest of them, ties to even), `'e'` when |f| < 1e-6 or ≥ 1e21,
 *   then `e-0X` shortened to `e-X`. The digits are derived here with exact BigInt arithmetic, not
 *   with `String(number)`;
 * - strings: `appendString` with HTML escaping, after the decoder replaced invalid UTF-16 by U+FFFD;
 * - keys: byte order of their UTF-8 encodings (`Buffer.compare`).
 */
import fc from 'fast-check';
import {
  canonicalJson,
  canonicalJsonNumber,
  canonicalJsonString,
  canonicalizeJsonText,
} from './canonical-json.js';

const view = new DataView(new ArrayBuffer(8));

/** x = m × 2^e exactly (x > 0 and finite). */
function exactParts(x: number): { m: bigint; e: number } {
  view.setFloat64(0, x);
  const hi = view.getUint32(0);
  const biased = (hi >>> 20) & 0x7ff;
  const m = (BigInt(hi & 0xfffff) << 32n) | BigInt(view.getUint32(4));
  return biased === 0 ? { m, e: -1074 } : { m: m | (1n << 52n), e: biased - 1075 };
}

/** Shortest digits that read back as x (> 0), the closest of them, ties to the even one. */
function shortestDigits(x: number): { digits: string; exponent: number } {
  const { m, e } = exactParts(x);
  const k = Number(x.toExponential(20).split('e')[1]); // decimal exponent of the leading digit
  for (let p = 1; p <= 17; p++) {
    const t = k - p + 1; // candidates are c × 10^t with c of p digits
    const num = m * 2n ** BigInt(Math.max(e, 0)) * 10n ** BigInt(Math.max(-t, 0));
    const den = 2n ** BigInt(Math.max(-e, 0)) * 10n ** BigInt(Math.max(t, 0));
    const down = num / den;
    const rest = num % den;
    const readsBack = (c: bigint) => Number(`${c}e${t}`) === x;
    const [okDown, okUp] = [readsBack(down), readsBack(down + 1n)];
    let chosen: bigint | undefined;
    if (okDown && okUp) {
      if (2n * rest !== den) chosen = 2n * rest < den ? down : down + 1n;
      else chosen = down % 2n === 0n ? down : down + 1n;
    } else if (okDown || okUp) {
      chosen = okDown ? down : down + 1n;
    }
    if (chosen === undefined) continue;
    const text = chosen.toString();
    return { digits: text.replace(/0+$/, ''), exponent: t + text.length - 1 };
  }
  throw new Error(`no shortest form for ${x}`);
}

/** Go's `json.Marshal(float64)`, rebuilt from the rules above. */
function goJsonFloat(x: number): string {
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  const sign = x < 0 ? '-' : '';
  const abs = Math.abs(x);
  const { digits, exponent } = shortestDigits(abs);
  if (abs < 1e-6 || abs >= 1e21) {
    const mantissa = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const exp = String(Math.abs(exponent)).padStart(2, '0'); // strconv pads to two digits
    return `${sign}${mantissa}e${exponent < 0 ? '-' : '+'}${exp}`.replace(/e-0(\d)$/, 'e-$1');
  }
  const point = exponent + 1;
  if (point >= digits.length) return sign + digits + '0'.repeat(point - digits.length);
  if (point > 0) return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
  return `${sign}0.${'0'.repeat(-point)}${digits}`;
}

/** Go's `appendString(…, escapeHTML=true)` over the decoded (well-formed) string. */
function goJsonString(value: string): string {
  const short: Record<number, string> = {
    8: '\\b',
    9: '\\t',
    10: '\\n',
    12: '\\f',
    13: '\\r',
    34: '\\"',
    92: '\\\\',
  };
  let out = '"';
  for (const ch of value) {
    let cp = ch.codePointAt(0)!;
    if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd; // a lone surrogate: Go's decoder yields U+FFFD
    if (short[cp] !== undefined) out += short[cp];
    else if (cp < 0x20 || cp === 0x3c || cp === 0x3e || cp === 0x26 || cp === 0x2028 || cp === 0x2029) {
      out += `\\u${cp.toString(16).padStart(4, '0')}`;
    } else out += String.fromCodePoint(cp);
  }
  return out + '"';
}

const bitsToDouble = (hi: number, lo: number): number => {
  view.setUint32(0, hi);
  view.setUint32(4, lo);
  return view.getFloat64(0);
};

describe('canonicalJsonNumber = Go encoding/json float64 formatting (independent derivation)', () => {
  it.each([
    [1e21, '1e+21'],
    [1e-7, '1e-7'],
    [-0, '-0'],
    [5e-324, '5e-324'],
    [2 ** 53 + 1, '9007199254740992'],
    [2 ** 64, '18446744073709552000'],
    [2 ** 70, '1.1805916207174113e+21'],
    [1e-6, '0.000001'],
    [9.999999999999997e-7, '9.999999999999997e-7'], // the double just below 1e-6
    [999999999999999900000, '999999999999999900000'], // the double just below 1e21
    [1.7976931348623157e308, '1.7976931348623157e+308'],
    [2.2250738585072014e-308, '2.2250738585072014e-308'],
    [-1.5e-10, '-1.5e-10'],
    [761391199845751.25, '761391199845751.2'], // exact tie between …1.2 and …1.3: the even one
  ])('%p → %s', (value, expected) => {
    expect(goJsonFloat(value)).toBe(expected); // the derivation agrees with hand-written Go output
    expect(canonicalJsonNumber(value)).toBe(expected);
  });

  it('agrees with the derivation on arbitrary bit patterns, integers, decimals and powers of two', () => {
    const anyDouble = fc
      .tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffffffff }))
      .map(([hi, lo]) => bitsToDouble(hi, lo))
      .filter(Number.isFinite);
    const decimal = fc
      .tuple(fc.integer({ min: -999999999, max: 999999999 }), fc.integer({ min: -340, max: 320 }))
      .map(([m, e]) => Number(`${m}e${e}`))
      .filter(Number.isFinite);
    const power = fc.integer({ min: -1074, max: 1023 }).map((e) => 2 ** e);
    const integer = fc.bigInt({ min: -(2n ** 80n), max: 2n ** 80n }).map((n) => Number(n));
    fc.assert(
      fc.property(fc.oneof(anyDouble, decimal, power, integer), (x) => {
        expect(canonicalJsonNumber(x)).toBe(goJsonFloat(x));
      }),
      { numRuns: 20000 },
    );
  });
});

describe('canonicalJsonString = Go appendString with HTML escaping (independent derivation)', () => {
  const chars = fc.constantFrom(
    ...'\u0000\u0001\b\t\n\u000b\f\r\u001f "\\/<>&\u007f\u0080é\u2027\u2028\u2029\u202a\ufeff\ufffd\uffff'.split(
      '',
    ),
    '\ud800', // lone high surrogate
    '\udfff', // lone low surrogate
    '\ud83d\ude00', // U+1F600
    '\udbff\udfff', // U+10FFFF
    'a',
    'Z',
  );

  it.each([
    ['a<b && c>d', '"a\\u003cb \\u0026\\u0026 c\\u003ed"'],
    ['\u2028\u2029', '"\\u2028\\u2029"'],
    ['\b\f\n\r\t\u0000\u001f\u007f', '"\\b\\f\\n\\r\\t\\u0000\\u001f\u007f"'],
    ['x\ud800y\udc00z', '"x\ufffdy\ufffdz"'],
    ['\udc00\ud800', '"\ufffd\ufffd"'],
    ['\ud800\ud800\udc00', '"\ufffd\ud800\udc00"'],
  ])('%j → %s', (value, expected) => {
    expect(goJsonString(value)).toBe(expected);
    expect(canonicalJsonString(value)).toBe(expected);
  });

  it('agrees with the derivation on strings of escapable, astral and broken characters', () => {
    fc.assert(
      fc.property(fc.array(chars, { maxLength: 24 }), (parts) => {
        const value = parts.join('');
        expect(canonicalJsonString(value)).toBe(goJsonString(value));
      }),
      { numRuns: 5000 },
    );
  });
});

describe('canonicalJson key order = sort.Strings over UTF-8 bytes', () => {
  const keyChar = fc.constantFrom(
    'a',
    'B',
    '_',
    '0',
    'é',
    '\u00ff',
    '\u4e2d',
    '\ue000',
    '\uffff',
    '\ud83d\ude00',
    '\ud800\udc00',
  );
  const key = fc.array(keyChar, { maxLength: 4 }).map((p) => p.join(''));

  it('orders object members by the bytes of their keys, at every depth', () => {
    fc.assert(
      fc.property(fc.uniqueArray(key, { maxLength: 12 }), (keys) => {
        const expected = [...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
        const obj = Object.fromEntries(keys.map((k, i) => [k, i]));
        const members = expected.map((k) => `${goJsonString(k)}:${keys.indexOf(k)}`).join(',');
        expect(canonicalJson(obj)).toBe(`{${members}}`);
        expect(canonicalJson({ nested: [obj] })).toBe(`{"nested":[{${members}}]}`);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('canonicalizeJsonText = Go json.Unmarshal into any, then the canonical encoder', () => {
  it.each([
    ['{"b":1,"a":2}', '{"a":2,"b":1}'],
    [
      '[1E+2, 1e-400, -1e-400, 0.1e1, 12.50, 123456789012345678901234567890]',
      '[100,0,-0,1,12.5,1.2345678901234568e+29]',
    ],
    [
      '[9007199254740993, 18446744073709551615, -9223372036854775808]',
      '[9007199254740992,18446744073709552000,-9223372036854776000]',
    ],
    ['{"\\ud800":1,"\\ufffd":2}', '{"\ufffd":2}'],
    ['{"\\ufffd":2,"\\ud800":1}', '{"\ufffd":1}'],
    ['"\\u002f\\/"', '"//"'],
    ['{"\\u00e9":"\\u00E9","\\uD83D\\uDE00":"\\u2028"}', '{"é":"é","😀":"\\u2028"}'],
  ])('%s → %s', (text, expected) => {
    expect(canonicalizeJsonText(text)).toBe(expected);
  });

  it('refuses a number that overflows float64, as Go does (UnmarshalTypeError)', () => {
    expect(() => canonicalizeJsonText('{"n":1e309}')).toThrow(RangeError);
  });
});
