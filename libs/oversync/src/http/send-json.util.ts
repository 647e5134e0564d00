import type { Response } from 'express';

/**
 * Writes a JSON response the way go-oversync's encoder does: `application/json` without charset,
 * `<`, `>`, `&`, U+2028 and U+2029 escaped, and a trailing newline.
 */
export function sendJson(res: Response, status: number, body: unknown): void {
  const text = JSON.stringify(body).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  res.status(status).setHeader('Content-Type', 'application/json');
  res.end(`${text}\n`);
}
