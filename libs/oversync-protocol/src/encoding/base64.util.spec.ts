import { base64Decode, base64Encode, isStandardBase64 } from './base64.util.js';

describe('base64Encode / base64Decode', () => {
  it.each([
    ['', ''],
    ['f', 'Zg=='],
    ['fo', 'Zm8='],
    ['foo', 'Zm9v'],
    ['foob', 'Zm9vYg=='],
    ['fooba', 'Zm9vYmE='],
    ['foobar', 'Zm9vYmFy'],
  ])('RFC 4648 vector %j ↔ %j', (plain, encoded) => {
    const bytes = Uint8Array.from(plain, (c) => c.charCodeAt(0));
    expect(base64Encode(bytes)).toBe(encoded);
    expect(base64Decode(encoded)).toEqual(bytes);
  });

  it('uses the standard alphabet (+/) for high bytes', () => {
    expect(base64Encode(Uint8Array.of(0xfb, 0xff, 0xbf))).toBe('+/+/');
    expect(base64Encode(Uint8Array.of(0, 1, 2))).toBe('AAEC');
  });

  it('round-trips every byte value at every length mod 3', () => {
    for (let n = 0; n <= 258; n++) {
      const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 7 + n) & 0xff);
      const text = base64Encode(bytes);
      expect(text).toBe(Buffer.from(bytes).toString('base64'));
      expect(base64Decode(text)).toEqual(bytes);
    }
  });
});

describe('isStandardBase64', () => {
  it.each(['', 'AAEC', 'Zg==', 'Zm8=', '+/+/', 'AB=='])('accepts %j', (value) => {
    expect(isStandardBase64(value)).toBe(true);
  });

  it.each([
    ['missing padding', 'Zg'],
    ['short padding', 'Zg='],
    ['excess padding', 'Zm8=='],
    ['padding in the middle', 'Zg==Zg=='],
    ['url-safe alphabet', '-_-_'],
    ['space', 'AA EC'],
    ['leading whitespace', ' AAEC'],
    ['non-ASCII', 'AAÉC'],
    ['hex bytea form', '\\x0001'],
    ['only padding', '===='],
  ])('rejects %s', (_name, value) => {
    expect(isStandardBase64(value)).toBe(false);
    expect(() => base64Decode(value)).toThrow(TypeError);
  });
});
