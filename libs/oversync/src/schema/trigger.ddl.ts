import { TRIGGER_NAMES as T } from './sync-layout.constants.js';

/** Identifier quoting for DDL we build from validated, lower-cased catalog names. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** The trigger arguments of `sync.capture_registered_rows`: key column, key kind and table id. */
function captureArgs(keyColumn: string, keyKindCode: 1 | 2, tableId: number): string {
  return [keyColumn, String(keyKindCode), String(tableId)]
    .map((a) => `'${a.replace(/'/g, "''")}'`)
    .join(', ');
}

/** Statement-level capture (one trigger per event: PostgreSQL allows transition tables only on
 * single-event triggers) and the TRUNCATE block, dropped first so a re-run replaces them. */
function statementTriggersDdl(target: string, args: string): string {
  return `
DROP TRIGGER IF EXISTS ${T.captureInsert} ON ${target};
DROP TRIGGER IF EXISTS ${T.captureUpdate} ON ${target};
DROP TRIGGER IF EXISTS ${T.captureDelete} ON ${target};
DROP TRIGGER IF EXISTS ${T.blockTruncate} ON ${target};
CREATE TRIGGER ${T.captureInsert} AFTER INSERT ON ${target} REFERENCING NEW TABLE AS oversync_new
  FOR EACH STATEMENT EXECUTE FUNCTION sync.capture_registered_rows(${args});
CREATE TRIGGER ${T.captureUpdate} AFTER UPDATE ON ${target} REFERENCING OLD TABLE AS oversync_old NEW TABLE AS oversync_new
  FOR EACH STATEMENT EXECUTE FUNCTION sync.capture_registered_rows(${args});
CREATE TRIGGER ${T.captureDelete} AFTER DELETE ON ${target} REFERENCING OLD TABLE AS oversync_old
  FOR EACH STATEMENT EXECUTE FUNCTION sync.capture_registered_rows(${args});
CREATE TRIGGER ${T.blockTruncate} BEFORE TRUNCATE ON ${target}
  FOR EACH STATEMENT EXECUTE FUNCTION sync.reject_registered_truncate();
`;
}

/** Owner guards (row level, only for rows whose owner must be filled in or would change),
 * statement-level capture and the TRUNCATE block, for one registered table. On a partitioned table
 * PostgreSQL clones the row-level guards to every partition, present and future. */
export function registeredTableTriggersDdl(
  schema: string,
  table: string,
  keyColumn: string,
  keyKindCode: 1 | 2,
  tableId: number,
): string {
  const target = `${quoteIdent(schema)}.${quoteIdent(table)}`;
  return `
DROP TRIGGER IF EXISTS ${T.ownerGuard} ON ${target};
DROP TRIGGER IF EXISTS ${T.ownerMutationGuard} ON ${target};
CREATE TRIGGER ${T.ownerGuard} BEFORE INSERT ON ${target}
  FOR EACH ROW WHEN (NEW._sync_scope_id IS NULL OR NEW._sync_scope_id = '')
  EXECUTE FUNCTION sync.enforce_registered_row_owner();
CREATE TRIGGER ${T.ownerMutationGuard} BEFORE UPDATE ON ${target}
  FOR EACH ROW WHEN (NEW._sync_scope_id IS DISTINCT FROM OLD._sync_scope_id)
  EXECUTE FUNCTION sync.enforce_registered_row_owner();
${statementTriggersDdl(target, captureArgs(keyColumn, keyKindCode, tableId))}`;
}

/**
 * Statement-level capture and the TRUNCATE block for one partition (at any level) of a registered
 * partitioned table. Statement-level triggers fire only for the table a statement names, so the
 * parent's do not see a statement aimed at a partition, and a partition's do not fire for a
 * statement on the parent (no double capture). The arguments are the parent's, so rows are staged
 * under the parent's table id. The owner guards are not installed here: they are PostgreSQL's
 * clones of the parent's row-level triggers, which cannot be dropped or re-created on a partition.
 */
export function partitionTriggersDdl(
  schema: string,
  table: string,
  keyColumn: string,
  keyKindCode: 1 | 2,
  tableId: number,
): string {
  return statementTriggersDdl(
    `${quoteIdent(schema)}.${quoteIdent(table)}`,
    captureArgs(keyColumn, keyKindCode, tableId),
  );
}

/** Drops one of our triggers from a table that is no longer registered or a registered table's partition. */
export function dropTriggerDdl(schema: string, table: string, trigger: string): string {
  return `DROP TRIGGER IF EXISTS ${quoteIdent(trigger)} ON ${quoteIdent(schema)}.${quoteIdent(table)};\n`;
}
