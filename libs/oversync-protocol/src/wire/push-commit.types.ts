/**
 * Response of `POST /sync/push-sessions/{push_id}/commit` (sent with no request body). All fields
 * are always present and must equal what the committed-rows fetch later reports.
 */
export interface PushSessionCommitResponse {
  bundle_seq: number;
  source_id: string;
  source_bundle_id: number;
  /** Rows in the committed bundle; may differ from `planned_row_count` (cascades, triggers). */
  row_count: number;
  /** 64 lowercase hex characters, see `computeBundleHash`. */
  bundle_hash: string;
}
