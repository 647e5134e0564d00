type PlainObject = Record<string, unknown>;

/**
 * The key Go's `encoding/json` compares struct field names by: ASCII case folded, plus the two
 * non-ASCII letters whose simple case folding reaches ASCII (U+017F long s, U+212A Kelvin sign).
 */
function foldKey(key: string): string {
  return key.replace(/\u017f/g, 's').toLowerCase();
}

/** A field list with its folded lookup, built once per DTO. */
export interface WireFieldNames {
  exact: ReadonlySet<string>;
  folded: ReadonlyMap<string, string>;
}

/** Prepares {@link foldWireFields}'s lookup for a struct's JSON field names (all lower-case ASCII). */
export function wireFieldNames(fields: readonly string[]): WireFieldNames {
  return { exact: new Set(fields), folded: new Map(fields.map((f) => [foldKey(f), f])) };
}

/**
 * Renames a decoded JSON object's keys onto a struct's field names the way go-oversync's decoder
 * (`encoding/json`) matches them: an exact name, else a case-insensitive one, so
 * `{"Has_Local_Pending_Rows":true}` reads as `has_local_pending_rows`. Later keys overwrite earlier
 * ones, as Go assigns fields in document order. Keys that match no field stay as they are (to be
 * ignored, or refused by a strict decoder). Returns `plain` itself when every key is exact, which
 * is what real clients send, so the common case allocates nothing.
 */
export function foldWireFields(plain: PlainObject, names: WireFieldNames): PlainObject {
  let exact = true;
  for (const key in plain) {
    if (!names.exact.has(key)) {
      exact = false;
      break;
    }
  }
  if (exact) return plain;
  const out: PlainObject = {};
  for (const [key, value] of Object.entries(plain)) {
    const name = names.exact.has(key) ? key : (names.folded.get(foldKey(key)) ?? key);
    // Defined, not assigned: an own "__proto__" key must stay data.
    Object.defineProperty(out, name, { value, enumerable: true, writable: true, configurable: true });
  }
  return out;
}
