import type { RowOp, SyncKey } from '@oversync/protocol';
import { goEscapeJsonText } from '../pull/wire-row-json.util.js';

/** One committed row with its payload kept as the stored canonical text. */
export interface CommittedRowWire {
  schema: string;
  table: string;
  key: SyncKey;
  op: RowOp;
  row_version: number;
  /** Canonical payload text exactly as stored and hashed; null for DELETE. */
  payloadWire: string | null;
}

/** One page of `GET /sync/committed-bundles/{bundle_seq}/rows`, before serialisation. */
export interface CommittedBundleRowsPage {
  bundle_seq: number;
  source_id: string;
  source_bundle_id: number;
  row_count: number;
  bundle_hash: string;
  rows: CommittedRowWire[];
  next_row_ordinal: number;
  has_more: boolean;
}

/** `JSON.stringify` plus Go's HTML and line-separator escaping. */
const goJson = (value: unknown): string => goEscapeJsonText(JSON.stringify(value));

/** The metadata fields of a committed-rows page, in go-oversync's field order. */
export type CommittedBundleHead = Pick<
  CommittedBundleRowsPage,
  'bundle_seq' | 'source_id' | 'source_bundle_id' | 'row_count' | 'bundle_hash'
>;

/**
 * The opening of a page's JSON up to (not including) `,"rows":`, as go-oversync's encoder writes
 * it (field order of its struct).
 */
export function serializeCommittedBundleHead(head: CommittedBundleHead): string {
  return (
    `{"bundle_seq":${head.bundle_seq},"source_id":${goJson(head.source_id)},"source_bundle_id":${head.source_bundle_id},` +
    `"row_count":${head.row_count},"bundle_hash":${goJson(head.bundle_hash)}`
  );
}
