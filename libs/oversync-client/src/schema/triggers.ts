import { NOW_SQL } from './metadata-tables.js';
import { keyJsonSql, keyTextSql, payloadSql, quoteIdent, quoteLiteral } from './row-sql.js';
import { type TableSpec } from './table-spec.js';

/** The message guard triggers abort with while a remote replace is pending. */
export const TRANSITION_PENDING_MESSAGE = 'SYNC_TRANSITION_PENDING';

/** Trigger name suffixes installed on every managed table. */
export const TRIGGER_SUFFIXES = ['bi_guard', 'bu_guard', 'bd_guard', 'ai', 'au', 'ad'] as const;

const APPLY_OFF = '(SELECT apply_mode FROM _sync_apply_state WHERE singleton_key = 1) = 0';
// Only a remote replace blocks app writes. Source recovery deliberately does not: rows written
// while recovery is pending stay dirty and survive the rotated rebuild, so nothing can deadlock.
// The apply-mode test comes first: during authoritative applies it settles the condition with
// one lookup per written row (SQLite short-circuits AND).
const GUARD =
  '(SELECT apply_mode FROM _sync_apply_state WHERE singleton_key = 1) != 1 AND ' +
  "(SELECT kind FROM _sync_operation_state WHERE singleton_key = 1) = 'remote_replace'";

/** Trigger name for a table and suffix. */
export function triggerName(table: string, suffix: (typeof TRIGGER_SUFFIXES)[number]): string {
  return `trg_${table}_${suffix}`;
}

/**
 * Upserts one dirty intent. On conflict only `op`, `payload` and `updated_at` change: the first
 * capture's `base_row_version` and `dirty_ordinal` are kept, which is what collapses
 * insert → update → delete chains into one intent.
 */
function upsertDirtySql(schema: string, table: TableSpec, alias: 'NEW' | 'OLD', isDelete: boolean): string {
  const s = quoteLiteral(schema);
  const t = quoteLiteral(table.name);
  const key = keyJsonSql(table, alias);
  const rs = `_sync_row_state rs WHERE rs.table_name = ${t} AND rs.key_text = ${keyTextSql(table, alias)}`;
  const op = isDelete
    ? "'DELETE'"
    : `CASE WHEN EXISTS (SELECT 1 FROM ${rs} AND rs.deleted = 0) THEN 'UPDATE' ELSE 'INSERT' END`;
  const payload = isDelete ? 'NULL' : payloadSql(table, alias);
  return (
    'INSERT INTO _sync_dirty_rows (schema_name, table_name, key_json, op, base_row_version, payload, dirty_ordinal, updated_at) ' +
    `SELECT ${s}, ${t}, ${key}, ${op}, COALESCE((SELECT rs.row_version FROM ${rs}), 0), ${payload}, ` +
    `(SELECT COALESCE(MAX(dirty_ordinal), 0) + 1 FROM _sync_dirty_rows), ${NOW_SQL}`
  );
}

const ON_CONFLICT =
  ' ON CONFLICT (schema_name, table_name, key_json) DO UPDATE SET op = excluded.op, payload = excluded.payload, updated_at = excluded.updated_at';

/** The six trigger statements of one managed table, keyed by trigger name. */
export function buildTriggers(schema: string, table: TableSpec): Map<string, string> {
  const on = quoteIdent(table.sqlName);
  const triggers = new Map<string, string>();
  const guard = (suffix: 'bi_guard' | 'bu_guard' | 'bd_guard', event: string) =>
    triggers.set(
      triggerName(table.name, suffix),
      `CREATE TRIGGER ${quoteIdent(triggerName(table.name, suffix))} BEFORE ${event} ON ${on} WHEN ${GUARD} ` +
        `BEGIN SELECT RAISE(ABORT, '${TRANSITION_PENDING_MESSAGE}'); END`,
    );
  guard('bi_guard', 'INSERT');
  guard('bu_guard', 'UPDATE');
  guard('bd_guard', 'DELETE');
  const keyChanged = `${keyJsonSql(table, 'OLD')} IS NOT ${keyJsonSql(table, 'NEW')}`;
  triggers.set(
    triggerName(table.name, 'ai'),
    `CREATE TRIGGER ${quoteIdent(triggerName(table.name, 'ai'))} AFTER INSERT ON ${on} WHEN ${APPLY_OFF} BEGIN ` +
      `${upsertDirtySql(schema, table, 'NEW', false)} WHERE true${ON_CONFLICT}; END`,
  );
  triggers.set(
    triggerName(table.name, 'au'),
    `CREATE TRIGGER ${quoteIdent(triggerName(table.name, 'au'))} AFTER UPDATE ON ${on} WHEN ${APPLY_OFF} BEGIN ` +
      `${upsertDirtySql(schema, table, 'OLD', true)} WHERE ${keyChanged}${ON_CONFLICT}; ` +
      `${upsertDirtySql(schema, table, 'NEW', false)} WHERE true${ON_CONFLICT}; END`,
  );
  triggers.set(
    triggerName(table.name, 'ad'),
    `CREATE TRIGGER ${quoteIdent(triggerName(table.name, 'ad'))} AFTER DELETE ON ${on} WHEN ${APPLY_OFF} BEGIN ` +
      `${upsertDirtySql(schema, table, 'OLD', true)} WHERE true${ON_CONFLICT}; END`,
  );
  return triggers;
}
