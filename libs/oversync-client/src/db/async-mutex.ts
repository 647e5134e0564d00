/**
 * A minimal promise mutex. `tryAcquire` never waits (the client's public operations fail fast with
 * `sync_in_progress`); `runExclusive` queues (used for persistence writes).
 */
export class AsyncMutex {
  #tail: Promise<void> = Promise.resolve();
  #held = false;
  #label = '';

  /** True while someone holds the mutex. */
  get isLocked(): boolean {
    return this.#held;
  }

  /** The label given by the current holder (for error messages). */
  get holder(): string {
    return this.#label;
  }

  /** Takes the mutex if it is free, else returns `null`. Call the returned function to release. */
  tryAcquire(label: string): (() => void) | null {
    if (this.#held) return null;
    this.#held = true;
    this.#label = label;
    let release!: () => void;
    const done = new Promise<void>((resolve) => (release = resolve));
    this.#tail = this.#tail.then(() => done);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#held = false;
      this.#label = '';
      release();
    };
  }

  /** Waits for the mutex, runs `fn`, then releases. */
  async runExclusive<T>(label: string, fn: () => Promise<T> | T): Promise<T> {
    const previous = this.#tail;
    let release!: () => void;
    const done = new Promise<void>((resolve) => (release = resolve));
    this.#tail = previous.then(() => done);
    await previous;
    this.#held = true;
    this.#label = label;
    try {
      return await fn();
    } finally {
      this.#held = false;
      this.#label = '';
      release();
    }
  }
}
