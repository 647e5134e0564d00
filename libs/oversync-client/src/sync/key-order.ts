import { type SqlValue } from '../db/sql-js.adapter.js';

/** Rows a packed sort key can index: the row index takes the low 20 bits. */
const INDEX_BITS = 20;
const INDEX_LIMIT = 2 ** INDEX_BITS;
/** Leading characters of a TEXT key in its prefix, 7 bits each (ASCII). */
const TEXT_PREFIX_CHARS = 4;
/** Leading bytes of a BLOB key in its prefix (32 bits + 20 index bits stay exact in a double). */
const BLOB_PREFIX_BYTES = 4;

/** Orders two key SQL values (TEXT by UTF-16 code units, BLOB bytewise). */
export function compareKeys(x: SqlValue, y: SqlValue): number {
  if (typeof x === 'string' && typeof y === 'string') return x < y ? -1 : x > y ? 1 : 0;
  if (x instanceof Uint8Array && y instanceof Uint8Array) {
    for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
    return x.length - y.length;
  }
  return 0;
}

/**
 * A number that orders like the key's first characters or bytes (ties possible), or -1 when the
 * key has no such prefix (non-ASCII text, a value that is neither TEXT nor BLOB).
 */
function prefixOf(key: SqlValue): number {
  let prefix = 0;
  if (typeof key === 'string') {
    for (let i = 0; i < TEXT_PREFIX_CHARS; i++) {
      const code = i < key.length ? key.charCodeAt(i) : 0;
      if (code > 0x7f) return -1;
      prefix = prefix * 0x80 + code;
    }
    return prefix;
  }
  if (key instanceof Uint8Array) {
    for (let i = 0; i < BLOB_PREFIX_BYTES; i++) prefix = prefix * 0x100 + (i < key.length ? key[i] : 0);
    return prefix;
  }
  return -1;
}

/**
 * Row indexes of `keys` in key order ({@link compareKeys}); the keys are distinct.
 *
 * A comparator sort calls back into JavaScript for each of its n·log n comparisons, which for a
 * 100k-row pull cost nearly as much as the SQLite writes the order speeds up. Instead each row
 * gets one float, its key's prefix (4 ASCII characters or 4 bytes) above its index, sorted
 * natively as a `Float64Array`; only rows whose prefixes tie are compared in full. Keys without
 * such a prefix (non-ASCII text) fall back to the comparator sort.
 */
export function keyOrder(keys: readonly SqlValue[]): Uint32Array {
  const n = keys.length;
  const order = new Uint32Array(n);
  if (n < INDEX_LIMIT) {
    const packed = new Float64Array(n);
    let packable = true;
    for (let i = 0; i < n && packable; i++) {
      const prefix = prefixOf(keys[i]);
      if (prefix < 0) packable = false;
      else packed[i] = prefix * INDEX_LIMIT + i;
    }
    if (packable) {
      packed.sort();
      for (let i = 0; i < n; i++) order[i] = packed[i] % INDEX_LIMIT;
      sortTies(order, packed, keys);
      return order;
    }
  }
  for (let i = 0; i < n; i++) order[i] = i;
  return order.sort((a, b) => compareKeys(keys[a], keys[b]));
}

/** Sorts, in place, each run of `order` whose packed prefixes are equal. */
function sortTies(order: Uint32Array, packed: Float64Array, keys: readonly SqlValue[]): void {
  let start = 0;
  while (start < order.length) {
    const prefix = Math.floor(packed[start] / INDEX_LIMIT);
    let end = start + 1;
    while (end < order.length && Math.floor(packed[end] / INDEX_LIMIT) === prefix) end += 1;
    if (end - start > 1) order.subarray(start, end).sort((a, b) => compareKeys(keys[a], keys[b]));
    start = end;
  }
}
