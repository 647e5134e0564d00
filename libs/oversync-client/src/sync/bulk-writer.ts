import { type JsonObject } from '@oversync/protocol';
import { type Statement } from 'sql.js';

import { type SqlValue } from '../db/sql-js.adapter.js';
import { insertValuesSql, quoteIdent, quoteLiteral, upsertValuesSql } from '../schema/row-sql.js';
import { type TableSpec } from '../schema/table-spec.js';
import { buildTriggers, TRIGGER_SUFFIXES, triggerName } from '../schema/triggers.js';
import { RowBatch } from './row-batch.js';
import { type SyncContext } from './sync-context.js';

/** SQLite's default bound-parameter limit (SQLITE_MAX_VARIABLE_NUMBER since 3.32). */
const MAX_PARAMS = 32_766;
const MAX_ROWS_PER_STATEMENT = 500;
/** Bound values per `_sync_row_state` row: key_text, row_version, deleted (the table is a literal). */
const ROW_STATE_PARAMS = 3;
/**
 * Rows of one table in one flush from which its capture triggers are dropped for the apply and
 * recreated before the flush returns. Below this the two DDL statements per trigger (and the
 * re-preparation they cause) cost more than the trigger programs they save.
 */
export const SUSPEND_TRIGGERS_AT = 256;
/** Rows from which a write into an empty table drops the conflict clause (one emptiness probe). */
const PLAIN_INSERT_AT = 256;

/** Rows per multi-row statement for `columns` parameters per row. */
function rowsPerStatement(columns: number): number {
  return Math.max(1, Math.min(MAX_ROWS_PER_STATEMENT, Math.floor(MAX_PARAMS / Math.max(1, columns))));
}

/**
 * Writes many authoritative rows with multi-row statements inside the caller's transaction
 * (an `authoritativeApply`).
 *
 * Business writes keep their order: consecutive writes of the same table and kind (upsert or
 * delete) form a run, and a change of table or kind flushes the run first, so cascades and FK
 * effects happen in the same order as row by row. A run names each key once (a bundle or a
 * snapshot does), so it is written in key order — B-tree appends instead of random page splits —
 * as `INSERT … VALUES (…), (…) ON CONFLICT DO UPDATE` or `DELETE … WHERE key IN (…)` batches.
 * Row-state writes do not interact with business rows; they are written at the end, per table, in
 * the order of their business rows (so mostly in key order too).
 *
 * Large runs drop the table's capture and guard triggers first and {@link BulkWriter.flush}
 * recreates them, byte for byte, before it returns: inside the apply they would only test
 * `apply_mode` and skip, yet each costs a trigger program per row. DDL is transactional, so a
 * failed apply rolls the drop back with everything else; no app write can run in between because
 * the whole apply is one synchronous transaction.
 *
 * Crossing into sql.js once per few hundred rows instead of once per row, in key order, is what
 * makes large pulls and snapshots fast.
 */
export class BulkWriter {
  readonly #statements = new Map<string, Statement>();
  /** Queued `_sync_row_state` writes per table, flattened as (key_text, row_version, deleted). */
  readonly #rowStates = new Map<string, SqlValue[]>();
  readonly #suspended = new Set<TableSpec>();
  #batch: RowBatch | undefined;

  constructor(private readonly ctx: SyncContext) {}

  /**
   * Queues an upsert of one row from a wire payload, and the row-state write (under `keyText`,
   * the wire key's local text) that goes with it.
   *
   * @throws InvalidRowError when the payload does not match the table.
   */
  upsertWire(table: TableSpec, payload: JsonObject, keyText: string, version: number): void {
    this.#batchFor('upsert', table).addWire(payload, keyText, version);
  }

  /** Queues a delete of one row by its key's SQL value (local cascades fire), plus its row state. */
  delete(table: TableSpec, key: SqlValue, keyText: string, version: number): void {
    this.#batchFor('delete', table).add(key, keyText, version);
  }

  /** Queues a decoded batch (snapshot chunks), after everything queued before it. */
  write(batch: RowBatch): void {
    this.#flushBatch();
    this.#writeBatch(batch);
  }

  /** Queues a `_sync_row_state` write without a business write (flushed by {@link BulkWriter.flush}). */
  rowState(table: string, keyText: string, rowVersion: number, deleted: boolean): void {
    this.#rowStatesOf(table).push(keyText, rowVersion, deleted ? 1 : 0);
  }

  /** Writes everything queued, then reinstalls any suspended triggers. */
  flush(): void {
    try {
      this.#flushBatch();
      this.#flushRowStates();
    } catch (error) {
      try {
        this.#restoreTriggers();
      } catch {
        // The apply fails with the original error and its transaction rolls back, which restores
        // the dropped triggers anyway.
      }
      throw error;
    }
    this.#restoreTriggers();
  }

  /** Frees the prepared statements. Call in a `finally`. */
  free(): void {
    for (const stmt of this.#statements.values()) stmt.free();
    this.#statements.clear();
  }

  #batchFor(kind: RowBatch['kind'], table: TableSpec): RowBatch {
    let batch = this.#batch;
    if (batch && (batch.kind !== kind || batch.table !== table)) {
      this.#flushBatch();
      batch = undefined;
    }
    if (!batch) {
      batch = new RowBatch(kind, table);
      this.#batch = batch;
    }
    return batch;
  }

  #rowStatesOf(table: string): SqlValue[] {
    let states = this.#rowStates.get(table);
    if (!states) {
      states = [];
      this.#rowStates.set(table, states);
    }
    return states;
  }

  #flushBatch(): void {
    const batch = this.#batch;
    this.#batch = undefined;
    if (batch) this.#writeBatch(batch);
  }

  #writeBatch(batch: RowBatch): void {
    const { table, keys, values, keyTexts, versions } = batch;
    if (batch.length === 0) return;
    if (batch.length >= SUSPEND_TRIGGERS_AT) this.#suspendTriggers(table);
    // A batch names each key once, so ordering by key cannot reorder two writes of one key.
    const order = batch.order();
    const upsert = batch.kind === 'upsert';
    const deleted = upsert ? 0 : 1;
    const width = table.columns.length;
    const states = this.#rowStatesOf(table.name);
    const per = upsert ? rowsPerStatement(width) : MAX_ROWS_PER_STATEMENT;
    // Into an empty table (an initial sync, a first pull) the upsert's conflict clause only costs: it
    // probes the key index before every insert. The batch names each key once, so a plain INSERT
    // writes the same rows.
    const plain = upsert && batch.length >= PLAIN_INSERT_AT && this.#isEmpty(table.sqlName);
    for (let start = 0; start < order.length; start += per) {
      const count = Math.min(order.length, start + per) - start;
      const params: SqlValue[] = new Array<SqlValue>(upsert ? count * width : count);
      for (let i = 0; i < count; i++) {
        const row = order[start + i];
        if (upsert)
          for (let c = 0, from = row * width; c < width; c++) params[i * width + c] = values[from + c];
        else params[i] = keys[row];
        const keyText = keyTexts[row];
        if (keyText !== null) states.push(keyText, versions[row], deleted);
      }
      if (plain) this.#execute(`in:${table.name}:${count}`, params, () => insertValuesSql(table, count));
      else if (upsert)
        this.#execute(`up:${table.name}:${count}`, params, () => upsertValuesSql(table, count));
      else this.#execute(`del:${table.name}:${count}`, params, () => deleteKeysSql(table, count));
    }
  }

  #flushRowStates(): void {
    const per = rowsPerStatement(ROW_STATE_PARAMS) * ROW_STATE_PARAMS;
    let queued = 0;
    for (const values of this.#rowStates.values()) queued += values.length / ROW_STATE_PARAMS;
    // As for business rows: keys are distinct (per table, and table names differ).
    const plain = queued >= PLAIN_INSERT_AT && this.#isEmpty('_sync_row_state');
    for (const [table, values] of this.#rowStates) {
      for (let start = 0; start < values.length; start += per) {
        const end = Math.min(values.length, start + per);
        const count = (end - start) / ROW_STATE_PARAMS;
        this.#execute(`rs:${plain ? 'in' : 'up'}:${table}:${count}`, values.slice(start, end), () =>
          rowStateSql(table, count, !plain),
        );
      }
    }
    this.#rowStates.clear();
  }

  #execute(cacheKey: string, values: SqlValue[], sql: () => string): void {
    let stmt = this.#statements.get(cacheKey);
    if (!stmt) {
      stmt = this.ctx.db.prepare(sql());
      this.#statements.set(cacheKey, stmt);
    }
    this.ctx.db.batch.run(stmt, values);
  }

  #isEmpty(sqlTable: string): boolean {
    return this.ctx.db.scalar(`SELECT EXISTS (SELECT 1 FROM ${quoteIdent(sqlTable)})`) === 0;
  }

  #suspendTriggers(table: TableSpec): void {
    if (this.#suspended.has(table)) return;
    this.#suspended.add(table);
    for (const suffix of TRIGGER_SUFFIXES) {
      this.ctx.db.exec(`DROP TRIGGER IF EXISTS ${quoteIdent(triggerName(table.name, suffix))}`);
    }
  }

  #restoreTriggers(): void {
    for (const table of this.#suspended) {
      for (const sql of buildTriggers(this.ctx.schema, table).values()) this.ctx.db.exec(sql);
      this.#suspended.delete(table);
    }
  }
}

function deleteKeysSql(table: TableSpec, rows: number): string {
  const placeholders = Array.from({ length: rows }, () => '?').join(', ');
  return `DELETE FROM ${quoteIdent(table.sqlName)} WHERE ${quoteIdent(table.keyColumn.name)} IN (${placeholders})`;
}

function rowStateSql(table: string, rows: number, upsert: boolean): string {
  // The table name is validated, lowercased text: inlined as a literal, so each row binds 3 values.
  const tuple = `(${quoteLiteral(table)}, ?, ?, ?)`;
  const insert = `INSERT INTO _sync_row_state (table_name, key_text, row_version, deleted) VALUES ${Array.from({ length: rows }, () => tuple).join(', ')}`;
  return upsert
    ? `${insert} ON CONFLICT (table_name, key_text) DO UPDATE SET row_version = excluded.row_version, deleted = excluded.deleted`
    : insert;
}
