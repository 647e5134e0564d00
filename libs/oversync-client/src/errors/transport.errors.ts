import { type ErrorBody } from '@oversync/protocol';

import { ClientErrorCode } from './client-error-codes.js';
import { OversyncClientError } from './oversync-client.error.js';

/** A parsed error envelope, including extra fields (`conflict`, `replaced_by_source_id`, …). */
export type ServerErrorBody = ErrorBody<string> & Record<string, unknown>;

/** The server answered with a non-success HTTP status. */
export class HttpStatusError extends OversyncClientError<{
  status: number;
  error: string;
  serverMessage: string;
  method: string;
  path: string;
  body: ServerErrorBody | null;
}> {
  override readonly name = 'HttpStatusError';
  constructor(method: string, path: string, status: number, body: ServerErrorBody | null, rawText: string) {
    const error = body?.error ?? '';
    const serverMessage = body?.message ?? rawText.slice(0, 200);
    super(
      ClientErrorCode.HttpStatus,
      `${method} ${path} failed with HTTP ${status}${error ? ` ${error}` : ''}${serverMessage ? `: ${serverMessage}` : ''}`,
      { status, error, serverMessage, method, path, body },
    );
  }
}

/**
 * The request got no HTTP answer (offline, reset, aborted), or none within `requestTimeoutMs`:
 * then `details.timeoutMs` is set and the request was aborted. Both are transient (retried by the
 * retry policy, then reported by background sync); every step before the request was persisted,
 * so the next sync resumes where this one stopped.
 */
export class NetworkError extends OversyncClientError<{ method: string; path: string; timeoutMs?: number }> {
  override readonly name = 'NetworkError';
  /**
   * @param cause - what `fetch` (or reading the body) failed with.
   * @param timeoutMs - set when the request was aborted because it took longer than this.
   */
  constructor(method: string, path: string, cause: unknown, timeoutMs?: number) {
    const reason =
      timeoutMs === undefined
        ? cause instanceof Error
          ? cause.message
          : String(cause)
        : `no answer within ${timeoutMs} ms, so the request was aborted (raise requestTimeoutMs for slow links)`;
    super(
      ClientErrorCode.Network,
      `${method} ${path} failed before an HTTP answer: ${reason}`,
      timeoutMs === undefined ? { method, path } : { method, path, timeoutMs },
      { cause },
    );
  }
}

/** The server's answer breaks the protocol (malformed JSON, wrong echo, hash mismatch, …). */
export class ProtocolViolationError extends OversyncClientError<{ operation: string; reason: string }> {
  override readonly name = 'ProtocolViolationError';
  constructor(operation: string, reason: string) {
    super(ClientErrorCode.ProtocolViolation, `${operation}: invalid server response: ${reason}`, {
      operation,
      reason,
    });
  }
}

/** A transient failure persisted through every attempt of the retry policy. */
export class RetryExhaustedError extends OversyncClientError<{ operation: string; attempts: number }> {
  override readonly name = 'RetryExhaustedError';
  constructor(operation: string, attempts: number, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(
      ClientErrorCode.RetryExhausted,
      `${operation} failed after ${attempts} attempt(s): ${reason}`,
      { operation, attempts },
      { cause },
    );
  }
}
