import { setTimeout as sleep } from 'node:timers/promises';
import { RETRYABLE_SQLSTATES, sqlState } from '../database/pg-values.util.js';

/** Attempts in total for one push-session call, as in go-oversync. */
export const PUSH_TRANSACTION_ATTEMPTS = 3;

/**
 * Re-runs a whole transaction when it lost a race (serialization failure 40001, deadlock 40P01,
 * lock timeout 55P03): up to {@link PUSH_TRANSACTION_ATTEMPTS} attempts with a 25 ms × attempt
 * pause. Only for the push-session calls, whose bodies touch nothing outside the database.
 *
 * @param run - starts one complete transaction (lock included) per call.
 * @returns what the first successful attempt returned.
 */
export async function withTransactionRetries<T>(run: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (error) {
      const state = sqlState(error);
      if (attempt >= PUSH_TRANSACTION_ATTEMPTS || !state || !RETRYABLE_SQLSTATES.has(state)) throw error;
      await sleep(25 * attempt);
    }
  }
}
