import { ROW_OPS, type BundleRow, type JsonObject, type SnapshotRow, type SyncKey } from '@oversync/protocol';

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
    // A loop instead of Object.entries: this runs for every row of a pull or snapshot.
    let names = 0;
    for (const name in key) {
      if (typeof key[name] !== 'string') this.fail('row key must map names to strings');
      names += 1;
    }
    if (names === 0) this.fail('row key must map names to strings');
    return key as SyncKey;
  }

  #payload(o: Raw): JsonObject {
    return this.object(o['payload'], 'row payload') as JsonObject;
  }

  /**
   * Checks a pull or committed-bundle row in place and returns it typed, without copying (the
   * pull apply path). A DELETE row's payload, if any, is left in place and must be ignored.
   */
  checkedBundleRow(value: unknown): BundleRow {
    const o = this.object(value, 'bundle row');
    const op = o['op'];
    if (typeof op !== 'string' || !(ROW_OPS as readonly string[]).includes(op))
      this.fail(`invalid row op ${String(op)}`);
    this.string(o, 'schema');
    this.string(o, 'table');
    this.#key(o);
    this.int(o, 'row_version', 1);
    if (op !== 'DELETE') this.#payload(o);
    return o as unknown as BundleRow;
  }

  /** A pull or committed-bundle row: payload required for INSERT/UPDATE, absent or null for DELETE. */
  bundleRow(value: unknown): BundleRow {
    const o = this.checkedBundleRow(value);
    const row: BundleRow = {
      schema: o.schema,
      table: o.table,
      key: o.key,
      op: o.op,
      row_version: o.row_version,
    };
    if (o.op !== 'DELETE') row.payload = o.payload;
    return row;
  }

  /** Checks a snapshot row (payload always required) in place and returns it typed, without copying. */
  snapshotRow(value: unknown): SnapshotRow {
    const o = this.object(value, 'snapshot row');
    this.string(o, 'schema');
    this.string(o, 'table');
    this.#key(o);
    this.int(o, 'row_version', 1);
    this.#payload(o);
    return o as unknown as SnapshotRow;
  }
}
