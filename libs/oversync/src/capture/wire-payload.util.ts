import { bytesToUuid, canonicalJson, type JsonObject, type SyncKey } from '@oversync/protocol';
import type { CatalogTable } from '../schema/table-catalog.js';

const SCOPE_COLUMN = '_sync_scope_id';

/**
 * Turns a `to_jsonb` row image into the wire payload: drops the scope column (any case), rewrites
 * bytea `\x…` hex into standard base64, and returns the parsed object.
 */
export function toWirePayloadObject(table: CatalogTable, payloadDbText: string): JsonObject {
  const payload = JSON.parse(payloadDbText) as JsonObject;
  for (const name of Object.keys(payload)) {
    if (name.length === SCOPE_COLUMN.length && name.toLowerCase() === SCOPE_COLUMN) delete payload[name];
  }
  for (const column of table.byteaColumns) {
    const value = payload[column];
    if (typeof value === 'string' && value.startsWith('\\x')) {
      payload[column] = Buffer.from(value.slice(2), 'hex').toString('base64');
    }
  }
  return payload;
}

/** Canonical (Go-compatible) text of the wire payload; this exact text is stored and hashed. */
export function toWirePayloadText(table: CatalogTable, payloadDbText: string): string {
  return canonicalJson(toWirePayloadObject(table, payloadDbText));
}

/** The key's string form: canonical lower-case UUID for uuid keys, the UTF-8 text otherwise. */
export function keyStringFromBytes(table: CatalogTable, keyBytes: Uint8Array): string {
  return table.keyKind === 'uuid' ? bytesToUuid(keyBytes) : Buffer.from(keyBytes).toString('utf8');
}

/** Wire key object `{ <key column>: "<string>" }`. */
export function wireKey(table: CatalogTable, keyString: string): SyncKey {
  return { [table.keyColumn]: keyString };
}
