// The auth scheme is case-insensitive (RFC 7235 §2.1); a token68 holds no whitespace.
const BEARER = /^bearer\s+(\S+)$/i;

/**
 * Extracts the token of an `Authorization: Bearer <token>` header.
 *
 * @param header - the header value, if any.
 * @returns the token, or undefined when the header is missing, blank or another scheme.
 */
export function bearerToken(header: string | undefined): string | undefined {
  return header === undefined ? undefined : BEARER.exec(header.trim())?.[1];
}
