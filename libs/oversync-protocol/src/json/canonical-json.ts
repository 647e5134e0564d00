import type { JsonObject, JsonValue } from './json.types.js';

// Characters Go's encoding/json escapes, plus lone UTF-16 surrogates (which Go can never see: its
// decoder turns them into U+FFFD). A non-global copy is used for `test` so no `lastIndex` state leaks.
const NEEDS_ESCAPE_SOURCE =
  '[\\u0000-\\u001f"\\\\<>&\\u2028\\u2029]|[\\ud800-\\udbff](?![\\udc00-\\udfff])|(?<![\\ud800-\\udbff])[\\udc00-\\udfff]';
const NEEDS_ESCAPE = new RegExp(NEEDS_ESCAPE_SOURCE);
const NEEDS_ESCAPE_GLOBAL = new RegExp(NEEDS_ESCAPE_SOURCE, 'g');
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const LONE_SURROGATE_GLOBAL = new RegExp(LONE_SURROGATE.source, 'g');
const HEX = '0123456789abcdef';

const ESCAPES: Readonly<Record<string, string>> = (() => {
  const table: Record<string, string> = {};
  for (let c = 0; c < 0x20; c++) {
    table[String.fromCharCode(c)] = `\\u00${HEX[c >> 4]}${HEX[c & 15]}`;
  }
  Object.assign(table, {
    '\b': '\\b',
    '\f': '\\f',
    '\n': '\\n',
    '\r': '\\r',
    '\t': '\\t',
    '"': '\\"',
    '\\': '\\\\',
    '<': '\\u003c',
    '>': '\\u003e',
    '&': '\\u0026',
    '\u2028': '\\u2028',
    '\u2029': '\\u2029',
  });
  return table;
})();

const escapeMatch = (m: string): string => ESCAPES[m] ?? '\ufffd';

/**
 * Serialises a string as a JSON string literal exactly like Go's `json.Marshal`: `\"`, `\\`, the
 * short escapes `\b \f \n \r \t`, other control characters as lowercase `\u00xx`, `<` `>` `&` as
 * `\u003c` `\u003e` `\u0026`, U+2028/U+2029 escaped, lone surrogates replaced by a raw U+FFFD, and
 * everything else emitted raw.
 *
 * @param value - the string to encode.
 * @returns the quoted, escaped literal.
 */
export function canonicalJsonString(value: string): string {
  if (!NEEDS_ESCAPE.test(value)) return `"${value}"`;
  return `"${value.replace(NEEDS_ESCAPE_GLOBAL, escapeMatch)}"`;
}

/** A number JSON cannot represent (`NaN`, `±Infinity`, e.g. `1e400` after `JSON.parse`). */
export class NonFiniteNumberError extends RangeError {
  override readonly name = 'NonFiniteNumberError';
}

/**
 * Formats a number the way Go's `encoding/json` formats a `float64`: shortest round-trip form with
 * the ES thresholds (`1e+21`, `1e-7`), except that `-0` prints as `-0`.
 *
 * @param value - a finite number.
 * @returns the JSON number text.
 * @throws NonFiniteNumberError (a RangeError) for `NaN` and `±Infinity`, which JSON cannot represent.
 */
export function canonicalJsonNumber(value: number): string {
  if (value === 0) return Object.is(value, -0) ? '-0' : '0';
  if (!Number.isFinite(value)) {
    throw new NonFiniteNumberError(
      `canonical JSON cannot represent the number ${String(value)}; use null or a string`,
    );
  }
  return String(value);
}

/**
 * Compares two strings by the byte order of their UTF-8 encodings (which is Unicode code point
 * order). Plain `<` or `Array#sort()` compare UTF-16 code units, which disagrees with UTF-8 when a
 * surrogate pair (U+10000 and above) meets a BMP character at or above U+E000.
 *
 * @returns a negative number, zero or a positive number, like any `sort` comparator.
 */
export function compareUtf8(a: string, b: string): number {
  const n = a.length < b.length ? a.length : b.length;
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) {
      if (x >= 0xd800 && y >= 0xd800) return utf8Rank(x) - utf8Rank(y);
      return x - y;
    }
  }
  return a.length - b.length;
}

// Moves surrogates (0xD800-0xDFFF) above 0xE000-0xFFFF so code units compare like code points.
function utf8Rank(unit: number): number {
  if (unit >= 0xe000) return unit - 0x800;
  if (unit >= 0xd800) return unit + 0x2000;
  return unit;
}

/**
 * Serialises a JSON value canonically, byte-compatible with go-oversync's canonicalisation (Go
 * `encoding/json` after decoding into generic values): no whitespace, object keys sorted by UTF-8
 * byte order at every depth, numbers as in {@link canonicalJsonNumber}, strings as in
 * {@link canonicalJsonString}. Properties whose value is `undefined` are skipped.
 *
 * @param value - the value to serialise.
 * @returns the canonical JSON text (a JS string; hash its UTF-8 bytes).
 * @throws RangeError for non-finite numbers; TypeError for values JSON cannot hold.
 */
export function canonicalJson(value: JsonValue): string {
  return write(value);
}

/**
 * Parses JSON text and re-serialises it canonically. Use this on raw text so that `-0`, `12.50` or
 * `1e21` are normalised exactly like the Go server does (`-0`, `12.5`, `1e+21`).
 *
 * @param text - JSON text.
 * @returns the canonical JSON text.
 * @throws SyntaxError when `text` is not valid JSON; RangeError when a number overflows float64.
 */
export function canonicalizeJsonText(text: string): string {
  return write(JSON.parse(text) as JsonValue);
}

// Nesting handled by plain recursion; deeper values continue on an explicit stack (Go decodes up
// to 10,000 levels, more than the JS stack holds), so the common shallow case keeps its speed.
const RECURSION_LIMIT = 256;

function write(value: JsonValue, depth = 0): string {
  switch (typeof value) {
    case 'string':
      return canonicalJsonString(value);
    case 'number':
      return canonicalJsonNumber(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      if (value === null) return 'null';
      if (depth >= RECURSION_LIMIT) return writeIteratively(value);
      return Array.isArray(value) ? writeArray(value, depth) : writeObject(value, depth);
    default:
      throw new TypeError(`canonical JSON cannot represent a value of type ${typeof value}`);
  }
}

function writeArray(values: readonly JsonValue[], depth: number): string {
  const n = values.length;
  if (n === 0) return '[]';
  let out = '[' + write(values[0] ?? null, depth + 1);
  for (let i = 1; i < n; i++) out += ',' + write(values[i] ?? null, depth + 1);
  return out + ']';
}

function writeObject(obj: JsonObject, depth: number): string {
  const keys = Object.keys(obj);
  if (!isSortedUtf8(keys)) keys.sort(compareUtf8);
  let out = '{';
  for (const key of keys) {
    const child = obj[key];
    if (child === undefined) continue;
    const prefix = keyPrefix(key);
    if (prefix === null) return writeObject(withoutLoneSurrogateKeys(obj), depth);
    out += (out.length === 1 ? '' : ',') + prefix + write(child, depth + 1);
  }
  return out + '}';
}

/** One open array or object of {@link writeIteratively}: its members, their `"key":` prefixes. */
interface OpenContainer {
  members: JsonValue[];
  prefixes: string[] | null;
  next: number;
  close: string;
}

/** {@link write} for any depth, on an explicit stack instead of the call stack. */
function writeIteratively(root: JsonValue): string {
  const out: string[] = [];
  const stack: OpenContainer[] = [];
  const open = (value: JsonValue): void => {
    if (value === null || typeof value !== 'object') {
      out.push(write(value));
    } else if (Array.isArray(value)) {
      out.push('[');
      stack.push({ members: Array.from(value, (v) => v ?? null), prefixes: null, next: 0, close: ']' });
    } else {
      let obj = value;
      let keys = Object.keys(obj).filter((k) => obj[k] !== undefined);
      if (keys.some((k) => LONE_SURROGATE.test(k))) {
        obj = withoutLoneSurrogateKeys(obj);
        keys = Object.keys(obj);
      }
      keys.sort(compareUtf8);
      out.push('{');
      stack.push({
        members: keys.map((k) => obj[k] as JsonValue),
        prefixes: keys.map((k) => canonicalJsonString(k) + ':'),
        next: 0,
        close: '}',
      });
    }
  };
  open(root);
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    if (top.next === top.members.length) {
      out.push(top.close);
      stack.pop();
      continue;
    }
    if (top.next > 0) out.push(',');
    if (top.prefixes) out.push(top.prefixes[top.next]);
    open(top.members[top.next++]);
  }
  return out.join('');
}

// Go decodes a lone surrogate to U+FFFD before it sorts keys, so such keys are normalised first
// (rare: only reachable through `\udXXX` escapes). Later duplicates win, as in Go's map: keys are
// walked in document order, which `Object.keys` keeps for such keys (they are never array-index
// like). A null prototype keeps a `__proto__` key an ordinary property.
function withoutLoneSurrogateKeys(obj: JsonObject): JsonObject {
  const normalised = Object.create(null) as JsonObject;
  for (const key of Object.keys(obj)) {
    if (obj[key] !== undefined) normalised[key.replace(LONE_SURROGATE_GLOBAL, '\ufffd')] = obj[key];
  }
  return normalised;
}

// Payloads repeat the same column names row after row; caching `"name":` saves the escape and
// lone-surrogate checks per property. Bounded so adversarial keys cannot grow it without limit.
const KEY_CACHE = new Map<string, string>();
const KEY_CACHE_LIMIT = 4096;

/** `"key":` for a key, or null when the key holds a lone surrogate and must be normalised. */
function keyPrefix(key: string): string | null {
  let prefix = KEY_CACHE.get(key);
  if (prefix === undefined) {
    if (LONE_SURROGATE.test(key)) return null;
    prefix = canonicalJsonString(key) + ':';
    if (KEY_CACHE.size >= KEY_CACHE_LIMIT) KEY_CACHE.clear();
    KEY_CACHE.set(key, prefix);
  }
  return prefix;
}

// Canonical inputs (e.g. re-canonicalising stored payloads) are already sorted; skip the sort then.
function isSortedUtf8(keys: readonly string[]): boolean {
  for (let i = 1; i < keys.length; i++) {
    if (compareUtf8(keys[i - 1], keys[i]) > 0) return false;
  }
  return true;
}
