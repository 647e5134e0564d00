/**
 * The abort scope of one HTTP request: its signal aborts when any parent signal does (the caller's,
 * or the operation's that `stop()` cancels) or when `timeoutMs` passes without `dispose()`.
 *
 * `dispose()` removes the listeners on the parents and the timer, so a long-lived parent (one
 * background session's signal, seen by thousands of requests) never collects one listener per
 * request.
 */
export class RequestScope {
  readonly #controller = new AbortController();
  readonly #parents: readonly AbortSignal[];
  readonly #timer: ReturnType<typeof setTimeout> | undefined;
  #timedOut = false;

  constructor(
    parents: ReadonlyArray<AbortSignal | undefined>,
    readonly timeoutMs: number,
  ) {
    this.#parents = parents.filter((s): s is AbortSignal => s !== undefined);
    const aborted = this.#parents.find((s) => s.aborted);
    if (aborted) {
      this.#controller.abort(aborted.reason);
      return;
    }
    for (const parent of this.#parents) parent.addEventListener('abort', this.#onParentAbort, { once: true });
    this.#timer = setTimeout(() => {
      this.#timedOut = true;
      this.#controller.abort(new DOMException(`no answer within ${timeoutMs} ms`, 'TimeoutError'));
    }, timeoutMs);
  }

  /** Aborts with the parent's reason, or with a `TimeoutError` when the time ran out. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** True when the scope aborted because `timeoutMs` passed (not because a parent aborted). */
  get timedOut(): boolean {
    return this.#timedOut;
  }

  /**
   * Settles like `promise`, or rejects with the abort reason as soon as the scope aborts. A `fetch`
   * that ignores its signal (or a token provider that never answers) cannot hold the caller: its
   * late result is dropped, and a late rejection is observed so it is never reported as unhandled.
   */
  race<T>(promise: Promise<T>): Promise<T> {
    const signal = this.signal;
    if (signal.aborted) {
      void promise.catch(() => undefined);
      return Promise.reject(signal.reason as Error);
    }
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => reject(signal.reason as Error);
      signal.addEventListener('abort', onAbort, { once: true });
      void promise.then(
        (value) => {
          signal.removeEventListener('abort', onAbort);
          resolve(value);
        },
        (error: unknown) => {
          signal.removeEventListener('abort', onAbort);
          // Passes the promise's own rejection on unchanged, whatever it is.
          // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
          reject(error);
        },
      );
    });
  }

  /** Stops the timer and detaches from the parents; the signal itself stays as it is. */
  dispose(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    for (const parent of this.#parents) parent.removeEventListener('abort', this.#onParentAbort);
  }

  readonly #onParentAbort = (event: Event): void => {
    this.#controller.abort((event.target as AbortSignal).reason);
  };
}
