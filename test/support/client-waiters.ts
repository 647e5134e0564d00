/**
 * Condition waiters for the client suites: poll a condition (or listen for a client status event)
 * until it holds, instead of sleeping for a guessed time.
 */
import type { OversyncClient, SyncStatusEvent } from '@oversync/client';

/** Options of {@link waitFor}. */
export interface WaitOptions {
  /** @default 10000 */
  timeoutMs?: number;
  /** @default 5 */
  intervalMs?: number;
  /** Named in the timeout error. */
  what?: string;
}

/**
 * Resolves with the first truthy value of `probe` (sync or async), polling every `intervalMs`.
 *
 * @throws Error after `timeoutMs` naming `what` and the last probe error, if any.
 */
export async function waitFor<T>(
  probe: () => T | Promise<T>,
  { timeoutMs = 10_000, intervalMs = 5, what = 'condition' }: WaitOptions = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const suffix = lastError instanceof Error ? `; last error: ${lastError.message}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${suffix}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/**
 * Resolves with the first status event of `client` that matches `predicate`. Subscribe before
 * triggering the action that produces the event.
 */
export function nextStatus(
  client: OversyncClient,
  predicate: (event: SyncStatusEvent) => boolean,
  timeoutMs = 10_000,
): Promise<SyncStatusEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      unsubscribe();
      reject(new Error(`no matching status event within ${timeoutMs} ms`));
    }, timeoutMs);
    const unsubscribe = client.onStatus((event) => {
      if (!predicate(event)) return;
      clearTimeout(timer);
      unsubscribe();
      resolve(event);
    });
  });
}
