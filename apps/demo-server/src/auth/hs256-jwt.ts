import { createHmac, timingSafeEqual } from 'node:crypto';

/** Minimal HS256 JWT (RFC 7519) signing and verification; enough for the demo's dev login. */
const b64url = (data: Buffer | string) => Buffer.from(data).toString('base64url');

const SEGMENT = /^[A-Za-z0-9_-]+$/;
// An HMAC-SHA256 is 32 bytes: exactly 43 unpadded base64url characters.
const SIGNATURE = /^[A-Za-z0-9_-]{43}$/;

/**
 * Signs `claims` as an HS256 JWT, adding `iat` and `exp` (claims given win).
 *
 * @param claims - the payload, e.g. `{ sub: 'alice' }`.
 * @param secret - the HMAC key; must not be blank.
 * @param ttlSeconds - lifetime of the token. @default 86400 (24 hours)
 * @returns the compact serialisation `header.payload.signature`.
 * @throws Error when `secret` is blank.
 */
export function signJwt(claims: Record<string, unknown>, secret: string, ttlSeconds = 24 * 3600): string {
  if (secret.trim() === '') throw new Error('signJwt needs a non-blank secret');
  const now = Math.floor(Date.now() / 1000);
  const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64url(JSON.stringify({ iat: now, exp: now + ttlSeconds, ...claims }));
  const sig = createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}

/**
 * Verifies an HS256 JWT and returns its claims.
 *
 * Refused: anything but exactly three base64url segments; a signature that is not the canonical
 * encoding of the MAC (so each token has one spelling); a wrong MAC; a header whose `alg` is not
 * `HS256`; claims that are not a JSON object; `exp` or `nbf` present but not a number; a token
 * used at or after `exp` or before `nbf`. A blank secret verifies nothing.
 *
 * @param token - the compact serialisation.
 * @param secret - the HMAC key.
 * @param nowSeconds - the current time (seconds since the epoch). @default Date.now() / 1000
 * @returns the claims, or undefined when the token is not valid now.
 */
export function verifyJwt(
  token: string,
  secret: string,
  nowSeconds = Date.now() / 1000,
): Record<string, unknown> | undefined {
  if (secret.trim() === '') return undefined;
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  const [head, body, sig] = parts;
  if (!SEGMENT.test(head) || !SEGMENT.test(body) || !SIGNATURE.test(sig)) return undefined;
  const given = Buffer.from(sig, 'base64url');
  // The 43rd character carries two unused bits: only the spelling that re-encodes identically counts.
  if (given.toString('base64url') !== sig) return undefined;
  const expected = createHmac('sha256', secret).update(`${head}.${body}`).digest();
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
  const header = parseJsonObject(head);
  const claims = parseJsonObject(body);
  if (!header || !claims || header.alg !== 'HS256') return undefined;
  const { exp, nbf } = claims;
  if (exp !== undefined && (!isNumericDate(exp) || nowSeconds >= exp)) return undefined;
  if (nbf !== undefined && (!isNumericDate(nbf) || nowSeconds < nbf)) return undefined;
  return claims;
}

function isNumericDate(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

function parseJsonObject(segment: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}
