const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const STANDARD_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
// Go's decoder skips CR and LF anywhere (line-wrapped MIME/PEM-style base64, e.g. Android's
// `Base64.DEFAULT`), so a go-oversync server accepts such bytea values; nothing else is skipped.
const LINE_BREAKS = /[\r\n]/g;
const DECODE = (() => {
  const table = new Int16Array(128).fill(-1);
  for (let i = 0; i < ALPHABET.length; i++) table[ALPHABET.charCodeAt(i)] = i;
  return table;
})();

/**
 * Checks for standard base64 (RFC 4648 alphabet `+/`) with correct `=` padding, exactly what Go's
 * `base64.StdEncoding` decodes: CR and LF are ignored wherever they appear (as in Go); spaces, tabs
 * and URL-safe characters are refused. The empty string is valid (zero bytes). Unused trailing
 * bits are not checked, like Go.
 *
 * @param value - the text to check.
 * @returns true when {@link base64Decode} would accept it.
 */
export function isStandardBase64(value: string): boolean {
  return isUnbrokenBase64(withoutLineBreaks(value));
}

function isUnbrokenBase64(value: string): boolean {
  return value.length % 4 === 0 && STANDARD_BASE64.test(value);
}

function withoutLineBreaks(value: string): string {
  return value.includes('\n') || value.includes('\r') ? value.replace(LINE_BREAKS, '') : value;
}

/**
 * Encodes bytes as standard base64 with padding (the wire form of non-key `bytea` values).
 *
 * @param bytes - the bytes to encode.
 * @returns base64 text.
 */
export function base64Encode(bytes: Uint8Array): string {
  let out = '';
  const n = bytes.length;
  let i = 0;
  for (; i + 2 < n; i += 3) {
    const v = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out += ALPHABET.charAt(v >> 18) + ALPHABET.charAt((v >> 12) & 63) + ALPHABET.charAt((v >> 6) & 63);
    out += ALPHABET.charAt(v & 63);
  }
  if (n - i === 1) {
    const v = bytes[i] << 16;
    out += ALPHABET.charAt(v >> 18) + ALPHABET.charAt((v >> 12) & 63) + '==';
  } else if (n - i === 2) {
    const v = (bytes[i] << 16) | (bytes[i + 1] << 8);
    out += ALPHABET.charAt(v >> 18) + ALPHABET.charAt((v >> 12) & 63) + ALPHABET.charAt((v >> 6) & 63) + '=';
  }
  return out;
}

/**
 * Decodes standard base64 with padding (CR and LF ignored, as Go does).
 *
 * @param text - base64 text accepted by {@link isStandardBase64}.
 * @returns the decoded bytes.
 * @throws TypeError when `text` is not standard padded base64.
 */
export function base64Decode(text: string): Uint8Array {
  const value = withoutLineBreaks(text);
  if (!isUnbrokenBase64(value)) {
    throw new TypeError('invalid base64: expected standard alphabet (+/) with = padding and no whitespace');
  }
  const padding = value.endsWith('==') ? 2 : value.endsWith('=') ? 1 : 0;
  const out = new Uint8Array((value.length / 4) * 3 - padding);
  let p = 0;
  for (let i = 0; i < value.length; i += 4) {
    const v =
      (sextet(value, i) << 18) |
      (sextet(value, i + 1) << 12) |
      (sextet(value, i + 2) << 6) |
      sextet(value, i + 3);
    out[p++] = v >> 16;
    if (p < out.length) out[p++] = (v >> 8) & 0xff;
    if (p < out.length) out[p++] = v & 0xff;
  }
  return out;
}

// '=' (and only '=', already validated) maps to 0.
function sextet(value: string, index: number): number {
  const v = DECODE[value.charCodeAt(index)];
  return v < 0 ? 0 : v;
}
