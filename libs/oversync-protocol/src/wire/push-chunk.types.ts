import type { JsonObject } from '../json/json.types.js';
import type { RowOp, SyncKey } from './bundle.types.js';

/** One row uploaded in a push chunk (`POST /sync/push-sessions/{push_id}/chunks`). */
export interface PushRequestRow {
  /** Schema name; trimmed and lowercased by the server, empty means `public`. */
  schema: string;
  /** Table name; trimmed and lowercased, must be a registered table. */
  table: string;
  /** The wire sync key; must hold the table's key column as a string. */
  key: SyncKey;
  /** Trimmed and upper-cased by the server. */
  op: RowOp;
  /** The `row_version` the client last saw; 0 for a brand-new row. */
  base_row_version: number;
  /**
   * Full-row after-image for `INSERT`/`UPDATE`. Must be **absent** for `DELETE`: an explicit
   * `null` counts as a payload and is rejected with `push_chunk_invalid`.
   */
  payload?: JsonObject;
}

/** Body of `POST /sync/push-sessions/{push_id}/chunks`. */
export interface PushSessionChunkRequest {
  /** Ordinal of the first row of this chunk; must equal the session's next expected ordinal. */
  start_row_ordinal: number;
  /** The rows; non-empty and at most `max_rows_per_push_chunk`. */
  rows: PushRequestRow[];
}

/** Response of a chunk upload; both fields are always present. */
export interface PushSessionChunkResponse {
  /** Echo of the path's push id. */
  push_id: string;
  /** `start_row_ordinal + rows.length`. */
  next_expected_row_ordinal: number;
}
