import { AsyncLocalStorage } from 'node:async_hooks';
import { Injectable, type BeforeApplicationShutdown } from '@nestjs/common';
import { ServiceUnavailableError } from '../errors/index.js';

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
  readonly #counted = new AsyncLocalStorage<true>();
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
    if (this.#counted.getStore()) return () => undefined;
    return this.enter();
  }

  /** Runs `fn` (and everything it starts asynchronously) as part of an operation already counted. */
  runCounted<T>(fn: () => T): T {
    return this.#counted.run(true, fn);
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
    if (this.#inflight > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.drainTimeoutMs);
        this.#drained = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    this.#state = 'closed';
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.drain();
  }
}
