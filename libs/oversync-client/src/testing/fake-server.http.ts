/** A request as seen by the fake server (and recorded in its log). */
export interface FakeRequest {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: unknown;
  readonly signal: AbortSignal | undefined;
}

/** A JSON response with the Go server's trailing newline. */
export function jsonResponse(status: number, body: unknown): Response {
  return new Response(`${JSON.stringify(body)}\n`, {
    status,
    headers: { 'Content-Type': 'application/json' },
  });
}

/** The `{error, message}` envelope, with optional extra fields. */
export function errorResponse(status: number, error: string, message: string, extra: object = {}): Response {
  return jsonResponse(status, { error, message, ...extra });
}

/** A thrown value that routes turn into an error response. */
export class FakeHttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: object = {},
  ) {
    super(message);
  }
}

/** Throws a {@link FakeHttpError}. */
export function fail(status: number, code: string, message: string, extra: object = {}): never {
  throw new FakeHttpError(status, code, message, extra);
}

/** Normalises `fetch` init headers to a plain lowercase-keyed record. */
export function headerRecord(headers: HeadersInit | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  new Headers(headers).forEach((value, key) => (out[key.toLowerCase()] = value));
  return out;
}

/** Strict integer query parsing (the Go server rejects whitespace and fractions). */
export function intParam(query: URLSearchParams, name: string, fallback: number, code: string): number {
  const raw = query.get(name);
  if (raw === null) return fallback;
  if (!/^-?\d+$/.test(raw)) fail(400, code, `${name} must be an integer`);
  return Number(raw);
}
