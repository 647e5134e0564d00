import { AsyncLocalStorage } from 'node:async_hooks';
import { Injectable, type BeforeApplicationShutdown } from '@nestjs/common';
import { isObservable, Observable } from 'rxjs';
import { ServiceUnavailableError } from '../errors/index.js';

/** A request counted by {@link LifecycleService.runCounted}, and the operations begun inside it. */
interface CountedScope {
  /** The request's observable has not completed, failed or been unsubscribed yet. */
  open: boolean;
  /** Operations begun inside the request that have not ended. */
  nested: number;
  /** Ends the count that holds the operations which outlived their request. */
  release?: () => void;
}

/** `running` → `shutting_down` (drain) → `closed`, as status reports it. */
export type LifecycleState = 'running' | 'shutting_down' | 'closed';

/**
 * Counts in-flight sync operations so shutdown can refuse new ones (503) while the running ones
 * finish. Shutdown waits at most `drainTimeoutMs` before the pool closes underneath stragglers.
 */
@Injectable()
export class LifecycleService implements BeforeApplicationShutdown {
  #state: LifecycleState = 'running';
  #inflight = 0;
  #drained: (() => void) | undefined;
  /** Set while a request counted by {@link runCounted} runs: its inner operations are that request. */
  readonly #counted = new AsyncLocalStorage<CountedScope>();
  drainTimeoutMs = 10_000;

  get state(): LifecycleState {
    return this.#state;
  }

  get inflight(): number {
    return this.#inflight;
  }

  /**
   * Throws `503 service_unavailable` once shutdown began. Sync routes call it where go-oversync's
   * service calls `beginOperation`: after the request was parsed (a malformed request is still 400
   * while draining) and before any validation of values or any database work.
   * @throws ServiceUnavailableError
   */
  assertAccepting(): void {
    if (this.#state !== 'running') throw new ServiceUnavailableError();
  }

  /**
   * Registers one operation; call the returned function exactly once when it ends. Inside a
   * request already counted ({@link runCounted}) nothing more is counted: a push commit is one
   * in-flight operation, not two.
   */
  begin(): () => void {
    this.assertAccepting();
    const scope = this.#counted.getStore();
    if (!scope?.open) return this.enter();
    // Counted by the request while it is open; one that outlives it (a host interceptor's timeout
    // unsubscribed, the handler's commit goes on) is counted again when the request ends.
    scope.nested++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      scope.nested--;
      if (scope.nested === 0 && scope.release) {
        const release = scope.release;
        scope.release = undefined;
        release();
      }
    };
  }

  /**
   * Runs `fn` (and everything it starts asynchronously) as part of an operation already counted.
   * When `fn` returns an observable (an interceptor's `next.handle()`), the request ends with it:
   * operations begun inside that are still running then are counted from that moment, before the
   * caller's own count ends.
   */
  runCounted<T>(fn: () => T): T {
    const scope: CountedScope = { open: true, nested: 0 };
    const result = this.#counted.run(scope, fn);
    if (!isObservable(result)) return result;
    const close = () => {
      if (!scope.open) return;
      scope.open = false;
      if (scope.nested > 0) scope.release = this.enter();
    };
    return new Observable<unknown>((subscriber) => {
      const subscription = result.subscribe({
        next: (value) => subscriber.next(value),
        error: (error: unknown) => {
          close();
          subscriber.error(error);
        },
        complete: () => {
          close();
          subscriber.complete();
        },
      });
      return () => {
        close();
        subscription.unsubscribe();
      };
    }) as T;
  }

  /**
   * Counts one request from its arrival, even while draining (it is about to be answered, so the
   * drain waits for it); call the returned function exactly once when it ends.
   */
  enter(): () => void {
    this.#inflight++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.#inflight--;
      if (this.#inflight === 0) this.#drained?.();
    };
  }

  /** Runs `fn` as one tracked operation. */
  async track<T>(fn: () => Promise<T>): Promise<T> {
    const end = this.begin();
    try {
      return await fn();
    } finally {
      end();
    }
  }

  /** Stops accepting operations and waits for the in-flight ones (bounded by `drainTimeoutMs`). */
  async drain(): Promise<void> {
    if (this.#state === 'running') this.#state = 'shutting_down';
    const deadline = Date.now() + this.drainTimeoutMs;
    // Re-checked after each wake: an operation that outlived its request is counted right after
    // the request's own count ends (see runCounted), so the count can touch 0 and go up again.
    while (this.#inflight > 0 && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
        this.#drained = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#drained = undefined;
    }
    this.#state = 'closed';
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.drain();
  }
}
