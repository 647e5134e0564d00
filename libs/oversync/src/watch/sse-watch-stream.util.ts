import { formatWatchEventFrame, WATCH_HEARTBEAT_FRAME } from '@oversync/protocol';
import type { Response } from 'express';
import type { WatchSubscriber } from './bundle-change.hub.js';

/**
 * Writes one watcher's events to its `GET /sync/watch` response as Server-Sent Events, with
 * `: heartbeat` comments in between. Honours socket back-pressure: while the socket is full,
 * events coalesce in the subscriber's one-slot queue and heartbeats are skipped.
 */
export class SseWatchStream {
  #started = false;
  #ended = false;
  #draining = false;
  #heartbeat: NodeJS.Timeout | undefined;
  #subscriber: WatchSubscriber | undefined;

  /**
   * @param res - the Express response (headers not sent yet).
   * @param heartbeatMs - interval of `: heartbeat` comments.
   * @param onEnd - called once when the stream ends for any reason (client gone, shutdown, error),
   *   with the subscriber it was started with.
   */
  constructor(
    private readonly res: Response,
    private readonly heartbeatMs: number,
    private readonly onEnd: (subscriber: WatchSubscriber | undefined) => void,
  ) {}

  get ended(): boolean {
    return this.#ended;
  }

  /** Sends the 200 headers, then whatever the subscriber already queued, then starts heartbeats. */
  start(subscriber: WatchSubscriber): void {
    this.#subscriber = subscriber;
    const { res } = this;
    res.status(200);
    res.setHeader('Content-Type', 'text/event-stream');
    res.setHeader('Cache-Control', 'no-cache');
    res.setHeader('X-Accel-Buffering', 'no');
    res.flushHeaders();
    res.socket?.setNoDelay(true);
    // 'close' fires when the client goes away (or after end()); either way the watcher is done.
    res.on('close', () => this.end(true));
    res.on('error', () => this.end(true));
    this.#heartbeat = setInterval(() => this.#write(WATCH_HEARTBEAT_FRAME), this.heartbeatMs);
    this.#started = true;
    this.flush();
  }

  /** Writes queued events; called by the subscriber whenever one is queued. */
  flush(): void {
    if (!this.#started || this.#ended || this.#draining || !this.#subscriber) return;
    for (let event = this.#subscriber.take(); event; event = this.#subscriber.take()) {
      if (!this.#write(formatWatchEventFrame(event))) return;
    }
  }

  /**
   * Ends the stream (idempotent).
   * @param clientGone - the client disconnected: drop the socket instead of finishing the response
   *   (a half-closed keep-alive socket would otherwise hold up server shutdown).
   */
  end(clientGone = false): void {
    if (this.#ended) return;
    this.#ended = true;
    clearInterval(this.#heartbeat);
    this.onEnd(this.#subscriber);
    if (clientGone) this.res.destroy();
    else if (!this.res.writableEnded) this.res.end();
  }

  /** Returns false when the socket is full (the frame is buffered; the next ones wait for 'drain'). */
  #write(frame: string): boolean {
    if (this.#ended || this.#draining) return false;
    const accepted = this.res.write(frame);
    // A host's compression middleware (the `compression` package) holds what it compresses until
    // told to flush, so a wake-up would wait for kilobytes of later frames; go-oversync's handler
    // flushes after every frame too.
    (this.res as Response & { flush?: () => void }).flush?.();
    if (accepted) return true;
    this.#draining = true;
    this.res.once('drain', () => {
      this.#draining = false;
      this.flush();
    });
    return false;
  }
}
