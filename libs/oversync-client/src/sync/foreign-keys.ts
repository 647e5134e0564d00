import { type JsonObject } from '@oversync/protocol';

import { keyWhereSql, quoteIdent } from '../schema/row-sql.js';
import { type TableSpec } from '../schema/table-spec.js';
import { upsertWire } from './local-rows.js';
import { localKeyToSql } from './row-codec.js';
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

/**
 * The first foreign key of the local row `keyText` whose parent row does not exist locally, as
 * `table.column -> parent.column`, or `null` when every non-null reference resolves. Applies run
 * with foreign keys deferred, so this is the check SQLite would only make at `COMMIT`.
 */
export function missingParentOf(ctx: SyncContext, table: TableSpec, keyText: string): string | null {
  const fks = ctx.db.all<ForeignKeyRow>(`PRAGMA foreign_key_list(${quoteIdent(table.sqlName)})`);
  for (const fk of fks) {
    // An FK without a column list references the parent's primary key, which for a managed table
    // (the managed set is FK-closed) is its sync key.
    const parent = fk.table.toLowerCase();
    const to = fk.to ?? (ctx.tables.has(parent) ? ctx.tables.get(parent).keyColumn.name : null);
    if (to === null) continue;
    const orphan = ctx.db.get(
      `SELECT 1 AS orphan FROM ${quoteIdent(table.sqlName)} AS c WHERE c.${keyWhereSql(table)} ` +
        `AND c.${quoteIdent(fk.from)} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM ${quoteIdent(fk.table)} AS p ` +
        `WHERE p.${quoteIdent(to)} = c.${quoteIdent(fk.from)})`,
      [localKeyToSql(table, keyText)],
    );
    if (orphan) return `${table.name}.${fk.from} -> ${fk.table}.${to}`;
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
