import { reportSafely } from '../errors/report-safely.util.js';
import { type SqlJsAdapter } from './sql-js.adapter.js';
import { type OversyncPersister } from './persister.types.js';

/**
 * Turns the in-memory sql.js database into durable state.
 *
 * - `persistNow()` exports and saves at once; the sync engine awaits it before every network call
 *   and before resolving any call whose result it acknowledges.
 * - `schedule()` coalesces bursts (app writes) into one export after `debounceMs`.
 * - Saves are serialised: each save exports at the moment it runs, so the last save always holds
 *   the newest image even when a slow save is overtaken.
 */
export class ExportScheduler {
  #timer: ReturnType<typeof setTimeout> | undefined;
  #chain: Promise<void> = Promise.resolve();
  #pending = false;
  #lastError: unknown;
  /** Reports failed debounced saves; never throws (nothing awaits a debounced save). */
  readonly #onError: (error: unknown) => void;

  constructor(
    private readonly adapter: SqlJsAdapter,
    private readonly persister: OversyncPersister | undefined,
    private readonly debounceMs: number,
    onError: (error: unknown) => void,
    private readonly afterExport: () => void = () => undefined,
  ) {
    this.#onError = reportSafely(onError);
  }

  /** True when a persister is configured. */
  get enabled(): boolean {
    return this.persister !== undefined;
  }

  /** Asks for a coalesced export soon (after app writes). */
  schedule(): void {
    if (!this.persister) return;
    this.#pending = true;
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.persistNow().catch((error: unknown) => this.#onError(error));
    }, this.debounceMs);
  }

  /** Exports and saves now; resolves when the image is durable. */
  persistNow(): Promise<void> {
    const persister = this.persister;
    if (!persister) return Promise.resolve();
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    this.#pending = false;
    const run = this.#chain.then(async () => {
      try {
        // Export inside the chain, so a save that starts later never writes an older image.
        const image = this.adapter.export();
        this.afterExport();
        await persister.save(image);
      } catch (error) {
        // Nothing newer than the last good save is durable: stay dirty, so flush() (and close())
        // tries again or fails instead of resolving over a lost write.
        this.#pending = true;
        // sql.js refuses to export while the app holds a transaction open: try again after it
        // had time to commit rather than waiting for the next write or flush.
        if (isBusyExport(error)) this.schedule();
        throw error;
      }
    });
    this.#chain = run.catch((error: unknown) => {
      this.#lastError = error;
    });
    return run;
  }

  /**
   * Persists pending coalesced changes and waits for every save in flight. Rejects when the image
   * could not be saved, also when the failure was a background save's.
   */
  async flush(): Promise<void> {
    if (!this.#pending && this.#timer === undefined) {
      // Only saves in flight: wait for them. One that fails marks the image dirty again (its
      // error is swallowed by the chain), so it is saved once more below instead of resolving
      // over the lost write.
      await this.#chain;
      if (!this.#pending && this.#timer === undefined) return;
    }
    await this.persistNow();
  }

  /** The last error of a background save, if any. */
  get lastError(): unknown {
    return this.#lastError;
  }

  /** Cancels a pending debounce timer (used by `close()` after a final flush). */
  dispose(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

/** sql.js's refusal to export while a transaction is open ("SQLite is busy or locked"). */
function isBusyExport(error: unknown): boolean {
  return error instanceof Error && /busy or locked/i.test(error.message);
}
