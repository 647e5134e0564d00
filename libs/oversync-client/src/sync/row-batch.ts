import { type JsonObject } from '@oversync/protocol';

import { type SqlValue } from '../db/sql-js.adapter.js';
import { type TableSpec } from '../schema/table-spec.js';
import { compareKeys, keyOrder } from './key-order.js';
import { appendWirePayload } from './row-codec.js';

/**
 * Consecutive authoritative writes of one table and kind, decoded into flat arrays: the SQL values
 * of every upserted row back to back (row-major, in column order), and per row its key, key text
 * and row version for `_sync_row_state` (key text `null` when the row state is not written).
 *
 * Flat arrays instead of one object per row keep the garbage collector out of large applies: a
 * 100k-row snapshot is held across 20 downloads before it is applied, and per-row objects would all
 * be promoted to the old generation on the way.
 */
export class RowBatch {
  readonly keys: SqlValue[] = [];
  readonly values: SqlValue[] = [];
  readonly keyTexts: (string | null)[] = [];
  readonly versions: number[] = [];
  /** Every key so far is greater than the one before (snapshots arrive in key order). */
  sorted = true;
  #order: Uint32Array | undefined;
  readonly #keyIndex: number;

  constructor(
    readonly kind: 'upsert' | 'delete',
    readonly table: TableSpec,
  ) {
    this.#keyIndex = table.columns.indexOf(table.keyColumn);
  }

  /** Rows in the batch. */
  get length(): number {
    return this.keys.length;
  }

  /**
   * Records one row whose SQL values (upserts) the caller has just appended to `values`.
   *
   * @param keyText - the row state's key text, or `null` to write no row state
   */
  add(key: SqlValue, keyText: string | null, version: number): void {
    const keys = this.keys;
    if (this.sorted && keys.length > 0 && compareKeys(keys[keys.length - 1], key) >= 0) this.sorted = false;
    keys.push(key);
    this.keyTexts.push(keyText);
    this.versions.push(version);
  }

  /**
   * Decodes a wire payload into `values` and records the row under the key it carries (the value
   * actually written to the primary key column).
   *
   * @throws InvalidRowError when the payload does not match the table.
   */
  addWire(payload: JsonObject, keyText: string, version: number): void {
    const start = this.values.length;
    appendWirePayload(this.table, payload, this.values);
    const key = this.values[start + this.#keyIndex];
    // A TEXT key's text is normally the very value written to the key column: keeping that one
    // string instead of an equal copy lets the copy die young (a snapshot holds every row until it
    // is applied, and what survives is promoted and marked by the old-generation collector).
    this.add(key, key === keyText ? key : keyText, version);
  }

  /** Row indexes in key order (a batch names each key once, so the order is total). */
  order(): Uint32Array {
    // Memoised while no row is added: the in-place snapshot apply asks before the writer does.
    if (this.#order?.length === this.keys.length) return this.#order;
    let order: Uint32Array;
    if (!this.sorted) order = keyOrder(this.keys);
    else {
      order = new Uint32Array(this.keys.length);
      for (let i = 0; i < order.length; i++) order[i] = i;
    }
    this.#order = order;
    return order;
  }
}
