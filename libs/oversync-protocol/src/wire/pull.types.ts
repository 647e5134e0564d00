import type { Bundle } from './bundle.types.js';

/** Query of `GET /sync/pull`; every parameter is optional. */
export interface PullQuery {
  /** Checkpoint: return bundles with a greater `bundle_seq`. Default 0. */
  after_bundle_seq?: number;
  /** 1…5000, default 1000. */
  max_bundles?: number;
  /** The `stable_bundle_seq` of the first page, to freeze the target while paging. 0 = none. */
  target_bundle_seq?: number;
}

/** Response of `GET /sync/pull`. */
export interface PullResponse {
  /** `target_bundle_seq` when given, else the user's latest `bundle_seq` (0 if none). */
  stable_bundle_seq: number;
  /** Complete bundles with `after < bundle_seq <= stable`, ascending (`[]` when none). */
  bundles: Bundle[];
  /** More bundles up to `stable_bundle_seq` remain. */
  has_more: boolean;
}
