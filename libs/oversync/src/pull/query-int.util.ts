const INTEGER = /^[+-]?[0-9]+$/;
const INT64_MIN = -(2n ** 63n);
/** The largest int64, the range of go-oversync's query integers. */
export const INT64_MAX = 2n ** 63n - 1n;

/**
 * The query string of a request URL, parsed like Go's `url.ParseQuery` (`+` is a space; the first
 * value of a repeated name wins through `get`). Parsed from the raw URL so a host's query parser
 * (arrays, nested objects) cannot change what the routes see.
 */
export function querySearchParams(url: string | undefined): URLSearchParams {
  const raw = url ?? '';
  const at = raw.indexOf('?');
  return new URLSearchParams(at < 0 ? '' : raw.slice(at + 1));
}

/**
 * Reads an optional int64 query parameter strictly, as Go's `strconv.ParseInt`: an optional sign
 * and decimal digits, nothing else (no spaces, no fractions, no exponent).
 *
 * @param params - the request's query.
 * @param name - the parameter name, used in the error message.
 * @param invalid - builds the route's 400 error from a message.
 * @returns the exact value, or `undefined` when the parameter is absent or empty.
 * @throws the error built by `invalid` with "`name` must be an integer".
 */
export function parseQueryInt64(
  params: URLSearchParams,
  name: string,
  invalid: (message: string) => Error,
): bigint | undefined {
  return parseInt64Text(params.get(name), name, invalid);
}

/** {@link parseQueryInt64} of one raw value (`null` or empty: absent). */
export function parseInt64Text(
  raw: string | null,
  name: string,
  invalid: (message: string) => Error,
): bigint | undefined {
  if (raw === null || raw === '') return undefined;
  if (!INTEGER.test(raw)) throw invalid(`${name} must be an integer`);
  const value = BigInt(raw);
  if (value < INT64_MIN || value > INT64_MAX) throw invalid(`${name} must be an integer`);
  return value;
}

/**
 * {@link parseQueryInt64} as a JS number, for parameters whose useful range is small (page sizes,
 * ordinals): values beyond 2^53 keep double precision.
 */
export function parseQueryInt(
  params: URLSearchParams,
  name: string,
  invalid: (message: string) => Error,
): number | undefined {
  const value = parseQueryInt64(params, name, invalid);
  return value === undefined ? undefined : Number(value);
}

/** A row cursor as a number safe for arithmetic, with its exact digits when it had to be clamped. */
export interface Int64Cursor {
  value: number;
  /** The cursor as sent, when it is above `max` (an empty page echoes it exactly, as Go does). */
  text?: string;
}

/**
 * Clamps an int64 row cursor to `max` for arithmetic and SQL bounds: a cursor that large is past
 * every row (ordinals count rows), but go-oversync echoes it exactly on an empty page, so its
 * digits are kept.
 */
export function int64Cursor(value: bigint, max: number): Int64Cursor {
  return value > BigInt(max) ? { value: max, text: value.toString() } : { value: Number(value) };
}
