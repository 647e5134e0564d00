import { type SqlValue } from '../db/sql-js.adapter.js';
import { compareKeys, keyOrder } from './key-order.js';

/** The reference: a comparator sort of the indexes. */
function reference(keys: SqlValue[]): number[] {
  return keys.map((_, i) => i).sort((a, b) => compareKeys(keys[a], keys[b]));
}

/** Deterministic pseudo-random numbers (xorshift), so a failure reproduces. */
function random(seed: number): () => number {
  let x = seed;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

function uuid(next: () => number): string {
  const hex = Array.from({ length: 32 }, () => Math.floor(next() * 16).toString(16)).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

describe('keyOrder', () => {
  it('orders random UUID text keys like the comparator sort', () => {
    const next = random(7);
    const keys = Array.from({ length: 20_000 }, () => uuid(next));
    expect([...keyOrder(keys)]).toEqual(reference(keys));
  });

  it('breaks prefix ties in full: shared prefixes, prefixes of each other, short and empty keys', () => {
    const keys = ['user-10', 'user-2', 'user-1', 'use', '', 'user', 'u', 'user-1\u0000', 'zz', 'a'];
    expect([...keyOrder(keys)]).toEqual(reference(keys));
  });

  it('orders BLOB keys bytewise, ties beyond the first four bytes included', () => {
    const next = random(11);
    const keys: SqlValue[] = Array.from({ length: 5000 }, (_, i) => {
      const bytes = Uint8Array.from({ length: 16 }, () => Math.floor(next() * 256));
      if (i % 3 === 0) bytes.set([1, 2, 3, 4]);
      return bytes;
    });
    keys.push(new Uint8Array([1, 2, 3]), new Uint8Array([]));
    expect([...keyOrder(keys)]).toEqual(reference(keys));
  });

  it('falls back to the comparator for non-ASCII text', () => {
    const keys = ['é', 'e', 'z', '😀', 'ä1', 'ä0', 'a'];
    expect([...keyOrder(keys)]).toEqual(reference(keys));
  });
});
