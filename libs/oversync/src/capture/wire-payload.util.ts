import { bytesToUuid, type JsonObject, type SyncKey } from '@oversync/protocol';
import type { CatalogTable } from '../schema/table-catalog.js';

const SCOPE_COLUMN = '_sync_scope_id';

/** True for the hidden scope column in any letter case. */
export function isScopeColumn(name: string): boolean {
  return name.length === SCOPE_COLUMN.length && name.toLowerCase() === SCOPE_COLUMN;
}

/**
 * Makes a parsed row image a wire payload, in place: drops the scope column (any case) and
 * rewrites bytea `\x…` hex into standard base64. `keys` are the image's keys, when already known.
 */
export function toWirePayloadInPlace(
  table: CatalogTable,
  payload: JsonObject,
  keys = Object.keys(payload),
): JsonObject {
  for (const name of keys) if (isScopeColumn(name)) delete payload[name];
  for (const column of table.byteaColumns) {
    const value = payload[column];
    if (typeof value === 'string' && value.startsWith('\\x')) {
      payload[column] = Buffer.from(value.slice(2), 'hex').toString('base64');
    }
  }
  return payload;
}

/** Parses a `to_jsonb`/`row_to_json` row image into its wire payload object. */
export function toWirePayloadObject(table: CatalogTable, payloadDbText: string): JsonObject {
  return toWirePayloadInPlace(table, JSON.parse(payloadDbText) as JsonObject);
}

/** The key's string form: canonical lower-case UUID for uuid keys, the UTF-8 text otherwise. */
export function keyStringFromBytes(table: CatalogTable, keyBytes: Uint8Array): string {
  return table.keyKind === 'uuid' ? bytesToUuid(keyBytes) : Buffer.from(keyBytes).toString('utf8');
}

/** Wire key object `{ <key column>: "<string>" }`. */
export function wireKey(table: CatalogTable, keyString: string): SyncKey {
  return { [table.keyColumn]: keyString };
}
