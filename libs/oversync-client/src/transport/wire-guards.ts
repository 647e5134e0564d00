import {
  ROW_OPS,
  type BundleRow,
  type JsonObject,
  type RowOp,
  type SnapshotRow,
  type SyncKey,
} from '@oversync/protocol';

import { ProtocolViolationError } from '../errors/transport.errors.js';

type Raw = Record<string, unknown>;

/**
 * Field readers that turn an untrusted response body into typed values, failing with
 * {@link ProtocolViolationError} that names the operation and the field.
 */
export class WireGuard {
  constructor(readonly operation: string) {}

  fail(reason: string): never {
    throw new ProtocolViolationError(this.operation, reason);
  }

  object(value: unknown, what = 'body'): Raw {
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      this.fail(`${what} is not an object`);
    return value as Raw;
  }

  int(o: Raw, field: string, min = 0, optional = false): number {
    const v = o[field];
    if (v === undefined && optional) return 0;
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) this.fail(`missing or non-integer "${field}"`);
    if (v < min) this.fail(`"${field}" must be >= ${min}, got ${v}`);
    return v;
  }

  string(o: Raw, field: string, nonEmpty = true): string {
    const v = o[field];
    if (typeof v !== 'string') this.fail(`missing or non-string "${field}"`);
    if (nonEmpty && v.trim() === '') this.fail(`"${field}" must not be empty`);
    return v;
  }

  bool(o: Raw, field: string): boolean {
    const v = o[field];
    if (typeof v !== 'boolean') this.fail(`missing or non-boolean "${field}"`);
    return v;
  }

  array(o: Raw, field: string): unknown[] {
    const v = o[field];
    if (!Array.isArray(v)) this.fail(`missing or non-array "${field}"`);
    return v;
  }

  #key(o: Raw): SyncKey {
    const key = this.object(o['key'], 'row key');
    const entries = Object.entries(key);
    if (entries.length === 0 || entries.some(([, v]) => typeof v !== 'string'))
      this.fail('row key must map names to strings');
    return key as SyncKey;
  }

  #payload(o: Raw): JsonObject {
    return this.object(o['payload'], 'row payload') as JsonObject;
  }

  /** A pull or committed-bundle row: payload required for INSERT/UPDATE, absent or null for DELETE. */
  bundleRow(value: unknown): BundleRow {
    const o = this.object(value, 'bundle row');
    const op = o['op'];
    if (typeof op !== 'string' || !(ROW_OPS as readonly string[]).includes(op))
      this.fail(`invalid row op ${String(op)}`);
    const row: BundleRow = {
      schema: this.string(o, 'schema'),
      table: this.string(o, 'table'),
      key: this.#key(o),
      op: op as RowOp,
      row_version: this.int(o, 'row_version', 1),
    };
    if (op !== 'DELETE') row.payload = this.#payload(o);
    return row;
  }

  /** A snapshot row: payload always required. */
  snapshotRow(value: unknown): SnapshotRow {
    const o = this.object(value, 'snapshot row');
    return {
      schema: this.string(o, 'schema'),
      table: this.string(o, 'table'),
      key: this.#key(o),
      row_version: this.int(o, 'row_version', 1),
      payload: this.#payload(o),
    };
  }
}
