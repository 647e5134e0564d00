import { bytesToUuid, isCanonicalUuid, uuidToBytes } from './uuid.util.js';

const UUID = '550e8400-e29b-41d4-a716-446655440000';

describe('isCanonicalUuid', () => {
  it('accepts dashed lowercase UUIDs of any version', () => {
    expect(isCanonicalUuid(UUID)).toBe(true);
    expect(isCanonicalUuid('00000000-0000-0000-0000-000000000000')).toBe(true);
    expect(isCanonicalUuid('ffffffff-ffff-ffff-ffff-ffffffffffff')).toBe(true);
  });

  it.each([
    ['uppercase', UUID.toUpperCase()],
    ['no dashes', UUID.replace(/-/g, '')],
    ['braces', `{${UUID}}`],
    ['urn', `urn:uuid:${UUID}`],
    ['misplaced dash', '550e840-0e29b-41d4-a716-446655440000'],
    ['non-hex', '550e8400-e29b-41d4-a716-44665544000g'],
    ['too short', UUID.slice(0, 35)],
    ['trailing newline', `${UUID}\n`],
    ['empty', ''],
  ])('rejects %s', (_name, value) => {
    expect(isCanonicalUuid(value)).toBe(false);
  });
});

describe('uuidToBytes / bytesToUuid', () => {
  it('round-trips text → bytes → canonical text', () => {
    const bytes = uuidToBytes(UUID);
    expect([...bytes]).toEqual([
      0x55, 0x0e, 0x84, 0x00, 0xe2, 0x9b, 0x41, 0xd4, 0xa7, 0x16, 0x44, 0x66, 0x55, 0x44, 0x00, 0x00,
    ]);
    expect(bytesToUuid(bytes)).toBe(UUID);
  });

  it('round-trips bytes → text → bytes', () => {
    const bytes = Uint8Array.from({ length: 16 }, (_, i) => (i * 17 + 3) & 0xff);
    const text = bytesToUuid(bytes);
    expect(isCanonicalUuid(text)).toBe(true);
    expect(uuidToBytes(text)).toEqual(bytes);
  });

  it('parses upper-case text but renders lowercase', () => {
    expect(bytesToUuid(uuidToBytes(UUID.toUpperCase()))).toBe(UUID);
  });

  it.each([
    '',
    'not-a-uuid',
    UUID.replace(/-/g, ''),
    `${UUID}0`,
    // 36 characters, but: a dash moved, a dash replaced, a non-hex letter, a non-ASCII digit
    // look-alike, a space, a sign.
    `${UUID.slice(0, 7)}-${UUID.slice(7, 8)}${UUID.slice(9)}`,
    `${UUID.slice(0, 8)}0${UUID.slice(9)}`,
    `g${UUID.slice(1)}`,
    `${UUID.slice(0, 35)}\u0663`,
    `${UUID.slice(0, 14)} ${UUID.slice(15)}`,
    `+${UUID.slice(1)}`,
  ])('uuidToBytes rejects %j', (value) => {
    expect(() => uuidToBytes(value)).toThrow(TypeError);
  });

  it('decodes every byte value in either case', () => {
    for (let b = 0; b < 256; b++) {
      const bytes = Uint8Array.from({ length: 16 }, (_, i) => (b + i * 31) & 0xff);
      const text = bytesToUuid(bytes);
      expect(uuidToBytes(text)).toEqual(bytes);
      expect(uuidToBytes(text.toUpperCase())).toEqual(bytes);
    }
  });

  it('bytesToUuid rejects a wrong length', () => {
    expect(() => bytesToUuid(new Uint8Array(15))).toThrow(RangeError);
    expect(() => bytesToUuid(new Uint8Array(17))).toThrow(RangeError);
  });
});
