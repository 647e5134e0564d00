/**
 * A fail-fast mutex for the client's public operations: `tryAcquire` never waits (a second
 * operation fails with `sync_in_progress`), and `idle()` lets `close()` wait for the running one.
 */
export class AsyncMutex {
  #label = '';
  #token: object | undefined;
  #idle: Promise<void> = Promise.resolve();

  /** True while an operation holds the mutex. */
  get isLocked(): boolean {
    return this.#label !== '';
  }

  /** The label of the current holder (for error messages). */
  get holder(): string {
    return this.#label;
  }

  /** Takes the mutex if it is free, else returns `null`. Call the returned function to release. */
  tryAcquire(label: string): (() => void) | null {
    if (this.#label !== '') return null;
    const token = {};
    this.#token = token;
    this.#label = label || 'operation';
    let resolve!: () => void;
    this.#idle = new Promise<void>((r) => (resolve = r));
    return () => {
      if (this.#token !== token) return;
      this.#token = undefined;
      this.#label = '';
      resolve();
    };
  }

  /** Resolves when no operation holds the mutex. */
  async idle(): Promise<void> {
    while (this.#label !== '') await this.#idle;
  }
}
