import type { RowOp, SyncKey } from '@oversync/protocol';

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

const GO_UNSAFE = /[<>&\u2028\u2029]/;
const GO_UNSAFE_ALL = /[<>&\u2028\u2029]/g;

/** `JSON.stringify` plus Go's HTML and line-separator escaping (most text has none to escape). */
function goJson(value: unknown): string {
  const json = JSON.stringify(value);
  return GO_UNSAFE.test(json)
    ? json.replace(GO_UNSAFE_ALL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
    : json;
}

/**
 * Serialises a page the way go-oversync's encoder does (field order of its structs, DELETE rows
 * without `payload`), embedding each payload as its stored canonical text. Re-serialising parsed
 * payloads would be lossy (`-0` prints as `0` in JS), and the client hashes exactly what it
 * receives, so the served bytes must be the hashed bytes.
 *
 * @returns the JSON text without the trailing newline.
 */
export function serializeCommittedBundleRowsPage(page: CommittedBundleRowsPage): string {
  // `{"schema":…,"table":…,"key":{"<column>":` is the same for every row of a table: rendered once
  // per page (keys have one column; any other shape is rendered whole).
  const heads = new Map<string, string>();
  const rows = page.rows.map((r) => {
    const entries = Object.entries(r.key);
    const single = entries.length === 1;
    // NUL cannot occur in identifiers, so schema "a.b" table "c" and schema "a" table "b.c" differ.
    const headKey = `${r.schema}\u0000${r.table}\u0000${single ? entries[0][0] : ''}`;
    let head = heads.get(headKey);
    if (head === undefined) {
      head = `{"schema":${goJson(r.schema)},"table":${goJson(r.table)},"key":${single ? `{${goJson(entries[0][0])}:` : ''}`;
      heads.set(headKey, head);
    }
    const key = single ? `${goJson(entries[0][1])}}` : goJson(r.key);
    const row = `${head}${key},"op":"${r.op}","row_version":${r.row_version}`;
    return r.payloadWire === null ? `${row}}` : `${row},"payload":${r.payloadWire}}`;
  });
  return (
    `{"bundle_seq":${page.bundle_seq},"source_id":${goJson(page.source_id)},"source_bundle_id":${page.source_bundle_id},` +
    `"row_count":${page.row_count},"bundle_hash":${goJson(page.bundle_hash)},"rows":[${rows.join(',')}],` +
    `"next_row_ordinal":${page.next_row_ordinal},"has_more":${page.has_more}}`
  );
}
