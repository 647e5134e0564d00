import { WatchStreamParser, type WatchEvent } from '@oversync/protocol';

import { ProtocolViolationError } from '../errors/transport.errors.js';

/** Options of {@link readWatchStream}. */
export interface WatchStreamReadOptions {
  /** Cancels the body; the read then resolves. */
  signal?: AbortSignal;
  /** Called for every chunk of the body, heartbeats included: the stream is alive. */
  onData?: () => void;
  /**
   * Longest silence (no event, no heartbeat) before the stream counts as dead: the body is
   * cancelled and the read resolves as if the stream had ended. A half-open connection (a
   * sleeping laptop, a NAT that dropped the mapping) otherwise looks like a quiet stream for hours.
   */
  idleTimeoutMs?: number;
}

/**
 * Reads a `GET /sync/watch` Server-Sent Events body until it ends, calling `onEvent` for every
 * `event: bundle`. Heartbeats are skipped by the parser. A malformed event ends the stream with a
 * {@link ProtocolViolationError}. Resolves when the body ends, when `signal` aborts, and when
 * nothing arrived for `idleTimeoutMs`.
 */
export async function readWatchStream(
  response: Response,
  onEvent: (event: WatchEvent) => void,
  { signal, onData, idleTimeoutMs }: WatchStreamReadOptions = {},
): Promise<void> {
  if (!response.body) throw new ProtocolViolationError('watch', 'response has no body stream');
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  const parser = new WatchStreamParser();
  let idle = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const cancel = () => {
    reader.cancel().catch(() => undefined);
  };
  const armIdleTimer = () => {
    if (idleTimeoutMs === undefined) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      idle = true;
      cancel();
    }, idleTimeoutMs);
  };
  signal?.addEventListener('abort', cancel, { once: true });
  try {
    // Aborted before the listener was in place (the abort event is gone): stop now, not at the
    // server's next heartbeat.
    if (signal?.aborted) return;
    armIdleTimer();
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (error) {
        // Cancelled by the idle timer: a dead connection, handled like an ended stream.
        if (idle) return;
        throw error;
      }
      const { done, value } = chunk;
      if (done || idle || signal?.aborted) return;
      if (value.byteLength > 0) {
        armIdleTimer();
        onData?.();
      }
      let events: WatchEvent[];
      try {
        events = parser.push(decoder.decode(value, { stream: true }));
      } catch (error) {
        throw new ProtocolViolationError('watch', error instanceof Error ? error.message : String(error));
      }
      for (const event of events) onEvent(event);
    }
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', cancel);
    cancel();
  }
}
