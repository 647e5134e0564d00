import {
  type SyncOperationName,
  type SyncStatusEvent,
  type SyncStatusListener,
} from './oversync-client.types.js';
import { reportSafely } from './errors/report-safely.util.js';

/** Listener registry for status events; a throwing listener never breaks an operation. */
export class StatusEmitter {
  readonly #listeners = new Set<SyncStatusListener>();
  readonly #onListenerError: (error: unknown) => void;

  constructor(onListenerError: (error: unknown) => void) {
    this.#onListenerError = reportSafely(onListenerError);
  }

  /** Adds a listener and returns its unsubscribe function. */
  subscribe(listener: SyncStatusListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  emit(event: SyncStatusEvent): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener(event);
      } catch (error) {
        this.#onListenerError(error);
      }
    }
  }

  /**
   * Runs `fn` between `syncing` and `synced`/`error` events. `fn` resolves only after its effects
   * are durable, so `synced` means "applied locally and persisted".
   */
  async track<T>(
    operation: SyncOperationName,
    fn: () => Promise<T>,
    snapshot: () => { lastBundleSeqSeen: number; pendingRowCount: number },
  ): Promise<T> {
    this.emit({ state: 'syncing', operation });
    try {
      const result = await fn();
      this.emit({ state: 'synced', operation, ...snapshot() });
      return result;
    } catch (error) {
      this.emit({ state: 'error', operation, error });
      throw error;
    }
  }
}
