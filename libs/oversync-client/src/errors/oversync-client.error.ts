import { type ClientErrorCode } from './client-error-codes.js';

/** JSON-safe extra data attached to an error. */
export type ErrorDetails = Readonly<Record<string, unknown>>;

const BRAND = Symbol.for('@oversync/client.error');

/**
 * Base class of every error thrown by `@oversync/client`.
 *
 * `code` is stable and documented in {@link ClientErrorCode}; `details` is JSON-safe; `cause`
 * carries the underlying error when there is one. Use {@link isOversyncClientError} to check,
 * because `instanceof` fails when two copies of the library end up in one bundle.
 */
export class OversyncClientError<D extends ErrorDetails = ErrorDetails> extends Error {
  override readonly name: string = 'OversyncClientError';
  readonly code: ClientErrorCode;
  readonly details: D;

  constructor(code: ClientErrorCode, message: string, details: D, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = details;
    Object.defineProperty(this, BRAND, { value: true });
  }

  /** A plain JSON view (code, name, message, details) for logs and telemetry. */
  toJSON(): { name: string; code: ClientErrorCode; message: string; details: D } {
    return { name: this.name, code: this.code, message: this.message, details: this.details };
  }
}

/**
 * True when `error` is an {@link OversyncClientError} (from any copy of this library), optionally
 * with the given `code`.
 *
 * @example
 * ```ts
 * try { await client.pushPending(); }
 * catch (e) { if (isOversyncClientError(e, 'sync_in_progress')) return; throw e; }
 * ```
 */
export function isOversyncClientError<C extends ClientErrorCode>(
  error: unknown,
  code?: C,
): error is OversyncClientError & { code: C } {
  if (typeof error !== 'object' || error === null) return false;
  const branded = error instanceof OversyncClientError || (error as Record<symbol, unknown>)[BRAND] === true;
  if (!branded) return false;
  return code === undefined || (error as OversyncClientError).code === code;
}
