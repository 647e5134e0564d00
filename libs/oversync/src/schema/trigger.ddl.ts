import { TRIGGER_NAMES as T } from './sync-layout.constants.js';

/** Identifier quoting for DDL we build from validated, lower-cased catalog names. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** Owner guards (row level, only for rows whose owner must be filled in or would change),
 * statement-level capture (one trigger per event: PostgreSQL allows transition
 * tables only on single-event triggers) and the TRUNCATE block, for one registered table. */
export function registeredTableTriggersDdl(
  schema: string,
  table: string,
  keyColumn: string,
  keyKindCode: 1 | 2,
  tableId: number,
): string {
  const target = `${quoteIdent(schema)}.${quoteIdent(table)}`;
  const args = [keyColumn, String(keyKindCode), String(tableId)]
    .map((a) => `'${a.replace(/'/g, "''")}'`)
    .join(', ');
  return `
DROP TRIGGER IF EXISTS ${T.ownerGuard} ON ${target};
DROP TRIGGER IF EXISTS ${T.ownerMutationGuard} ON ${target};
DROP TRIGGER IF EXISTS ${T.captureInsert} ON ${target};
DROP TRIGGER IF EXISTS ${T.captureUpdate} ON ${target};
DROP TRIGGER IF EXISTS ${T.captureDelete} ON ${target};
DROP TRIGGER IF EXISTS ${T.blockTruncate} ON ${target};
CREATE TRIGGER ${T.ownerGuard} BEFORE INSERT ON ${target}
  FOR EACH ROW WHEN (NEW._sync_scope_id IS NULL OR NEW._sync_scope_id = '')
  EXECUTE FUNCTION sync.enforce_registered_row_owner();
CREATE TRIGGER ${T.ownerMutationGuard} BEFORE UPDATE ON ${target}
  FOR EACH ROW WHEN (NEW._sync_scope_id IS DISTINCT FROM OLD._sync_scope_id)
  EXECUTE FUNCTION sync.enforce_registered_row_owner();
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
