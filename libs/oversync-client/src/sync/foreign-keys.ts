import { type JsonObject } from '@oversync/protocol';

import { keyWhereSql, quoteIdent } from '../schema/row-sql.js';
import { type TableSpec } from '../schema/table-spec.js';
import { deleteLocal, upsertWire } from './local-rows.js';
import { keyTextOf, localKeyToSql } from './row-codec.js';
import { type SyncContext } from './sync-context.js';

interface ForeignKeyRow extends Record<string, string | number | null> {
  table: string;
  from: string;
  to: string | null;
}

/** Thrown inside the savepoint of {@link upsertWireIfParentsExist} to undo the write. */
class MissingParent extends Error {
  constructor(readonly reference: string) {
    super(`missing parent: ${reference}`);
  }
}

/** A foreign key of a local table: `child.from` references `parent.to`. */
interface ForeignKey {
  from: string;
  parent: string;
  to: string;
}

/** The foreign keys of a managed table whose referenced column is known. */
function foreignKeysOf(ctx: SyncContext, table: TableSpec): ForeignKey[] {
  const fks: ForeignKey[] = [];
  for (const fk of ctx.db.all<ForeignKeyRow>(`PRAGMA foreign_key_list(${quoteIdent(table.sqlName)})`)) {
    // An FK without a column list references the parent's primary key, which for a managed table
    // (the managed set is FK-closed) is its sync key.
    const parent = fk.table.toLowerCase();
    const to = fk.to ?? (ctx.tables.has(parent) ? ctx.tables.get(parent).keyColumn.name : null);
    if (to !== null) fks.push({ from: fk.from, parent: fk.table, to });
  }
  return fks;
}

/**
 * The first foreign key of the local row `keyText` whose parent row does not exist locally, as
 * `table.column -> parent.column`, or `null` when every non-null reference resolves (or the row
 * does not exist). Applies run with foreign keys deferred, so this is the check SQLite would only
 * make at `COMMIT`.
 */
export function missingParentOf(
  ctx: SyncContext,
  table: TableSpec,
  keyText: string,
  fks: readonly ForeignKey[] = foreignKeysOf(ctx, table),
): string | null {
  for (const fk of fks) {
    const orphan = ctx.db.get(
      `SELECT 1 AS orphan FROM ${quoteIdent(table.sqlName)} AS c WHERE c.${keyWhereSql(table)} ` +
        `AND c.${quoteIdent(fk.from)} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM ${quoteIdent(fk.parent)} AS p ` +
        `WHERE p.${quoteIdent(fk.to)} = c.${quoteIdent(fk.from)})`,
      [localKeyToSql(table, keyText)],
    );
    if (orphan) return `${table.name}.${fk.from} -> ${fk.parent}.${fk.to}`;
  }
  return null;
}

/**
 * Writes a server row (wire form) unless it references a parent row that does not exist locally;
 * then nothing is written (the write is undone in a savepoint) and the missing reference is
 * returned. Inside an authoritative apply such a row would only fail the whole transaction at
 * `COMMIT`.
 */
export function upsertWireIfParentsExist(
  ctx: SyncContext,
  table: TableSpec,
  payload: JsonObject,
  keyText: string,
): string | null {
  try {
    ctx.db.transaction(() => {
      upsertWire(ctx, table, payload);
      const missing = missingParentOf(ctx, table, keyText);
      if (missing !== null) throw new MissingParent(missing);
    });
    return null;
  } catch (error) {
    if (error instanceof MissingParent) return error.reference;
    throw error;
  }
}

/**
 * Deletes each of `rows` (local intents written back over a snapshot) that references a parent row
 * absent locally, and then the rows those deletes orphan in turn; returns how many were deleted.
 * Runs inside an authoritative apply, so local cascades fire and nothing is captured.
 *
 * A snapshot removes the rows the server no longer has, parents included, while a kept child of
 * such a parent is written back: left as it is, the deferred foreign key check fails the whole
 * apply at `COMMIT`, on every retry. Removing the child is what the app's `ON DELETE CASCADE` does
 * when a pull deletes the parent, and the server could never accept the child anyway.
 */
export function deleteOrphanedRows(
  ctx: SyncContext,
  rows: readonly { table: string; keyJson: string }[],
): number {
  const fksByTable = new Map<TableSpec, ForeignKey[]>();
  const candidates: { table: TableSpec; keyText: string; fks: ForeignKey[] }[] = [];
  for (const row of rows) {
    if (!ctx.tables.has(row.table)) continue;
    const table = ctx.tables.get(row.table);
    let fks = fksByTable.get(table);
    if (!fks) fksByTable.set(table, (fks = foreignKeysOf(ctx, table)));
    if (fks.length > 0) candidates.push({ table, keyText: keyTextOf(table, row.keyJson), fks });
  }
  let deleted = 0;
  for (let changed = true; changed;) {
    changed = false;
    for (const { table, keyText, fks } of candidates) {
      // An absent row has no missing parent, so each row is deleted at most once.
      if (missingParentOf(ctx, table, keyText, fks) === null) continue;
      deleteLocal(ctx, table, keyText);
      deleted += 1;
      changed = true;
    }
  }
  return deleted;
}
