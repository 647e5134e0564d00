import { canonicalJsonString } from '../json/canonical-json.js';
import { SseParser } from './sse-parser.util.js';
import { WATCH_EVENT_NAME, type WatchEvent } from './watch.types.js';

/**
 * Parses and validates the `data` of an `event: bundle` message.
 *
 * @param data - the message's data text.
 * @returns the event (extra fields dropped).
 * @throws SyntaxError when `data` is not JSON; TypeError when it is not a valid watch event
 * (`bundle_seq` must be a positive integer; clients treat this as a stream error).
 */
export function parseWatchEventData(data: string): WatchEvent {
  const value: unknown = JSON.parse(data);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError(`watch event data must be a JSON object, got: ${data}`);
  }
  const { bundle_seq, source_id, source_bundle_id } = value as Record<string, unknown>;
  if (typeof bundle_seq !== 'number' || !Number.isSafeInteger(bundle_seq) || bundle_seq <= 0) {
    throw new TypeError(`watch event bundle_seq must be a positive integer, got: ${data}`);
  }
  const event: WatchEvent = { bundle_seq };
  if (source_id !== undefined) {
    if (typeof source_id !== 'string') throw new TypeError(`watch event source_id must be a string: ${data}`);
    event.source_id = source_id;
  }
  if (source_bundle_id !== undefined) {
    if (typeof source_bundle_id !== 'number' || !Number.isSafeInteger(source_bundle_id)) {
      throw new TypeError(`watch event source_bundle_id must be an integer: ${data}`);
    }
    event.source_bundle_id = source_bundle_id;
  }
  return event;
}

/**
 * Incremental parser for the `GET /sync/watch` stream: yields only `event: bundle` messages,
 * validated with {@link parseWatchEventData}; heartbeats and other events are skipped.
 */
export class WatchStreamParser {
  readonly #sse = new SseParser();

  /**
   * Feeds the next chunk of stream text.
   *
   * @param chunk - any slice of the stream text.
   * @returns the watch events completed by this chunk.
   * @throws SyntaxError or TypeError on a malformed `bundle` event (end the stream, then pull).
   */
  push(chunk: string): WatchEvent[] {
    const events: WatchEvent[] = [];
    for (const message of this.#sse.push(chunk)) {
      if (message.event === WATCH_EVENT_NAME) events.push(parseWatchEventData(message.data));
    }
    return events;
  }

  /** Drops any partial input, e.g. before reconnecting. */
  reset(): void {
    this.#sse.reset();
  }
}

/**
 * Formats one watch event as an SSE frame, exactly as the Go server writes it:
 * `event: bundle\ndata: {"bundle_seq":N,"source_id":"…","source_bundle_id":M}\n\n` (source
 * fields omitted when absent or zero-valued).
 *
 * @param event - the event to send.
 * @returns the frame text.
 */
export function formatWatchEventFrame(event: WatchEvent): string {
  let json = `{"bundle_seq":${event.bundle_seq}`;
  if (event.source_id) json += `,"source_id":${canonicalJsonString(event.source_id)}`;
  if (event.source_bundle_id) json += `,"source_bundle_id":${event.source_bundle_id}`;
  return `event: ${WATCH_EVENT_NAME}\ndata: ${json}}\n\n`;
}
