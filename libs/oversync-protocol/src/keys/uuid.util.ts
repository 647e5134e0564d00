const CANONICAL_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const DASHED_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
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

/**
 * Converts dashed UUID text to its 16 raw bytes (the byte form used to order UUID keys).
 *
 * @param value - dashed UUID text; upper-case hex is accepted, other forms are not.
 * @returns 16 bytes.
 * @throws TypeError when `value` is not dashed UUID text.
 */
export function uuidToBytes(value: string): Uint8Array {
  if (value.length !== 36 || !DASHED_UUID.test(value)) {
    throw new TypeError(`"${value}" is not a dashed UUID (expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)`);
  }
  const hex = value.replace(/-/g, '');
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) out[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
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
