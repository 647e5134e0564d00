/** One dispatched Server-Sent Events message. */
export interface SseMessage {
  /** The `event:` field; `''` when the message had none. */
  readonly event: string;
  /** The `data:` lines joined with `\n`; `''` when there were none. */
  readonly data: string;
}

/**
 * Incremental, line-based Server-Sent Events parser that follows the oversqlite client rules:
 * lines end in `\n`, `\r\n` or `\r` (also when split across chunks); lines starting with `:` are
 * comments (heartbeats); `event:`/`data:` take their value with or without one leading space;
 * a blank line dispatches the message. `id:`, `retry:` and unknown fields are ignored. Feed it text
 * (decode bytes with a streaming `TextDecoder` first).
 *
 * @example
 * ```ts
 * const parser = new SseParser();
 * for (const msg of parser.push('event: bundle\ndata: {"bundle_seq":3}\n\n')) handle(msg);
 * ```
 */
export class SseParser {
  #pending = '';
  #skipLeadingLf = false;
  #started = false;
  #event = '';
  #data: string[] = [];
  #hasFields = false;

  /**
   * Feeds the next chunk of the stream.
   *
   * @param chunk - any slice of the stream text; boundaries may fall anywhere.
   * @returns the messages completed by this chunk, in order.
   */
  push(chunk: string): SseMessage[] {
    const out: SseMessage[] = [];
    let text = chunk;
    if (!this.#started && text.length > 0) {
      this.#started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    if (this.#skipLeadingLf && text.length > 0) {
      // The previous chunk ended in `\r`; a `\n` here completes that same line ending.
      this.#skipLeadingLf = false;
      if (text.charCodeAt(0) === 10) text = text.slice(1);
    }
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      const line = this.#pending + text.slice(start, i);
      this.#pending = '';
      if (c === 13) {
        if (i + 1 === text.length) this.#skipLeadingLf = true;
        else if (text.charCodeAt(i + 1) === 10) i++;
      }
      start = i + 1;
      this.#line(line, out);
    }
    this.#pending += text.slice(start);
    return out;
  }

  /** Drops any partial line and message, e.g. before reconnecting. */
  reset(): void {
    this.#pending = '';
    this.#skipLeadingLf = false;
    this.#started = false;
    this.#clearMessage();
  }

  #line(line: string, out: SseMessage[]): void {
    if (line.length === 0) {
      if (this.#hasFields) out.push({ event: this.#event, data: this.#data.join('\n') });
      this.#clearMessage();
      return;
    }
    if (line.charCodeAt(0) === 58 /* ':' */) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32 /* ' ' */) value = value.slice(1);
    if (field === 'event') {
      this.#event = value;
      this.#hasFields = true;
    } else if (field === 'data') {
      this.#data.push(value);
      this.#hasFields = true;
    }
  }

  #clearMessage(): void {
    this.#event = '';
    this.#data = [];
    this.#hasFields = false;
  }
}

/**
 * Parses a complete SSE text in one go (convenience over {@link SseParser}). A trailing message
 * without its terminating blank line is not dispatched, as in a live stream.
 *
 * @param text - the stream text.
 * @returns the dispatched messages.
 */
export function parseSseStream(text: string): SseMessage[] {
  return new SseParser().push(text);
}
