import type { BundleRow } from '@oversync/protocol';

/** A committed bundle as the engine returns it (wire field names, like go-oversync's `Bundle`). */
export interface CommittedBundle {
  bundle_seq: number;
  source_id: string;
  source_bundle_id: number;
  row_count: number;
  /** Length in bytes of the canonical text the hash covers. */
  byte_count: number;
  /** Lower-case hex SHA-256. */
  bundle_hash: string;
  rows: BundleRow[];
}
