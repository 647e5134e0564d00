import { canonicalJson, canonicalJsonNumber, canonicalJsonString } from '../json/canonical-json.js';
import type { JsonValue } from '../json/json.types.js';
import type { RowOp, SyncKey } from '../wire/bundle.types.js';
import { Sha256 } from './sha256.js';
import { utf8ByteLength } from './utf8.js';

/**
 * One bundle row as seen by the hash. A wire `BundleRow` is assignable to it (its omitted DELETE
 * payload counts as `null`).
 */
export interface BundleHashRow {
  readonly schema: string;
  readonly table: string;
  readonly key: SyncKey;
  readonly op: RowOp;
  /** The bundle's `bundle_seq`. */
  readonly row_version: number;
  /** Parsed payload; `null` or absent for `DELETE` (a `DELETE` row's payload is hashed as `null`). */
  readonly payload?: JsonValue | null;
}

/**
 * One bundle row with its JSON parts already in canonical text, for the server's fast path (no
 * re-parsing). The caller guarantees `keyJson` and `payloadWire` are canonical (as produced by
 * `canonicalJson` / `canonicalizeJsonText`); this function does not check it.
 */
export interface WireHashRow {
  readonly schema: string;
  readonly table: string;
  /** Canonical text of the key object, e.g. `{"id":"row-1"}`. */
  readonly keyJson: string;
  readonly op: RowOp;
  /** The bundle's `bundle_seq`. */
  readonly rowVersion: number;
  /** Canonical payload text, or `null` for `DELETE` (ignored for `DELETE`, hashed as `null`). */
  readonly payloadWire: string | null;
}

/** The `bundle_hash` of a canonical bundle text and its UTF-8 length (the server's `byte_count`). */
export interface BundleDigest {
  /** 64 lowercase hex characters. */
  readonly bundleHash: string;
  /** Length in bytes of the canonical text's UTF-8 encoding. */
  readonly byteCount: number;
}

// The seven keys in canonical (byte) order: key, op, payload, row_ordinal, row_version, schema, table.
function rowText(
  keyJson: string,
  op: string,
  payloadJson: string,
  ordinal: number,
  rowVersion: number,
  schema: string,
  table: string,
): string {
  return (
    '{"key":' +
    keyJson +
    ',"op":' +
    canonicalJsonString(op) +
    ',"payload":' +
    payloadJson +
    ',"row_ordinal":' +
    ordinal +
    ',"row_version":' +
    canonicalJsonNumber(rowVersion) +
    ',"schema":' +
    canonicalJsonString(schema) +
    ',"table":' +
    canonicalJsonString(table) +
    '}'
  );
}

/**
 * Builds the canonical text hashed into `bundle_hash`: a JSON array with one seven-key object per
 * row (`key`, `op`, `payload`, 0-based `row_ordinal`, `row_version`, `schema`, `table`), serialised
 * with Go-compatible canonical JSON. Payloads are re-serialised canonically, so pass them parsed.
 *
 * @param rows - the bundle's rows in row-ordinal order.
 * @returns the canonical text (hash its UTF-8 bytes).
 * @throws RangeError when a payload holds a non-finite number.
 */
export function canonicalBundleText(rows: readonly BundleHashRow[]): string {
  let out = '[';
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i];
    // Go hashes a DELETE row's payload as null whatever the row carries (computeCommittedBundleHash).
    const payload =
      row.op === 'DELETE' || row.payload === undefined || row.payload === null
        ? 'null'
        : canonicalJson(row.payload);
    if (i > 0) out += ',';
    out += rowText(canonicalJson(row.key), row.op, payload, i, row.row_version, row.schema, row.table);
  }
  return out + ']';
}

/**
 * Same text as {@link canonicalBundleText}, assembled by concatenation from rows whose key and
 * payload are already canonical text (e.g. the server's stored `payload_wire`).
 *
 * @param rows - the bundle's rows in row-ordinal order.
 * @returns the canonical text.
 */
export function canonicalBundleTextFromWire(rows: readonly WireHashRow[]): string {
  let out = '[';
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i];
    if (i > 0) out += ',';
    const payload = row.op === 'DELETE' ? 'null' : (row.payloadWire ?? 'null');
    out += rowText(row.keyJson, row.op, payload, i, row.rowVersion, row.schema, row.table);
  }
  return out + ']';
}

/**
 * Hashes canonical text: SHA-256 of its UTF-8 bytes, plus the byte count.
 *
 * @param canonicalText - output of one of the `canonicalBundleText*` functions.
 * @returns the lowercase hex hash and the UTF-8 length.
 */
export function digestCanonicalText(canonicalText: string): BundleDigest {
  return {
    bundleHash: new Sha256().updateUtf8(canonicalText).hexDigest(),
    byteCount: utf8ByteLength(canonicalText),
  };
}

/**
 * Computes `bundle_hash` (lowercase hex SHA-256 of {@link canonicalBundleText}), as the server does
 * at commit and clients do to verify fetched committed rows.
 *
 * @param rows - the bundle's rows in row-ordinal order.
 * @returns 64 lowercase hex characters.
 */
export function computeBundleHash(rows: readonly BundleHashRow[]): string {
  return new Sha256().updateUtf8(canonicalBundleText(rows)).hexDigest();
}

/**
 * Computes `bundle_hash` from pre-canonicalised rows (see {@link canonicalBundleTextFromWire}).
 *
 * @param rows - the bundle's rows in row-ordinal order.
 * @returns 64 lowercase hex characters.
 */
export function computeBundleHashFromWire(rows: readonly WireHashRow[]): string {
  return new Sha256().updateUtf8(canonicalBundleTextFromWire(rows)).hexDigest();
}
