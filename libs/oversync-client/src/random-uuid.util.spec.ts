import { randomUuid } from './random-uuid.util.js';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('randomUuid', () => {
  it('returns distinct version 4 UUIDs', () => {
    const ids = new Set(Array.from({ length: 100 }, () => randomUuid()));
    expect(ids.size).toBe(100);
    for (const id of ids) expect(id).toMatch(UUID_V4);
  });

  it('falls back to getRandomValues where randomUUID is missing (pages outside a secure context)', () => {
    const original = Object.getOwnPropertyDescriptor(globalThis, 'crypto')!;
    const real = globalThis.crypto;
    const insecure = { getRandomValues: (a: Uint8Array<ArrayBuffer>) => real.getRandomValues(a) };
    Object.defineProperty(globalThis, 'crypto', { value: insecure, configurable: true });
    try {
      const ids = Array.from({ length: 50 }, () => randomUuid());
      expect(new Set(ids).size).toBe(50);
      for (const id of ids) expect(id).toMatch(UUID_V4);
    } finally {
      Object.defineProperty(globalThis, 'crypto', original);
    }
  });
});
