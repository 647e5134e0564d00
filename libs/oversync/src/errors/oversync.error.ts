/** JSON-safe details attached to an error; never holds secrets or stack traces. */
export type OversyncErrorDetails = Readonly<Record<string, unknown>>;

/**
 * Base class of every error the server library raises. `code` is stable: wire errors use the
 * go-oversync v1 `error` code (the HTTP filter maps it to the status), engine-only errors use an
 * `oversync_*` code.
 */
export class OversyncError extends Error {
  /** Stable machine-readable code. */
  readonly code: string;
  /** JSON-safe context (ids, limits) for logs and error bodies. */
  readonly details: OversyncErrorDetails;

  constructor(
    code: string,
    message: string,
    details: OversyncErrorDetails = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.details = details;
  }
}
