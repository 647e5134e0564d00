/**
 * Standard base64 as go-oversync decodes bytea push values: `base64.StdEncoding.DecodeString`,
 * which requires the `+/` alphabet and `=` padding but skips CR and LF anywhere (documented in
 * Go's encoding/base64: "New line characters (\r and \n) are ignored"; line-wrapped base64 is what
 * MIME encoders and Android's `Base64.DEFAULT` produce). Expected bytes come from RFC 4648 vectors
 * and node's Buffer, not from base64Decode.
 */
import { base64Decode, isStandardBase64 } from './base64.util.js';

describe('base64Decode / isStandardBase64: CR and LF are skipped as Go does', () => {
  it.each([
    ['a trailing LF', 'AAEC\n', [0, 1, 2]],
    ['a trailing CRLF', 'Zm9vYmFy\r\n', [...Buffer.from('foobar')]],
    ['a line break inside a quantum', 'Zm\r\n9v', [...Buffer.from('foo')]],
    ['a line break before the padding', 'Zg\n==', [...Buffer.from('f')]],
    ['a line break between the two padding characters', 'Zg=\n=', [...Buffer.from('f')]],
    ['only line breaks', '\r\n', []],
  ])('accepts %s', (_name, value, bytes) => {
    expect(isStandardBase64(value)).toBe(true);
    expect([...base64Decode(value)]).toEqual(bytes);
  });

  it('decodes 76-column wrapped base64 (MIME, Android Base64.DEFAULT) to the original bytes', () => {
    const bytes = Uint8Array.from({ length: 300 }, (_, i) => (i * 37 + 11) & 0xff);
    const wrapped = Buffer.from(bytes).toString('base64').replace(/.{76}/g, '$&\n') + '\n';
    expect(wrapped.split('\n').length).toBeGreaterThan(3);
    expect(isStandardBase64(wrapped)).toBe(true);
    expect(base64Decode(wrapped)).toEqual(bytes);
  });

  it.each([
    ['a space', 'AA EC'],
    ['a tab', 'AA\tEC'],
    ['a form feed', 'AAEC\f'],
    ['a line break that leaves a short quantum', 'AAE\nC\nD'],
    ['data after the padding, even across a line break', 'Zg==\nZg=='],
    ['url-safe characters', '-_-_\n'],
  ])('still refuses %s', (_name, value) => {
    expect(isStandardBase64(value)).toBe(false);
    expect(() => base64Decode(value)).toThrow(TypeError);
  });
});
