import { Injectable } from '@nestjs/common';
import type { WatchEvent } from '@oversync/protocol';

/**
 * One watcher of a scope, with a one-slot queue: a newer event replaces an unsent older one, and
 * events at or below the last queued/sent `bundle_seq` are dropped, so a slow reader only ever
 * sees the latest sequence and publishing never blocks.
 */
export class WatchSubscriber {
  #lastSeq: number;
  #pending: WatchEvent | null = null;
  #closed = false;

  /**
   * @param userPk - the scope's `user_pk` (the hub key).
   * @param afterBundleSeq - the watcher's checkpoint; nothing at or below it is delivered.
   * @param onReady - called (synchronously) whenever an event is queued.
   */
  constructor(
    readonly userPk: number,
    afterBundleSeq: number,
    private readonly onReady: () => void,
  ) {
    this.#lastSeq = afterBundleSeq;
  }

  /** Queues `event` unless it is stale; returns true when it was queued. */
  offer(event: WatchEvent): boolean {
    if (this.#closed || event.bundle_seq <= this.#lastSeq) return false;
    this.#lastSeq = event.bundle_seq;
    this.#pending = event;
    this.onReady();
    return true;
  }

  /** Removes and returns the queued event, if any. */
  take(): WatchEvent | null {
    const event = this.#pending;
    this.#pending = null;
    return event;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** @internal Called by the hub on unsubscribe. */
  markClosed(): void {
    this.#closed = true;
    this.#pending = null;
  }
}

/**
 * Process-local fan-out of bundle-change events, keyed by `user_pk`. Fed by the LISTEN client of
 * this process (every process sees every commit), read by the SSE streams of `GET /sync/watch`.
 */
@Injectable()
export class BundleChangeHub {
  readonly #subscribers = new Map<number, Set<WatchSubscriber>>();

  /** Registers a watcher; call {@link unsubscribe} when its stream ends. */
  subscribe(userPk: number, afterBundleSeq: number, onReady: () => void): WatchSubscriber {
    const subscriber = new WatchSubscriber(userPk, afterBundleSeq, onReady);
    let set = this.#subscribers.get(userPk);
    if (!set) {
      set = new Set();
      this.#subscribers.set(userPk, set);
    }
    set.add(subscriber);
    return subscriber;
  }

  /** Removes a watcher (idempotent). */
  unsubscribe(subscriber: WatchSubscriber): void {
    subscriber.markClosed();
    const set = this.#subscribers.get(subscriber.userPk);
    if (!set) return;
    set.delete(subscriber);
    if (set.size === 0) this.#subscribers.delete(subscriber.userPk);
  }

  /** Offers `event` to every watcher of `userPk`; never blocks. */
  publish(userPk: number, event: WatchEvent): void {
    const set = this.#subscribers.get(userPk);
    if (!set) return;
    for (const subscriber of set) subscriber.offer(event);
  }

  /** The scopes that currently have watchers (for the listener's catch-up). */
  subscribedUserPks(): number[] {
    return [...this.#subscribers.keys()];
  }

  /** Number of watchers of one scope, or of all scopes. */
  subscriberCount(userPk?: number): number {
    if (userPk !== undefined) return this.#subscribers.get(userPk)?.size ?? 0;
    let total = 0;
    for (const set of this.#subscribers.values()) total += set.size;
    return total;
  }
}
