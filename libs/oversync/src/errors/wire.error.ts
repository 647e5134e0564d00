import { OversyncError, type OversyncErrorDetails } from './oversync.error.js';

/**
 * An error answered with a go-oversync v1 wire code (`push_chunk_invalid`, `push_session_not_found`,
 * …). The HTTP filter takes the status from the protocol's error table.
 */
export class SyncWireError extends OversyncError {
  constructor(
    code: string,
    message: string,
    details: OversyncErrorDetails = {},
    options?: { cause?: unknown },
  ) {
    super(code, message, details, options);
  }
}
