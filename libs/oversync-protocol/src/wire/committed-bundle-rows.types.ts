import type { BundleRow } from './bundle.types.js';

/** Query of `GET /sync/committed-bundles/{bundle_seq}/rows`. */
export interface CommittedBundleRowsQuery {
  /** 0-based ordinal of the last row already read; omit to start at ordinal 0. */
  after_row_ordinal?: number;
  /** Page size; defaults to 1000, silently capped at `max_rows_per_committed_bundle_chunk`. */
  max_rows?: number;
}

/** One page of a committed bundle's rows. All fields are always present. */
export interface CommittedBundleRowsResponse {
  bundle_seq: number;
  source_id: string;
  source_bundle_id: number;
  row_count: number;
  bundle_hash: string;
  /** The page's rows (`[]` if none). */
  rows: BundleRow[];
  /**
   * 0-based ordinal of the **last row returned**; with no rows, the supplied `after_row_ordinal`
   * (0 when it was omitted).
   */
  next_row_ordinal: number;
  /** True iff rows exist after the last returned one; never true on an empty page. */
  has_more: boolean;
}
