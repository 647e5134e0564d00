import { type JsonObject } from '@oversync/protocol';

import { type SqlValue } from '../db/sql-js.adapter.js';
import { keyWhereSql, payloadSql, quoteIdent, upsertSql } from '../schema/row-sql.js';
import { managedTableNames } from '../schema/schema-installer.js';
import { type TableSpec } from '../schema/table-spec.js';
import { retireCascadedIntents } from './cascaded-intents.js';
import { localKeyToSql, localPayloadToSql, parseObject, wirePayloadToSql } from './row-codec.js';
import { type SyncContext } from './sync-context.js';

export { keyTextOf } from './row-codec.js';

/** Upserts a row given SQL values in column order. */
export function upsertValues(ctx: SyncContext, table: TableSpec, values: SqlValue[]): void {
  ctx.db.run(upsertSql(table), values);
}

/** Upserts a row from a wire payload (server rows, merged resolutions). */
export function upsertWire(ctx: SyncContext, table: TableSpec, payload: JsonObject): void {
  upsertValues(ctx, table, wirePayloadToSql(table, payload));
}

/**
 * Upserts a row from a local payload (hex BLOBs), e.g. to restore a local intent; a payload
 * recorded before the table's columns changed is brought to them first (see
 * {@link withCurrentColumns}).
 */
export function upsertLocal(ctx: SyncContext, table: TableSpec, payload: JsonObject): void {
  const keyText = payload[table.keyColumn.wireName];
  const current = withCurrentColumns(ctx, table, typeof keyText === 'string' ? keyText : null, payload);
  upsertValues(ctx, table, localPayloadToSql(table, current));
}

/**
 * `payload` with exactly the table's current columns (itself when it has them). Payloads are
 * recorded when their row is written (dirty intents) or frozen (outbox rows), and an `ALTER TABLE`
 * in the app's next release fires no trigger: one recorded before a column was added lacks it,
 * one recorded before a column was dropped still carries it. A missing column takes the live
 * row's value (what `ADD COLUMN` or the app's migration gave it; `null` without a row), a dropped
 * one is left out, every other value is kept as recorded. Pushed as recorded, the missing column
 * would travel as `null`, which a `NOT NULL` server column refuses at commit on every push.
 */
export function withCurrentColumns(
  ctx: SyncContext,
  table: TableSpec,
  keyText: string | null,
  payload: JsonObject,
): JsonObject {
  const { columns } = table;
  if (
    columns.length === Object.keys(payload).length &&
    columns.every((c) => Object.hasOwn(payload, c.wireName))
  )
    return payload;
  const text = keyText === null ? null : livePayload(ctx, table, keyText);
  const live = text === null ? null : parseObject(text);
  const out: JsonObject = {};
  for (const { wireName } of columns)
    out[wireName] = Object.hasOwn(payload, wireName) ? payload[wireName] : (live?.[wireName] ?? null);
  return out;
}

/** Deletes a row by local key text (local cascades fire; capture is off during applies). */
export function deleteLocal(ctx: SyncContext, table: TableSpec, keyText: string): void {
  ctx.db.run(`DELETE FROM ${quoteIdent(table.sqlName)} WHERE ${keyWhereSql(table)}`, [
    localKeyToSql(table, keyText),
  ]);
}

/** The current row serialised exactly like the capture triggers do, or `null` when absent. */
export function livePayload(ctx: SyncContext, table: TableSpec, keyText: string): string | null {
  const value = ctx.db.scalar(
    `SELECT ${payloadSql(table, 't')} FROM ${quoteIdent(table.sqlName)} AS t WHERE t.${keyWhereSql(table)}`,
    [localKeyToSql(table, keyText)],
  );
  return value === null ? null : String(value);
}

/**
 * Runs `fn` as one authoritative apply: a transaction with foreign keys deferred to commit and
 * `apply_mode = 1`, so capture triggers skip. The flag is reset inside the same transaction. Dirty
 * upserts whose rows a local cascade removed during `fn` become deletes (see
 * {@link retireCascadedIntents}).
 */
export function authoritativeApply<T>(ctx: SyncContext, fn: () => T): T {
  return ctx.db.transaction(() => {
    ctx.db.exec('PRAGMA defer_foreign_keys = ON');
    ctx.store.setApplyMode(true);
    const result = fn();
    retireCascadedIntents(ctx);
    ctx.store.setApplyMode(false);
    return result;
  });
}

/**
 * Deletes every row of every table ever managed in this database (registry ∪ config).
 *
 * @param except - lowercased names of tables to leave alone
 */
export function clearManagedTables(ctx: SyncContext, except: ReadonlySet<string> = new Set()): void {
  const names = new Set([...managedTableNames(ctx.db, ctx.schema), ...ctx.tables.ordered.map((t) => t.name)]);
  for (const name of names) {
    if (except.has(name)) continue;
    const exists = ctx.db.count(
      "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND lower(name) = ?",
      [name],
    );
    if (exists)
      ctx.db.run(`DELETE FROM ${quoteIdent(ctx.tables.has(name) ? ctx.tables.get(name).sqlName : name)}`);
  }
}
