import { Injectable, type BeforeApplicationShutdown } from '@nestjs/common';
import { sql } from 'kysely';
import { toInt } from '../database/pg-values.util.js';
import { readInitializedScope } from '../pull/scope-read.util.js';
import { OversyncRuntime } from '../runtime/oversync-runtime.service.js';
import { BundleChangeHub, type WatchSubscriber } from './bundle-change.hub.js';

/** Something that can be ended when the service shuts down (an open watch stream). */
export interface ClosableStream {
  end(): void;
}

/**
 * Subscribes watchers of `GET /sync/watch` and owns their open streams, which it ends on shutdown
 * so draining never waits on a long-lived connection.
 */
@Injectable()
export class BundleWatchService implements BeforeApplicationShutdown {
  readonly #streams = new Set<ClosableStream>();
  #closing = false;

  constructor(
    private readonly runtime: OversyncRuntime,
    private readonly hub: BundleChangeHub,
  ) {}

  /**
   * Registers a watcher of an INITIALIZED scope. The subscriber is registered **before** the
   * latest `bundle_seq` is read, and if that is beyond `afterBundleSeq` a `{bundle_seq}` event is
   * queued at once, so no commit can fall between the read and the registration.
   *
   * @param onReady - called whenever an event is queued for this watcher.
   * @throws ScopeUninitializedError | ScopeInitializingError
   */
  async subscribe(userId: string, afterBundleSeq: number, onReady: () => void): Promise<WatchSubscriber> {
    const scope = await readInitializedScope(this.runtime.db, userId);
    const subscriber = this.hub.subscribe(scope.userPk, afterBundleSeq, onReady);
    try {
      const { rows } = await sql<{ latest: string }>`
        SELECT (next_bundle_seq - 1)::text AS latest FROM sync.user_state WHERE user_pk = ${scope.userPk}`.execute(
        this.runtime.db,
      );
      const latest = toInt(rows[0]?.latest);
      if (latest > afterBundleSeq) subscriber.offer({ bundle_seq: latest });
    } catch (error) {
      this.hub.unsubscribe(subscriber);
      throw error;
    }
    return subscriber;
  }

  /** Removes a watcher (idempotent). */
  unsubscribe(subscriber: WatchSubscriber): void {
    this.hub.unsubscribe(subscriber);
  }

  /**
   * Tracks an open stream so shutdown can end it.
   * @returns false once shutdown has ended the streams: the caller must not open this one (a
   *   watch still subscribing when shutdown began would otherwise stay open and hold the server).
   */
  track(stream: ClosableStream): boolean {
    if (this.#closing) return false;
    this.#streams.add(stream);
    return true;
  }

  /** Stops tracking a stream that ended. */
  untrack(stream: ClosableStream): void {
    this.#streams.delete(stream);
  }

  /** Number of open watch streams of this instance. */
  get openStreams(): number {
    return this.#streams.size;
  }

  beforeApplicationShutdown(): void {
    this.#closing = true;
    for (const stream of [...this.#streams]) stream.end();
    this.#streams.clear();
  }
}
