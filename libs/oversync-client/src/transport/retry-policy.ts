import { RETRYABLE_HTTP_STATUSES } from '@oversync/protocol';

import { isOversyncClientError } from '../errors/oversync-client.error.js';
import { RetryExhaustedError } from '../errors/transport.errors.js';

/** Retry policy for transient transport failures (HTTP 429/502/503/504 and network errors). */
export interface RetryPolicy {
  /**
   * `false` means exactly one attempt.
   * @default true
   */
  enabled?: boolean;
  /**
   * Attempts in total, including the first.
   * @default 3
   */
  maxAttempts?: number;
  /**
   * Delay before the second attempt; doubles each time.
   * @default 100
   */
  initialBackoffMs?: number;
  /**
   * Upper bound of the delay.
   * @default 1000
   */
  maxBackoffMs?: number;
  /**
   * Random jitter as a fraction of the delay (±).
   * @default 0.2
   */
  jitterFraction?: number;
}

/** A policy with every field resolved. */
export type ResolvedRetryPolicy = Required<RetryPolicy>;

/** Fills defaults; non-positive values fall back to them and `maxBackoffMs ≥ initialBackoffMs`. */
export function resolveRetryPolicy(policy: RetryPolicy | false | undefined): ResolvedRetryPolicy {
  const p = policy === false ? { enabled: false } : (policy ?? {});
  const positive = (v: number | undefined, d: number) => (v !== undefined && v > 0 ? v : d);
  const initialBackoffMs = positive(p.initialBackoffMs, 100);
  return {
    enabled: p.enabled ?? true,
    maxAttempts: Math.floor(positive(p.maxAttempts, 3)),
    initialBackoffMs,
    maxBackoffMs: Math.max(positive(p.maxBackoffMs, 1000), initialBackoffMs),
    jitterFraction: p.jitterFraction !== undefined && p.jitterFraction >= 0 ? p.jitterFraction : 0.2,
  };
}

/** True for failures worth retrying: 429/502/503/504 and network errors. */
export function isRetryableError(error: unknown): boolean {
  if (isOversyncClientError(error, 'http_status')) {
    return RETRYABLE_HTTP_STATUSES.includes((error.details as { status: number }).status);
  }
  return isOversyncClientError(error, 'network_error');
}

/** Sleeps `ms`, resolving early (without error) when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Runs `fn` under the policy. Retryable failures are retried with exponential backoff and jitter;
 * after the last attempt they surface as {@link RetryExhaustedError} (with the last error as
 * `cause`). Other failures surface at once.
 */
export async function withRetry<T>(
  policy: ResolvedRetryPolicy,
  operation: string,
  fn: (attempt: number) => Promise<T>,
  signal?: AbortSignal,
): Promise<T> {
  const attempts = policy.enabled ? policy.maxAttempts : 1;
  let delay = policy.initialBackoffMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (error) {
      if (!isRetryableError(error) || signal?.aborted) throw error;
      if (attempt >= attempts) {
        if (attempts === 1) throw error;
        throw new RetryExhaustedError(operation, attempt, error);
      }
      const jitter = delay * policy.jitterFraction * (Math.random() * 2 - 1);
      await sleep(Math.max(0, delay + jitter), signal);
      delay = Math.min(delay * 2, policy.maxBackoffMs);
    }
  }
}
