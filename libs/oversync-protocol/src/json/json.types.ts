/** A JSON primitive: what `JSON.parse` can return for a scalar. */
export type JsonPrimitive = string | number | boolean | null;

/** Any JSON value, as produced by `JSON.parse` (and as Go's `encoding/json` decodes into `any`). */
export type JsonValue = JsonPrimitive | JsonObject | JsonArray;

/** A JSON array. */
export type JsonArray = JsonValue[];

/**
 * A JSON object. Properties whose value is `undefined` are skipped by the serialisers, the same way
 * `JSON.stringify` skips them, so optional TypeScript properties can be passed as-is.
 */
export interface JsonObject {
  [key: string]: JsonValue | undefined;
}
