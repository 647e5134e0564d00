import { utf8ByteLength, utf8Encode } from './utf8.js';

const samples = [
  '',
  'plain ascii',
  'é',
  '€',
  '\u07ff\u0800',
  '\uffff',
  '😀',
  '\u{10FFFF}',
  'mix é € 😀 \u2028 <>&',
  'lone high \ud800 here',
  'lone low \udc00 here',
  'trailing \ud83d',
  '\ude00\ud83d reversed',
];

describe('utf8Encode', () => {
  it.each(samples)('matches Node’s encoder (lone surrogates → U+FFFD) for %j', (text) => {
    expect(Buffer.from(utf8Encode(text)).equals(Buffer.from(text, 'utf8'))).toBe(true);
  });

  it('encodes boundary code points with the right byte patterns', () => {
    expect([...utf8Encode('\u007f\u0080')]).toEqual([0x7f, 0xc2, 0x80]);
    expect([...utf8Encode('\uffff')]).toEqual([0xef, 0xbf, 0xbf]);
    expect([...utf8Encode('\u{1F600}')]).toEqual([0xf0, 0x9f, 0x98, 0x80]);
    expect([...utf8Encode('\ud800')]).toEqual([0xef, 0xbf, 0xbd]);
  });
});

describe('utf8ByteLength', () => {
  it.each(samples)('equals the encoded length for %j', (text) => {
    expect(utf8ByteLength(text)).toBe(Buffer.byteLength(text, 'utf8'));
    expect(utf8ByteLength(text)).toBe(utf8Encode(text).length);
  });
});
