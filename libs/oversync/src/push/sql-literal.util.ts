import { randomBytes } from 'node:crypto';
import { isCanonicalUuid } from '@oversync/protocol';
import type { CatalogTable } from '../schema/table-catalog.js';

/** `"name"` with embedded quotes doubled. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * A dollar-quoted string literal with a random tag that does not occur in `text`. Safe for any
 * text without NUL (PostgreSQL text cannot hold NUL anyway), independent of
 * `standard_conforming_strings`.
 */
export function dollarQuote(text: string): string {
  for (;;) {
    const tag = `$o${randomBytes(6).toString('hex')}$`;
    if (!text.includes(tag)) return `${tag}${text}${tag}`;
  }
}

/** SQL expression for a sync key value: a validated `uuid` literal, or the text key from its hex bytes. */
export function keyLiteral(table: CatalogTable, keyString: string, keyBytes: Buffer): string {
  if (table.keyKind === 'text') return `convert_from(decode('${keyBytes.toString('hex')}', 'hex'), 'UTF8')`;
  if (!isCanonicalUuid(keyString)) {
    throw new Error(`staged key ${keyString} of ${table.qualifiedName} is not a canonical UUID`);
  }
  return `'${keyString}'::uuid`;
}
