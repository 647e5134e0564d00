import type { JsonObject } from '../json/json.types.js';
import type { SourceRecoveryReason } from '../errors/error-codes.js';
import type { SyncKey } from './bundle.types.js';

/** Source rotation requested together with a snapshot (rotated rebuild). */
export interface SourceReplacement {
  /** Must equal the request's `Oversync-Source-ID`. */
  previous_source_id: string;
  /** A fresh source id, different from the previous one. */
  new_source_id: string;
  /** Why the source is rotated. */
  reason: SourceRecoveryReason;
}

/**
 * Body of `POST /sync/snapshot-sessions`; optional (no body or `{}` = keep-source snapshot). This is
 * the only route that rejects unknown fields.
 */
export interface SnapshotSessionCreateRequest {
  source_replacement?: SourceReplacement;
}

/** Response of `POST /sync/snapshot-sessions`. */
export interface SnapshotSession {
  /** UUID of the session. */
  snapshot_id: string;
  /** Latest committed `bundle_seq` at materialisation; 0 for an empty scope. */
  snapshot_bundle_seq: number;
  /** Number of rows (1-based ordinals 1…row_count). */
  row_count: number;
  /** Total bytes of the payload texts; omitted when 0 (empty snapshot). */
  byte_count?: number;
  /** Go RFC3339Nano UTC. Reads do not extend it. */
  expires_at: string;
}

/** Query of `GET /sync/snapshot-sessions/{snapshot_id}`. */
export interface SnapshotChunkQuery {
  /** 1-based ordinal of the last row already read; default 0. */
  after_row_ordinal?: number;
  /** Page size; default 1000, capped at `max_rows_per_snapshot_chunk`. */
  max_rows?: number;
}

/** One live row of a snapshot (no `op`). */
export interface SnapshotRow {
  schema: string;
  table: string;
  key: SyncKey;
  /** The `bundle_seq` that last wrote the row; > 0. */
  row_version: number;
  /** Full row, always present (table column order, compact; not canonicalised). */
  payload: JsonObject;
}

/** One page of a snapshot. All fields are always present. */
export interface SnapshotChunkResponse {
  /** Echo of the path id. */
  snapshot_id: string;
  snapshot_bundle_seq: number;
  /** `[]` if none. */
  rows: SnapshotRow[];
  /** `after_row_ordinal + rows.length`. */
  next_row_ordinal: number;
  /** Never true on an empty page. */
  has_more: boolean;
}
