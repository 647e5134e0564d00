import {
  base64Decode,
  base64Encode,
  bytesToUuid,
  isCanonicalUuid,
  uuidToBytes,
  type JsonObject,
  type JsonValue,
  type SyncKey,
} from '@oversync/protocol';

import { type SqlValue } from '../db/sql-js.adapter.js';
import { InvalidRowError } from '../errors/sync.errors.js';
import { type ColumnSpec, type TableSpec } from '../schema/table-spec.js';

const HEX = /^(?:[0-9a-fA-F]{2})*$/;

/** Lowercase hex of bytes (the local form of BLOB values). */
export function bytesToHex(bytes: Uint8Array): string {
  let out = '';
  for (const byte of bytes) out += byte.toString(16).padStart(2, '0');
  return out;
}

/** Bytes of a hex string; throws on odd length or non-hex characters. */
export function hexToBytes(hex: string): Uint8Array {
  if (!HEX.test(hex)) throw new TypeError(`"${hex.slice(0, 40)}" is not hex`);
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** Lenient UUID decoding for local values: dashed UUID, 32 hex characters or base64 of 16 bytes. */
function lenientUuidBytes(value: string): Uint8Array | null {
  if (value.length === 36) {
    try {
      return uuidToBytes(value);
    } catch {
      return null;
    }
  }
  if (value.length === 32 && HEX.test(value)) return hexToBytes(value);
  try {
    const bytes = base64Decode(value);
    return bytes.length === 16 ? bytes : null;
  } catch {
    return null;
  }
}

/**
 * The key text stored inside a local `key_json`: its member under the key column's name, else its
 * one member (a dirty row captured before the app renamed its key column names the old column; the
 * row-state paths read the one member in SQL the same way).
 */
export function keyTextOf(table: TableSpec, keyJson: string): string {
  const parsed = JSON.parse(keyJson) as Record<string, unknown>;
  const name = table.keyColumn.wireName;
  const value = Object.hasOwn(parsed, name) ? parsed[name] : Object.values(parsed)[0];
  return typeof value === 'string' ? value : String(value);
}

/** The wire key of a local key text (`{"id": "<text or dashed uuid>"}`). */
export function localKeyToWireKey(table: TableSpec, keyText: string): SyncKey {
  if (table.keyKind === 'text') return { [table.keyColumn.wireName]: keyText };
  const bytes = lenientUuidBytes(keyText);
  if (!bytes) throw new InvalidRowError(table.name, `invalid blob UUID pk "${keyText}"`);
  return { [table.keyColumn.wireName]: bytesToUuid(bytes) };
}

/** The local key text of a wire key; UUID keys must be canonical dashed lowercase. */
export function wireKeyToLocalKey(table: TableSpec, key: SyncKey): string {
  const value = (key as Record<string, unknown>)[table.keyColumn.wireName];
  if (typeof value !== 'string') {
    throw new InvalidRowError(table.name, `wire key must hold "${table.keyColumn.wireName}" as a string`);
  }
  if (table.keyKind === 'text') return value;
  if (!isCanonicalUuid(value)) {
    throw new InvalidRowError(table.name, `failed to decode canonical wire bundle row key "${value}"`);
  }
  return value.replaceAll('-', '');
}

/** The SQL value to bind for a local key text. */
export function localKeyToSql(table: TableSpec, keyText: string): SqlValue {
  return table.keyKind === 'uuid' ? hexToBytes(keyText) : keyText;
}

/** The embedded JSON value of a local JSON-column text; text that is not JSON is sent as a string. */
function jsonColumnToWire(value: JsonValue): JsonValue {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value) as JsonValue;
  } catch {
    return value;
  }
}

function toWireValue(table: TableSpec, column: ColumnSpec, value: JsonValue | undefined): JsonValue {
  if (value === undefined || value === null) return null;
  if (column.isJson) return jsonColumnToWire(value);
  if (!column.isBlob || typeof value !== 'string') return value;
  if (column.isUuid) {
    if (value === '') return value;
    const bytes = lenientUuidBytes(value);
    if (!bytes) throw new InvalidRowError(table.name, `invalid blob UUID in column "${column.wireName}"`);
    return bytesToUuid(bytes);
  }
  return base64Encode(hexToBytes(value));
}

/** Converts a local payload (hex BLOBs) to its wire form (dashed UUIDs, base64 BLOBs). */
export function localPayloadToWire(table: TableSpec, payload: JsonObject): JsonObject {
  const out: JsonObject = {};
  for (const column of table.columns)
    out[column.wireName] = toWireValue(table, column, payload[column.wireName]);
  return out;
}

function checkColumns(table: TableSpec, payload: JsonObject): void {
  // Fast path (every server row): exactly the table's columns under their lowercased names.
  let present = 0;
  for (const column of table.columns) {
    if (Object.hasOwn(payload, column.wireName) && payload[column.wireName] !== undefined) present += 1;
  }
  if (present === table.columns.length) {
    let keys = 0;
    for (const k in payload) if (payload[k] !== undefined) keys += 1;
    if (keys === present) return;
  }
  const keys = Object.keys(payload).filter((k) => payload[k] !== undefined);
  const lowered = new Set(keys.map((k) => k.toLowerCase()));
  for (const column of table.columns) {
    if (!lowered.has(column.wireName)) {
      throw new InvalidRowError(
        table.name,
        `payload for ${table.name} is missing column "${column.wireName}"`,
      );
    }
  }
  if (keys.length !== table.columns.length) {
    const known = new Set(table.columns.map((c) => c.wireName));
    const extra = keys.filter((k) => !known.has(k.toLowerCase()));
    throw new InvalidRowError(
      table.name,
      `payload for ${table.name} must contain every table column exactly once${extra.length ? `; unknown: ${extra.join(', ')}` : ''}`,
    );
  }
}

function lookup(payload: JsonObject, name: string): JsonValue | undefined {
  const direct = payload[name];
  if (direct !== undefined) return direct;
  const match = Object.keys(payload).find((k) => k.toLowerCase() === name);
  return match === undefined ? undefined : payload[match];
}

function scalarToSql(value: JsonValue | undefined, column?: ColumnSpec): SqlValue {
  if (value === undefined || value === null) return null;
  // JSON columns hold JSON text locally, strings included, so every value round-trips exactly.
  if (column?.isJson) return JSON.stringify(value);
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'number' || typeof value === 'string') return value;
  // json/jsonb columns arrive as embedded JSON; SQLite stores them as text.
  return JSON.stringify(value);
}

function wireValueToSql(table: TableSpec, column: ColumnSpec, value: JsonValue | undefined): SqlValue {
  if (!column.isBlob || value === null || value === undefined) return scalarToSql(value, column);
  if (typeof value !== 'string')
    throw new InvalidRowError(table.name, `BLOB column "${column.wireName}" must be a string`);
  if (column.isUuid) {
    if (!isCanonicalUuid(value)) {
      throw new InvalidRowError(table.name, `column "${column.wireName}" must be a canonical dashed UUID`);
    }
    return uuidToBytes(value);
  }
  try {
    return base64Decode(value);
  } catch (error) {
    throw new InvalidRowError(table.name, `column "${column.wireName}" must be standard base64`, error);
  }
}

/**
 * SQL values, in column order, for a wire payload (server rows, merged resolutions). UUID BLOBs
 * must be canonical dashed UUIDs and other BLOBs exact standard base64.
 */
export function wirePayloadToSql(table: TableSpec, payload: JsonObject): SqlValue[] {
  const out: SqlValue[] = [];
  appendWirePayload(table, payload, out);
  return out;
}

/**
 * {@link wirePayloadToSql}, appending the values to `out` (the bulk apply paths decode straight
 * into their flat batches). Server rows take the fast path: every column present under its
 * lowercased name and nothing else, checked in one pass without allocating.
 */
export function appendWirePayload(table: TableSpec, payload: JsonObject, out: SqlValue[]): void {
  const columns = table.columns;
  const start = out.length;
  let present = 0;
  try {
    for (; present < columns.length; present++) {
      const column = columns[present];
      // Own properties only: an inherited name (a column called "constructor") is not a value.
      const value = Object.hasOwn(payload, column.wireName) ? payload[column.wireName] : undefined;
      if (value === undefined) break;
      out.push(wireValueToSql(table, column, value));
    }
  } catch {
    // Reported by the slow path below, which checks the column set first (as it always has).
    present = -1;
  }
  if (present === columns.length) {
    let keys = 0;
    for (const k in payload) if (payload[k] !== undefined) keys += 1;
    if (keys === present) return;
  }
  out.length = start;
  checkColumns(table, payload);
  for (const column of columns) out.push(wireValueToSql(table, column, lookup(payload, column.wireName)));
}

/** SQL values, in column order, for a local payload (hex BLOBs), e.g. to restore a local intent. */
export function localPayloadToSql(table: TableSpec, payload: JsonObject): SqlValue[] {
  checkColumns(table, payload);
  return table.columns.map((column) => {
    const value = lookup(payload, column.wireName);
    if (!column.isBlob || value === null || value === undefined) return scalarToSql(value);
    if (typeof value !== 'string')
      throw new InvalidRowError(table.name, `BLOB column "${column.wireName}" must be hex`);
    try {
      return hexToBytes(value);
    } catch (error) {
      throw new InvalidRowError(table.name, `BLOB column "${column.wireName}" is not hex`, error);
    }
  });
}

/** Parses a JSON object text stored in metadata. */
export function parseObject(text: string): JsonObject {
  const value = JSON.parse(text) as JsonValue;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError('expected a JSON object');
  }
  return value;
}
