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
   * Runs an operation between `syncing` and `synced`/`error` events. `locked` runs `body` under the
   * client's lock; `body` emits `syncing`, runs `fn` and takes the snapshot there, while the
   * terminal event is emitted only after `locked` returned, so a listener that reacts to `synced`
   * or `error` by calling the client again is not refused with `sync_in_progress`. A call the lock
   * turns away emits nothing. `fn` resolves only after its effects are durable, so `synced` means
   * "applied locally and persisted".
   */
  async track<T>(
    operation: SyncOperationName,
    locked: (body: () => Promise<T>) => Promise<T>,
    fn: () => Promise<T>,
    snapshot: () => { lastBundleSeqSeen: number; pendingRowCount: number },
  ): Promise<T> {
    let started = false;
    let after = { lastBundleSeqSeen: 0, pendingRowCount: 0 };
    try {
      const result = await locked(async () => {
        started = true;
        this.emit({ state: 'syncing', operation });
        const value = await fn();
        after = snapshot();
        return value;
      });
      this.emit({ state: 'synced', operation, ...after });
      return result;
    } catch (error) {
      if (started) this.emit({ state: 'error', operation, error });
      throw error;
    }
  }
}
