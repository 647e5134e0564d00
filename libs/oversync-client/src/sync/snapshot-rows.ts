import { type Statement } from 'sql.js';

import { type SqlValue } from '../db/sql-js.adapter.js';
import { quoteIdent } from '../schema/row-sql.js';
import { type TableSpec } from '../schema/table-spec.js';
import { BulkWriter } from './bulk-writer.js';
import { clearManagedTables, keyTextOf } from './local-rows.js';
import { type RowBatch } from './row-batch.js';
import { localKeyToSql } from './row-codec.js';
import { type SyncContext } from './sync-context.js';

/** A local row that the apply writes back after the snapshot (a kept dirty or outbox intent). */
export interface KeptRow {
  /** Lowercased table name. */
  table: string;
  /** The local `key_json`. */
  keyJson: string;
}

/** Keys per multi-row insert into a key table (one bound value each). */
const KEYS_PER_STATEMENT = 500;

/**
 * Makes the managed tables hold exactly the snapshot's rows plus the rows of `kept` (which the
 * caller writes back afterwards), inside the caller's `authoritativeApply`. Row state is not
 * touched beyond what the {@link BulkWriter} writes for the snapshot rows.
 *
 * Only what differs changes: a row whose key is in the snapshot is upserted in place
 * (`ON CONFLICT DO UPDATE` runs no `ON DELETE` action, unlike deleting it or `REPLACE`), so the
 * app's own tables that reference it with `ON DELETE CASCADE` keep their rows. Rows whose key is
 * absent from the snapshot and not kept are deleted last, and their local cascades fire as the
 * app's foreign keys ask. Tables that are empty before the apply (every initial sync) take the
 * writer's plain-`INSERT` path and collect no keys.
 *
 * A snapshot can move a UNIQUE value between keys (a swap, or a deleted row's value reused by a new
 * one), which in-place upserts cannot write in any order. Such an apply is rolled back to a
 * savepoint and redone as before this path existed: the managed tables are emptied first (their
 * cascades then reach app rows too), which beats a rebuild that can never succeed.
 */
export function writeSnapshotRows(
  ctx: SyncContext,
  batches: readonly RowBatch[],
  kept: readonly KeptRow[],
): void {
  // Tables that are no longer configured get no snapshot rows: emptied as before.
  clearManagedTables(ctx, new Set(ctx.tables.ordered.map((t) => t.name)));
  try {
    ctx.db.transaction(() => writeInPlace(ctx, batches, kept));
  } catch (error) {
    if (!(error instanceof Error && /^UNIQUE constraint failed/.test(error.message))) throw error;
    clearManagedTables(ctx);
    writeAll(ctx, batches);
  }
}

function writeInPlace(ctx: SyncContext, batches: readonly RowBatch[], kept: readonly KeptRow[]): void {
  const stale = ctx.tables.ordered.filter(
    (t) => ctx.db.scalar(`SELECT EXISTS (SELECT 1 FROM ${quoteIdent(t.sqlName)})`) === 1,
  );
  if (stale.length === 0) {
    writeAll(ctx, batches);
    return;
  }
  const keys = new SnapshotKeys(ctx, stale);
  try {
    for (const batch of batches) {
      if (!keys.tracks(batch.table)) continue;
      const order = batch.order();
      const ordered = new Array<SqlValue>(order.length);
      for (let i = 0; i < order.length; i++) ordered[i] = batch.keys[order[i]];
      keys.add(batch.table, ordered);
    }
    const keptKeys = new Map<TableSpec, SqlValue[]>();
    for (const row of kept) {
      if (!ctx.tables.has(row.table)) continue;
      const table = ctx.tables.get(row.table);
      if (!keys.tracks(table)) continue;
      const list = keptKeys.get(table) ?? [];
      list.push(localKeyToSql(table, keyTextOf(table, row.keyJson)));
      keptKeys.set(table, list);
    }
    // One multi-row insert per table rather than one statement per kept row.
    for (const [table, list] of keptKeys) keys.add(table, list);
    writeAll(ctx, batches);
    // Children first: a RESTRICT foreign key between managed tables acts immediately, even with
    // foreign keys deferred, so a parent must not go before its stale children.
    for (const table of [...stale].reverse()) keys.deleteOthers(table);
  } finally {
    keys.drop();
  }
}

function writeAll(ctx: SyncContext, batches: readonly RowBatch[]): void {
  const writer = new BulkWriter(ctx);
  try {
    for (const batch of batches) writer.write(batch);
    writer.flush();
  } finally {
    writer.free();
  }
}

/**
 * One TEMP table per tracked managed table holding the keys the apply keeps, bound exactly as the
 * writer binds them, so SQLite compares them with the managed key as its own index does. A
 * JavaScript set would compare BLOB keys by identity and strings by UTF-16 units (the binder
 * stores a lone surrogate as U+FFFD). With the managed key's type on its column, `NOT IN` probes
 * the table's index instead of building one.
 */
class SnapshotKeys {
  readonly #names = new Map<TableSpec, string>();
  readonly #statements = new Map<string, Statement>();

  constructor(
    private readonly ctx: SyncContext,
    tables: readonly TableSpec[],
  ) {
    tables.forEach((table, i) => {
      const name = quoteIdent(`_sync_snapshot_keys_${i}`);
      const type = table.keyKind === 'uuid' ? 'BLOB' : 'TEXT';
      ctx.db.exec(`CREATE TEMP TABLE ${name} (k ${type} PRIMARY KEY NOT NULL) WITHOUT ROWID`);
      this.#names.set(table, name);
    });
  }

  tracks(table: TableSpec): boolean {
    return this.#names.has(table);
  }

  /** Adds keys (in key order where possible: appends to the B-tree); repeats are ignored. */
  add(table: TableSpec, keys: readonly SqlValue[]): void {
    const name = this.#nameOf(table);
    for (let start = 0; start < keys.length; start += KEYS_PER_STATEMENT) {
      const chunk = keys.slice(start, start + KEYS_PER_STATEMENT);
      const cacheKey = `${name}:${chunk.length}`;
      let stmt = this.#statements.get(cacheKey);
      if (!stmt) {
        const tuples = Array.from({ length: chunk.length }, () => '(?)').join(', ');
        stmt = this.ctx.db.prepare(`INSERT OR IGNORE INTO temp.${name} (k) VALUES ${tuples}`);
        this.#statements.set(cacheKey, stmt);
      }
      this.ctx.db.batch.run(stmt, chunk);
    }
  }

  /** Deletes the table's rows whose key was not added (local cascades fire). */
  deleteOthers(table: TableSpec): void {
    const key = quoteIdent(table.keyColumn.name);
    // A NULL key (possible in a non-INTEGER PRIMARY KEY) is in no snapshot; `NOT IN` alone keeps it.
    this.ctx.db.run(
      `DELETE FROM ${quoteIdent(table.sqlName)} WHERE ${key} IS NULL OR ${key} NOT IN (SELECT k FROM temp.${this.#nameOf(table)})`,
    );
  }

  /** Frees the statements and drops the key tables (a failed apply would roll their creation back anyway). */
  drop(): void {
    for (const stmt of this.#statements.values()) stmt.free();
    this.#statements.clear();
    for (const name of this.#names.values()) this.ctx.db.exec(`DROP TABLE IF EXISTS temp.${name}`);
    this.#names.clear();
  }

  #nameOf(table: TableSpec): string {
    const name = this.#names.get(table);
    if (name === undefined) throw new Error(`no key table for ${table.name}`);
    return name;
  }
}
