import { createHash } from 'node:crypto';
import { bytesToHex, Sha256, sha256Hex, sha256HexUtf8 } from './sha256.js';
import { utf8Encode } from './utf8.js';

const ascii = (text: string) => utf8Encode(text);
const nodeSha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

describe('sha256Hex (FIPS 180-4 / NIST vectors)', () => {
  it('hashes the empty message', () => {
    expect(sha256Hex(new Uint8Array(0))).toBe(
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
  });

  it('hashes "abc"', () => {
    expect(sha256Hex(ascii('abc'))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('hashes the 448-bit two-block message', () => {
    expect(sha256Hex(ascii('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq'))).toBe(
      '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
    );
  });

  it('hashes one million "a"', () => {
    expect(sha256Hex(new Uint8Array(1_000_000).fill(0x61))).toBe(
      'cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0',
    );
    expect(sha256HexUtf8('a'.repeat(1_000_000))).toBe(
      'cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0',
    );
  });

  it('matches node:crypto around every padding boundary (lengths 0-200)', () => {
    const data = Uint8Array.from({ length: 200 }, (_, i) => (i * 37 + 11) & 0xff);
    for (let n = 0; n <= 200; n++) {
      expect(sha256Hex(data.subarray(0, n))).toBe(nodeSha256(data.subarray(0, n)));
    }
  });
});

describe('Sha256 (incremental)', () => {
  const data = Uint8Array.from({ length: 300 }, (_, i) => (i * 101) & 0xff);
  const expected = nodeSha256(data);

  it('gives the same digest for every split point', () => {
    for (let cut = 0; cut <= data.length; cut += 7) {
      const hex = new Sha256().update(data.subarray(0, cut)).update(data.subarray(cut)).hexDigest();
      expect(hex).toBe(expected);
    }
  });

  it('gives the same digest when fed byte by byte', () => {
    const hasher = new Sha256();
    for (const byte of data) hasher.update(Uint8Array.of(byte));
    expect(hasher.hexDigest()).toBe(expected);
  });

  it('hashes long strings in slices without splitting surrogate pairs', () => {
    const text = 'x' + '😀é<\ud800'.repeat(20000) + '\udc00';
    expect(sha256HexUtf8(text)).toBe(createHash('sha256').update(text, 'utf8').digest('hex'));
  });

  it.each(['', 'a', '€€€€€', '😀', '\ud800', 'é😀€\udfff'])(
    'hashes the short string %j like node:crypto',
    (text) => {
      expect(sha256HexUtf8(text)).toBe(createHash('sha256').update(text, 'utf8').digest('hex'));
    },
  );

  it('returns a stable digest and refuses updates after digest()', () => {
    const hasher = new Sha256().update(data);
    expect(bytesToHex(hasher.digest())).toBe(expected);
    expect(hasher.hexDigest()).toBe(expected);
    expect(() => hasher.update(data)).toThrow(/after digest/);
  });
});

describe('bytesToHex', () => {
  it('renders lowercase, zero-padded hex', () => {
    expect(bytesToHex(Uint8Array.of(0, 1, 0xab, 0xff))).toBe('0001abff');
  });
});
