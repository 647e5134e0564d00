import { type Statement } from 'sql.js';

import { type SqlValue } from '../db/sql-js.adapter.js';
import { quoteIdent, quoteLiteral, upsertValuesSql } from '../schema/row-sql.js';
import { type TableSpec } from '../schema/table-spec.js';
import { type SyncContext } from './sync-context.js';

/** SQLite's default bound-parameter limit (SQLITE_MAX_VARIABLE_NUMBER since 3.32). */
const MAX_PARAMS = 32_766;
const MAX_ROWS_PER_STATEMENT = 500;
const ROW_STATE_PARAMS = 4;

/** A queued `_sync_row_state` write: table, key_json, row_version, deleted (0/1). */
type RowStateWrite = [string, string, number, number];

interface RunRow {
  /** The key's SQL value (the sort key). */
  key: SqlValue;
  /** Upserts: SQL values in column order; deletes: empty. */
  values: SqlValue[];
  state: RowStateWrite | undefined;
}

interface Run {
  kind: 'upsert' | 'delete';
  table: TableSpec;
  rows: RunRow[];
}

function byKey(a: RunRow, b: RunRow): number {
  const x = a.key;
  const y = b.key;
  if (typeof x === 'string' && typeof y === 'string') return x < y ? -1 : x > y ? 1 : 0;
  if (x instanceof Uint8Array && y instanceof Uint8Array) {
    for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
    return x.length - y.length;
  }
  return 0;
}

/** Rows per multi-row statement for `columns` parameters per row. */
function rowsPerStatement(columns: number): number {
  return Math.max(1, Math.min(MAX_ROWS_PER_STATEMENT, Math.floor(MAX_PARAMS / Math.max(1, columns))));
}

/**
 * Writes many authoritative rows with multi-row statements inside the caller's transaction.
 *
 * Business writes keep their order: consecutive writes of the same table and kind (upsert or
 * delete) form a run, and a change of table or kind flushes the run first, so cascades and FK
 * effects happen in the same order as row by row. A run names each key once (a bundle or a
 * snapshot does), so it is written in key order — B-tree appends instead of random page splits —
 * as `INSERT … VALUES (…), (…) ON CONFLICT DO UPDATE` or `DELETE … WHERE key IN (…)` batches.
 * Row-state writes do not interact with business rows; they are written at the end, in the order
 * of their business rows (so mostly in key order too).
 * Crossing into sql.js once per few hundred rows instead of once per row, in key order, is what
 * makes large pulls and snapshots fast.
 */
export class BulkWriter {
  readonly #statements = new Map<string, Statement>();
  readonly #rowStates: RowStateWrite[] = [];
  readonly #updatedAt = new Date().toISOString();
  #run: Run | undefined;

  constructor(private readonly ctx: SyncContext) {}

  /**
   * Queues an upsert of one row given SQL values in column order, and optionally the row-state
   * write that goes with it.
   */
  upsert(table: TableSpec, values: SqlValue[], state?: RowStateWrite): void {
    const key = values[table.columns.indexOf(table.keyColumn)];
    this.#runFor('upsert', table).rows.push({ key, values, state });
  }

  /** Queues a delete of one row by its key's SQL value (local cascades fire). */
  delete(table: TableSpec, key: SqlValue, state?: RowStateWrite): void {
    this.#runFor('delete', table).rows.push({ key, values: [], state });
  }

  /** Queues a `_sync_row_state` write without a business write (flushed by {@link BulkWriter.flush}). */
  rowState(table: string, keyJson: string, rowVersion: number, deleted: boolean): void {
    this.#rowStates.push([table, keyJson, rowVersion, deleted ? 1 : 0]);
  }

  /** Writes everything queued. */
  flush(): void {
    this.#flushRun();
    const states = this.#rowStates;
    const per = rowsPerStatement(ROW_STATE_PARAMS);
    // The schema and the timestamp are the same for every row: inlined as literals (both are
    // validated text without quotes), so each row binds 4 values instead of 6.
    const constants = `${quoteLiteral(this.ctx.schema)}, ${quoteLiteral(this.#updatedAt)}`;
    for (let start = 0; start < states.length; start += per) {
      const end = Math.min(states.length, start + per);
      const values: SqlValue[] = [];
      for (let i = start; i < end; i++) {
        const [table, keyJson, version, deleted] = states[i];
        values.push(table, keyJson, version, deleted);
      }
      this.#execute(`rs:${end - start}`, values, (rows) => rowStateSql(rows, constants));
    }
    this.#rowStates.length = 0;
  }

  /** Frees the prepared statements. Call in a `finally`. */
  free(): void {
    for (const stmt of this.#statements.values()) stmt.free();
    this.#statements.clear();
  }

  #runFor(kind: Run['kind'], table: TableSpec): Run {
    if (this.#run && (this.#run.kind !== kind || this.#run.table !== table)) this.#flushRun();
    const run = this.#run ?? { kind, table, rows: [] };
    this.#run = run;
    return run;
  }

  #flushRun(): void {
    const run = this.#run;
    this.#run = undefined;
    if (!run || run.rows.length === 0) return;
    const { table } = run;
    // A run names each key once, so sorting cannot reorder two writes of one key.
    const rows = run.rows.sort(byKey);
    const upsert = run.kind === 'upsert';
    const per = upsert ? rowsPerStatement(table.columns.length) : MAX_ROWS_PER_STATEMENT;
    for (let start = 0; start < rows.length; start += per) {
      const end = Math.min(rows.length, start + per);
      const values: SqlValue[] = [];
      for (let i = start; i < end; i++) {
        const row = rows[i];
        if (upsert) for (const value of row.values) values.push(value);
        else values.push(row.key);
        if (row.state) this.#rowStates.push(row.state);
      }
      const count = end - start;
      if (upsert) this.#execute(`up:${table.name}:${count}`, values, (n) => upsertValuesSql(table, n));
      else this.#execute(`del:${table.name}:${count}`, values, (n) => deleteKeysSql(table, n));
    }
  }

  #execute(cacheKey: string, values: SqlValue[], sql: (rows: number) => string): void {
    let stmt = this.#statements.get(cacheKey);
    if (!stmt) {
      const rows = Number(cacheKey.slice(cacheKey.lastIndexOf(':') + 1));
      stmt = this.ctx.db.prepare(sql(rows));
      this.#statements.set(cacheKey, stmt);
    }
    stmt.run(values);
  }
}

function deleteKeysSql(table: TableSpec, rows: number): string {
  const placeholders = Array.from({ length: rows }, () => '?').join(', ');
  return `DELETE FROM ${quoteIdent(table.sqlName)} WHERE ${quoteIdent(table.keyColumn.name)} IN (${placeholders})`;
}

function rowStateSql(rows: number, constants: string): string {
  const tuples = Array.from({ length: rows }, () => `(${constants}, ?, ?, ?, ?)`).join(', ');
  return (
    `INSERT INTO _sync_row_state (schema_name, updated_at, table_name, key_json, row_version, deleted) VALUES ${tuples} ` +
    'ON CONFLICT (schema_name, table_name, key_json) DO UPDATE SET row_version = excluded.row_version, ' +
    'deleted = excluded.deleted, updated_at = excluded.updated_at'
  );
}
