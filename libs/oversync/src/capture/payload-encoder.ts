import { canonicalJson, compareUtf8, type JsonObject, type JsonValue } from '@oversync/protocol';
import type { CatalogTable } from '../schema/table-catalog.js';
import { isScopeColumn, toWirePayloadInPlace } from './wire-payload.util.js';

/** Characters whose presence means a string needs Go-style escaping (or U+FFFD replacement). */
const NEEDS_ESCAPE = /["\\\u0000-\u001f<>&\u2028\u2029\ud800-\udfff]/;

/** A captured row image turned into the wire payload object and its canonical text. */
export interface EncodedPayload {
  object: JsonObject;
  text: string;
}

function encodeValue(value: JsonValue | undefined): string {
  if (typeof value === 'string') return NEEDS_ESCAPE.test(value) ? canonicalJson(value) : `"${value}"`;
  if (typeof value === 'number') return Object.is(value, -0) ? '-0' : String(value);
  if (value === null || value === undefined) return 'null';
  return canonicalJson(value);
}

/**
 * Encodes the `row_to_json` images of one table. Every image of a table in one transaction has the
 * same keys, so the canonical key order and the `"key":` prefixes are computed once from the first
 * image; a row whose key count differs (a column added mid-transaction) falls back to the generic
 * canonicaliser. Output is byte-identical to `canonicalJson` of the wire object.
 */
export class TablePayloadEncoder {
  #columns: string[] | undefined;
  #prefixes: string[] = [];
  #keyCount = 0;

  /** `"schema":…,"table":…}`: the constant tail of every hashed row object of this table. */
  readonly schemaTableJson: string;
  readonly #keyPrefix: string;

  constructor(private readonly table: CatalogTable) {
    this.schemaTableJson = `"schema":${canonicalJson(table.schema)},"table":${canonicalJson(table.table)}}`;
    this.#keyPrefix = `{${canonicalJson(table.keyColumn)}:`;
  }

  /** Canonical text of the wire key object `{ <key column>: keyString }`. */
  keyJson(keyString: string): string {
    return `${this.#keyPrefix}${encodeValue(keyString)}}`;
  }

  encode(payloadDbText: string): EncodedPayload {
    const object = JSON.parse(payloadDbText) as JsonObject;
    const keys = Object.keys(object);
    if (!this.#columns) this.#prepare(keys);
    const generic = keys.length !== this.#keyCount;
    toWirePayloadInPlace(this.table, object, keys);
    if (generic) return { object, text: canonicalJson(object) };
    const columns = this.#columns!;
    let text = '';
    for (let i = 0; i < columns.length; i++) text += this.#prefixes[i] + encodeValue(object[columns[i]]);
    return { object, text: columns.length === 0 ? '{}' : `${text}}` };
  }

  #prepare(keys: string[]): void {
    this.#keyCount = keys.length;
    this.#columns = keys.filter((k) => !isScopeColumn(k)).sort(compareUtf8);
    this.#prefixes = this.#columns.map((c, i) => `${i === 0 ? '{' : ','}${canonicalJson(c)}:`);
  }
}
