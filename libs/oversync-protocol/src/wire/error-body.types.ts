import type { ErrorCodeValue } from '../errors/error-codes.js';
import type { JsonObject } from '../json/json.types.js';
import type { RowOp, SyncKey } from './bundle.types.js';

/**
 * The error envelope `{"error": "<code>", "message": "<text>"}`. Clients branch on `error` only.
 * Servers produce {@link ErrorCodeValue}s; clients reading foreign servers may see other strings,
 * so use `ErrorBody<string>` when parsing.
 */
export interface ErrorBody<C extends string = ErrorCodeValue> {
  error: C;
  /** Human-readable; never parsed by clients. */
  message: string;
}

/** Body of 409 `source_retired`. */
export interface SourceRetiredErrorBody extends ErrorBody<'source_retired'> {
  /** The retired source. */
  source_id: string;
  /** The source that replaced it; omitempty. */
  replaced_by_source_id?: string;
}

/** The first conflicting row of a failed commit. */
export interface PushConflict {
  schema: string;
  table: string;
  key: SyncKey;
  /** The pushed op. */
  op: RowOp;
  /** What the client sent. */
  base_row_version: number;
  /** Current version; 0 when the server has no state for the row. */
  server_row_version: number;
  /** True when the server row is a tombstone. */
  server_row_deleted: boolean;
  /** Current live row (wire encoding), or `null` when deleted or never existed; always present. */
  server_row: JsonObject | null;
}

/** Body of 409 `push_conflict`; only treated as structured when `conflict` is non-null. */
export interface PushConflictErrorBody extends ErrorBody<'push_conflict'> {
  conflict: PushConflict;
}
