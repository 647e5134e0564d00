import { WatchStreamParser, type WatchEvent } from '@oversync/protocol';

import { ProtocolViolationError } from '../errors/transport.errors.js';

/**
 * Reads a `GET /sync/watch` Server-Sent Events body until it ends, calling `onEvent` for every
 * `event: bundle`. Heartbeats are skipped by the parser. A malformed event ends the stream with a
 * {@link ProtocolViolationError}. Aborting `signal` cancels the body and resolves.
 */
export async function readWatchStream(
  response: Response,
  onEvent: (event: WatchEvent) => void,
  signal?: AbortSignal,
): Promise<void> {
  if (!response.body) throw new ProtocolViolationError('watch', 'response has no body stream');
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  const parser = new WatchStreamParser();
  const cancel = () => {
    reader.cancel().catch(() => undefined);
  };
  signal?.addEventListener('abort', cancel, { once: true });
  try {
    // Aborted before the listener was in place (the abort event is gone): stop now, not at the
    // server's next heartbeat.
    if (signal?.aborted) return;
    for (;;) {
      const { done, value } = await reader.read();
      if (done || signal?.aborted) return;
      let events: WatchEvent[];
      try {
        events = parser.push(decoder.decode(value, { stream: true }));
      } catch (error) {
        throw new ProtocolViolationError('watch', error instanceof Error ? error.message : String(error));
      }
      for (const event of events) onEvent(event);
    }
  } finally {
    signal?.removeEventListener('abort', cancel);
    cancel();
  }
}
