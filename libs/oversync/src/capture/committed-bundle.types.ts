/**
 * A committed bundle as the engine returns it (wire field names, like go-oversync's `Bundle`
 * without its rows). Rows stay in PostgreSQL: a bundle can hold hundreds of thousands of them, and
 * the caller that needs them pages through `CommittedBundleRowsService` (or `GET
 * /sync/committed-bundles/:seq/rows`).
 */
export interface CommittedBundle {
  bundle_seq: number;
  source_id: string;
  source_bundle_id: number;
  row_count: number;
  /** Length in bytes of the canonical text the hash covers. */
  byte_count: number;
  /** Lower-case hex SHA-256. */
  bundle_hash: string;
}
