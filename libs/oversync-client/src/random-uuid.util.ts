/**
 * A random (version 4) UUID, such as a new row's key.
 *
 * Uses `crypto.randomUUID()` where it exists and builds one from `crypto.getRandomValues()`
 * otherwise: browsers expose `randomUUID` only in secure contexts (HTTPS or localhost), so a page
 * opened as `http://<lan-ip>:3000` has `getRandomValues` but not `randomUUID`.
 *
 * @returns a lowercase dashed UUID, e.g. `'3b241101-e2bb-4255-8caf-4136c566a962'`.
 * @throws TypeError when the runtime has no Web Crypto at all (Node before 19 without a polyfill).
 *
 * @example
 * ```ts
 * db.run('INSERT INTO todos (id, title) VALUES (?, ?)', [randomUuid(), 'Write docs']);
 * ```
 */
export function randomUuid(): string {
  const c = globalThis.crypto;
  if (typeof c.randomUUID === 'function') return c.randomUUID();
  const b = c.getRandomValues(new Uint8Array(16));
  // RFC 9562: version 4 in the high nibble of byte 6, variant 10xx in byte 8.
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
