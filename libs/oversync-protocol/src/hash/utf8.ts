/**
 * Counts the bytes of the UTF-8 encoding of a string, with lone surrogates counted as U+FFFD
 * (3 bytes), matching {@link utf8Encode}. The server uses it for `byte_count`.
 *
 * @param text - the string to measure.
 * @returns the encoded length in bytes.
 */
export function utf8ByteLength(text: string): number {
  const n = text.length;
  let bytes = n;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) {
      bytes += 1;
    } else if (c >= 0xd800 && c <= 0xdbff && i + 1 < n && isLowSurrogate(text.charCodeAt(i + 1))) {
      bytes += 2; // 2 code units → 4 bytes
      i++;
    } else {
      bytes += 2; // BMP character or lone surrogate (U+FFFD): 3 bytes
    }
  }
  return bytes;
}

/**
 * Encodes a string as UTF-8 without relying on `TextEncoder`. Lone surrogates become U+FFFD
 * (`EF BF BD`), the same replacement canonical JSON applies, so hashes agree with Go.
 *
 * @param text - the string to encode.
 * @returns a new byte array holding exactly the encoded bytes.
 */
export function utf8Encode(text: string): Uint8Array {
  const out = new Uint8Array(utf8ByteLength(text));
  utf8EncodeInto(text, 0, out, out.length);
  return out;
}

/**
 * Encodes `text` from code unit `from` into `out`, stopping at the end of the text or once
 * `byteLimit` bytes are written. A character is started only while fewer than `byteLimit` bytes
 * are written, so pass `out.length - 3` for a scratch buffer (room for the last 4-byte character)
 * or `out.length` when `out` has exactly {@link utf8ByteLength} bytes.
 *
 * @returns the next code unit index to encode and the number of bytes written.
 * @internal
 */
export function utf8EncodeInto(
  text: string,
  from: number,
  out: Uint8Array,
  byteLimit: number,
): { read: number; written: number } {
  const n = text.length;
  let i = from;
  let p = 0;
  while (i < n && p < byteLimit) {
    let c = text.charCodeAt(i++);
    if (c < 0x80) {
      out[p++] = c;
      continue;
    }
    if (c < 0x800) {
      out[p++] = 0xc0 | (c >> 6);
      out[p++] = 0x80 | (c & 0x3f);
      continue;
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      const next = i < n ? text.charCodeAt(i) : 0;
      if (c <= 0xdbff && isLowSurrogate(next)) {
        const cp = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
        i++;
        out[p++] = 0xf0 | (cp >> 18);
        out[p++] = 0x80 | ((cp >> 12) & 0x3f);
        out[p++] = 0x80 | ((cp >> 6) & 0x3f);
        out[p++] = 0x80 | (cp & 0x3f);
        continue;
      }
      c = 0xfffd;
    }
    out[p++] = 0xe0 | (c >> 12);
    out[p++] = 0x80 | ((c >> 6) & 0x3f);
    out[p++] = 0x80 | (c & 0x3f);
  }
  return { read: i, written: p };
}

function isLowSurrogate(c: number): boolean {
  return c >= 0xdc00 && c <= 0xdfff;
}
