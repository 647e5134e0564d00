import type { Response } from 'express';
import { goEscapeJsonText } from './wire-row-json.util.js';

/** Pieces are cut at about this many characters: few writes, and no piece near V8's string limit. */
const PIECE_CHARS = 1 << 20;

/**
 * Collects a large JSON answer (a pull page, a committed-rows page) as pieces of about 1 MiB,
 * each Go-escaped. A page may hold more than V8's largest string (2^29 − 24 characters, about
 * 512 MiB), so it is never joined into one: the pieces are written to the response in order.
 * Escaping piece by piece is exact, since it only replaces single characters inside strings.
 */
export class JsonPieces {
  readonly #pieces: string[] = [];
  #pending: string[] = [];
  #pendingChars = 0;

  /** Appends JSON text (not yet Go-escaped). */
  push(text: string): void {
    if (text.length >= PIECE_CHARS) {
      // A large row is a piece of its own: joining it with its neighbours would only copy it.
      this.#cut();
      this.#pieces.push(goEscapeJsonText(text));
      return;
    }
    this.#pending.push(text);
    this.#pendingChars += text.length;
    if (this.#pendingChars >= PIECE_CHARS) this.#cut();
  }

  /** The escaped pieces, in order; the builder is spent. */
  finish(): string[] {
    this.#cut();
    return this.#pieces;
  }

  #cut(): void {
    if (this.#pending.length === 0) return;
    this.#pieces.push(goEscapeJsonText(this.#pending.join('')));
    this.#pending = [];
    this.#pendingChars = 0;
  }
}

/**
 * Writes a 200 JSON answer given as pieces (plus go-oversync's trailing newline) with an exact
 * Content-Length, corked into one write, without concatenating the pieces.
 */
export function sendJsonPieces(res: Response, pieces: readonly string[]): void {
  let length = 1;
  for (const piece of pieces) length += Buffer.byteLength(piece, 'utf8');
  res.status(200).setHeader('Content-Type', 'application/json');
  res.setHeader('Content-Length', length);
  res.cork();
  for (const piece of pieces) res.write(piece, 'utf8');
  res.end('\n');
}
