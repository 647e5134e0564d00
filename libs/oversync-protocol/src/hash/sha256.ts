import { utf8EncodeInto } from './utf8.js';

// FIPS 180-4 round constants: first 32 bits of the fractional parts of the cube roots of the first
// 64 primes.
const K = Int32Array.from([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
  0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
  0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
  0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
  0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
  0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
  0xc67178f2,
]);
const INITIAL_STATE = [
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];
const HEX = '0123456789abcdef';
// Strings are encoded through a 64 KiB scratch buffer, so hashing a 50 MB bundle text never
// allocates 50 MB of bytes; bulk input is compressed in 64 KiB calls so V8 optimises #compress
// as a whole function instead of on-stack-replacing one giant loop (about 3x slower).
const CHUNK_BYTES = 65536;

/**
 * Incremental SHA-256 (FIPS 180-4) in pure TypeScript: synchronous, no Web Crypto, no Node APIs.
 *
 * @example
 * ```ts
 * const hex = new Sha256().updateUtf8('[{"key":…}]').hexDigest();
 * ```
 */
export class Sha256 {
  readonly #state = Int32Array.from(INITIAL_STATE);
  readonly #w = new Int32Array(64);
  readonly #block = new Uint8Array(64);
  #blockLength = 0;
  #totalBytes = 0;
  #finished = false;

  /**
   * Feeds bytes into the hash.
   *
   * @param bytes - the next bytes of the message.
   * @returns this hasher, for chaining.
   * @throws Error when called after {@link Sha256.digest}.
   */
  update(bytes: Uint8Array): this {
    if (this.#finished) throw new Error('Sha256: update() after digest(); create a new Sha256 instance');
    let offset = 0;
    const length = bytes.length;
    this.#totalBytes += length;
    if (this.#blockLength > 0) {
      const take = Math.min(64 - this.#blockLength, length);
      this.#block.set(bytes.subarray(0, take), this.#blockLength);
      this.#blockLength += take;
      offset = take;
      if (this.#blockLength < 64) return this;
      this.#compress(this.#block, 0, 64);
      this.#blockLength = 0;
    }
    const fullEnd = offset + ((length - offset) & ~63);
    while (offset < fullEnd) {
      const end = Math.min(offset + CHUNK_BYTES, fullEnd);
      this.#compress(bytes, offset, end);
      offset = end;
    }
    if (fullEnd < length) {
      this.#block.set(bytes.subarray(fullEnd), 0);
      this.#blockLength = length - fullEnd;
    }
    return this;
  }

  /**
   * Feeds the UTF-8 encoding of a string (lone surrogates as U+FFFD, see `utf8Encode`).
   *
   * @param text - the next part of the message.
   * @returns this hasher, for chaining.
   */
  updateUtf8(text: string): this {
    // At most 3 bytes per UTF-16 code unit, so short texts get a small buffer and one pass.
    const scratch = new Uint8Array(Math.min(CHUNK_BYTES, text.length * 3 + 3));
    let from = 0;
    while (from < text.length) {
      const { read, written } = utf8EncodeInto(text, from, scratch, scratch.length - 3);
      this.update(scratch.subarray(0, written));
      from = read;
    }
    return this;
  }

  /**
   * Finishes the hash. The instance cannot be updated afterwards.
   *
   * @returns the 32-byte digest.
   */
  digest(): Uint8Array {
    if (!this.#finished) {
      this.#finished = true;
      const bitsHigh = Math.floor(this.#totalBytes / 0x20000000);
      const bitsLow = (this.#totalBytes * 8) >>> 0;
      const block = this.#block;
      block[this.#blockLength++] = 0x80;
      if (this.#blockLength > 56) {
        block.fill(0, this.#blockLength);
        this.#compress(block, 0, 64);
        this.#blockLength = 0;
      }
      block.fill(0, this.#blockLength, 56);
      writeUint32(block, 56, bitsHigh);
      writeUint32(block, 60, bitsLow);
      this.#compress(block, 0, 64);
    }
    const out = new Uint8Array(32);
    for (let i = 0; i < 8; i++) writeUint32(out, i * 4, this.#state[i]);
    return out;
  }

  /**
   * Finishes the hash and renders it as lowercase hex.
   *
   * @returns 64 lowercase hex characters.
   */
  hexDigest(): string {
    return bytesToHex(this.digest());
  }

  #compress(data: Uint8Array, start: number, end: number): void {
    const w = this.#w;
    const s = this.#state;
    let h0 = s[0];
    let h1 = s[1];
    let h2 = s[2];
    let h3 = s[3];
    let h4 = s[4];
    let h5 = s[5];
    let h6 = s[6];
    let h7 = s[7];
    for (let p = start; p < end; p += 64) {
      for (let i = 0; i < 16; i++) {
        const j = p + i * 4;
        w[i] = (data[j] << 24) | (data[j + 1] << 16) | (data[j + 2] << 8) | data[j + 3];
      }
      for (let i = 16; i < 64; i++) {
        const x = w[i - 15];
        const y = w[i - 2];
        const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
        const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
        w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
      }
      let a = h0;
      let b = h1;
      let c = h2;
      let d = h3;
      let e = h4;
      let f = h5;
      let g = h6;
      let h = h7;
      for (let i = 0; i < 64; i++) {
        const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
        const ch = (e & f) ^ (~e & g);
        const t1 = (h + S1 + ch + K[i] + w[i]) | 0;
        const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
        const maj = (a & b) ^ (a & c) ^ (b & c);
        const t2 = (S0 + maj) | 0;
        h = g;
        g = f;
        f = e;
        e = (d + t1) | 0;
        d = c;
        c = b;
        b = a;
        a = (t1 + t2) | 0;
      }
      h0 = (h0 + a) | 0;
      h1 = (h1 + b) | 0;
      h2 = (h2 + c) | 0;
      h3 = (h3 + d) | 0;
      h4 = (h4 + e) | 0;
      h5 = (h5 + f) | 0;
      h6 = (h6 + g) | 0;
      h7 = (h7 + h) | 0;
    }
    s[0] = h0;
    s[1] = h1;
    s[2] = h2;
    s[3] = h3;
    s[4] = h4;
    s[5] = h5;
    s[6] = h6;
    s[7] = h7;
  }
}

/**
 * SHA-256 of a byte array.
 *
 * @param bytes - the message.
 * @returns the digest as 64 lowercase hex characters.
 */
export function sha256Hex(bytes: Uint8Array): string {
  return new Sha256().update(bytes).hexDigest();
}

/**
 * SHA-256 of the UTF-8 encoding of a string (lone surrogates as U+FFFD).
 *
 * @param text - the message.
 * @returns the digest as 64 lowercase hex characters.
 */
export function sha256HexUtf8(text: string): string {
  return new Sha256().updateUtf8(text).hexDigest();
}

/**
 * Renders bytes as lowercase hex.
 *
 * @param bytes - the bytes to render.
 * @returns two lowercase hex characters per byte.
 */
export function bytesToHex(bytes: Uint8Array): string {
  let out = '';
  for (const byte of bytes) out += HEX[byte >> 4] + HEX[byte & 15];
  return out;
}

function writeUint32(out: Uint8Array, offset: number, value: number): void {
  out[offset] = value >>> 24;
  out[offset + 1] = (value >>> 16) & 0xff;
  out[offset + 2] = (value >>> 8) & 0xff;
  out[offset + 3] = value & 0xff;
}
