import type { JsonObject } from '../json/json.types.js';

/** The row operations of the protocol, in wire spelling. */
export const ROW_OPS = ['INSERT', 'UPDATE', 'DELETE'] as const;

/** A row operation: `INSERT`, `UPDATE` or `DELETE`. */
export type RowOp = (typeof ROW_OPS)[number];

/**
 * A sync key on the wire: a one-entry object `{ "<sync_key_column>": "<string>" }`. The value is
 * always a JSON string; UUID keys use canonical dashed lowercase text.
 */
export type SyncKey = Record<string, string>;

/** One row effect of a committed bundle (used by pull and by the committed-rows fetch). */
export interface BundleRow {
  /** Lowercase schema name. */
  schema: string;
  /** Lowercase table name. */
  table: string;
  /** The wire sync key. */
  key: SyncKey;
  /** The normalised operation of this row in the bundle. */
  op: RowOp;
  /** Equal to the bundle's `bundle_seq`. */
  row_version: number;
  /** Full-row after-image for `INSERT`/`UPDATE`; omitted (not `null`) for `DELETE`. */
  payload?: JsonObject;
}

/** One complete committed bundle as returned by `GET /sync/pull`. */
export interface Bundle {
  /** Per-user bundle sequence number (1, 2, 3, …). */
  bundle_seq: number;
  /** The source that committed the bundle. */
  source_id: string;
  /** The source's own bundle id for this commit. */
  source_bundle_id: number;
  /** Number of rows; sent by the server (omitempty), ignored by clients. */
  row_count?: number;
  /** Lowercase hex `bundle_hash`; sent by the server (omitempty), not verified on pull. */
  bundle_hash?: string;
  /** The rows in row-ordinal order; never empty. */
  rows: BundleRow[];
}
