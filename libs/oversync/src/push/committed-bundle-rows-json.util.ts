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

/**
 * Serialises a page the way go-oversync's encoder does (field order of its structs, DELETE rows
 * without `payload`), embedding each payload as its stored canonical text. Re-serialising parsed
 * payloads would be lossy (`-0` prints as `0` in JS), and the client hashes exactly what it
 * receives, so the served bytes must be the hashed bytes.
 *
 * @returns the JSON text without the trailing newline.
 */
export function serializeCommittedBundleRowsPage(page: CommittedBundleRowsPage): string {
  // `{"schema":…,"table":…,"key":` is the same for every row of a table: rendered once per page.
  const heads = new Map<string, string>();
  const rows = page.rows.map((r) => {
    // NUL cannot occur in identifiers, so schema "a.b" table "c" and schema "a" table "b.c" differ.
    const tableKey = `${r.schema}\u0000${r.table}`;
    let head = heads.get(tableKey);
    if (head === undefined) {
      head = `{"schema":${goJson(r.schema)},"table":${goJson(r.table)},"key":`;
      heads.set(tableKey, head);
    }
    const row = `${head}${goJson(r.key)},"op":"${r.op}","row_version":${r.row_version}`;
    return r.payloadWire === null ? `${row}}` : `${row},"payload":${r.payloadWire}}`;
  });
  return (
    `{"bundle_seq":${page.bundle_seq},"source_id":${goJson(page.source_id)},"source_bundle_id":${page.source_bundle_id},` +
    `"row_count":${page.row_count},"bundle_hash":${goJson(page.bundle_hash)},"rows":[${rows.join(',')}],` +
    `"next_row_ordinal":${page.next_row_ordinal},"has_more":${page.has_more}}`
  );
}
