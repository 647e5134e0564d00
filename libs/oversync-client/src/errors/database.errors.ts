import { ClientErrorCode } from './client-error-codes.js';
import { OversyncClientError } from './oversync-client.error.js';

/**
 * The app holds a transaction of its own open on the database (`BEGIN` without `COMMIT`), so the
 * client cannot start the transaction its sync step needs. Nothing changed; the step can run again
 * once the app commits (background sync retries it with backoff).
 */
export class AppTransactionOpenError extends OversyncClientError<Record<string, never>> {
  override readonly name = 'AppTransactionOpenError';
  constructor(options?: { cause?: unknown }) {
    super(
      ClientErrorCode.AppTransactionOpen,
      "the client cannot start its transaction while the app holds one open on the database; commit or roll back the app's transaction, then try again",
      {},
      options,
    );
  }
}
