const CANONICAL_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const HEX = '0123456789abcdef';

/**
 * Checks for the only UUID text the protocol accepts in keys: 36 characters, dashed, lowercase hex
 * (any version or variant, like Go's `uuid.Parse` followed by re-rendering).
 *
 * @param value - the text to check.
 * @returns true for canonical UUID text.
 */
export function isCanonicalUuid(value: string): boolean {
  return value.length === 36 && CANONICAL_UUID.test(value);
}

// Value of each hex digit by char code (-1: not a hex digit); upper case is accepted on input.
const NIBBLE = new Int8Array(128).fill(-1);
for (let i = 0; i < 16; i++) {
  NIBBLE[HEX.charCodeAt(i)] = i;
  NIBBLE[HEX.toUpperCase().charCodeAt(i)] = i;
}
const nibble = (code: number): number => (code < 128 ? NIBBLE[code] : -1);

/**
 * Converts dashed UUID text to its 16 raw bytes (the byte form used to order UUID keys). One pass
 * over the characters: this runs for every UUID key a client or server decodes, and the regex,
 * slice and parseInt version cost about a microsecond per key.
 *
 * @param value - dashed UUID text; upper-case hex is accepted, other forms are not.
 * @returns 16 bytes.
 * @throws TypeError when `value` is not dashed UUID text.
 */
export function uuidToBytes(value: string): Uint8Array {
  const out = new Uint8Array(16);
  let n = 0;
  if (value.length === 36) {
    for (let i = 0; i < 36;) {
      if (i === 8 || i === 13 || i === 18 || i === 23) {
        if (value.charCodeAt(i) !== 45) break;
        i += 1;
        continue;
      }
      const hi = nibble(value.charCodeAt(i));
      const lo = nibble(value.charCodeAt(i + 1));
      if (hi < 0 || lo < 0) break;
      out[n++] = (hi << 4) | lo;
      i += 2;
    }
  }
  if (n !== 16) {
    throw new TypeError(`"${value}" is not a dashed UUID (expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)`);
  }
  return out;
}

/**
 * Renders 16 bytes as canonical UUID text (dashed lowercase).
 *
 * @param bytes - exactly 16 bytes.
 * @returns canonical UUID text.
 * @throws RangeError when `bytes` is not 16 bytes long.
 */
export function bytesToUuid(bytes: Uint8Array): string {
  if (bytes.length !== 16) throw new RangeError(`a UUID has 16 bytes, got ${bytes.length}`);
  let out = '';
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) out += '-';
    const byte = bytes[i];
    out += HEX[byte >> 4] + HEX[byte & 15];
  }
  return out;
}
