import { InvalidConfigError } from '../errors/lifecycle.errors.js';
import { type SqlJsAdapter } from '../db/sql-js.adapter.js';
import { METADATA_DDL, NOW_SQL } from './metadata-tables.js';
import { upgradeMetadata } from './metadata-upgrade.js';
import { keyJsonSql, keyTextSql, payloadSql, quoteIdent, quoteLiteral } from './row-sql.js';
import { loadTableSpecs, type SyncTableConfig, type TableSpec } from './table-spec.js';
import { buildTriggers, TRIGGER_SUFFIXES, triggerName } from './triggers.js';

/**
 * Creates (or upgrades) the metadata tables, validates the configured tables and (re)installs their
 * triggers in one transaction. Triggers whose SQL is unchanged are kept. Tables that were managed before but
 * are no longer configured lose their triggers and pending intents, and stay in
 * `_sync_managed_tables` so rebuild and detach still clear them.
 *
 * @returns the table specs in apply order (parents first).
 */
export function installSchema(
  adapter: SqlJsAdapter,
  schema: string,
  configs: readonly SyncTableConfig[],
): TableSpec[] {
  // foreign_keys cannot change inside a transaction; sql.js connections start with it off.
  adapter.exec('PRAGMA foreign_keys = ON');
  return adapter.transaction(() => {
    adapter.exec(METADATA_DDL);
    adapter.run('UPDATE _sync_apply_state SET apply_mode = 0 WHERE singleton_key = 1');
    const stored = new Set(
      adapter
        .all<{ s: string }>(
          "SELECT schema_name AS s FROM _sync_attachment_state WHERE schema_name != '' UNION SELECT schema_name FROM _sync_managed_tables",
        )
        .map((r) => r.s),
    );
    stored.delete(schema);
    if (stored.size > 0) {
      throw new InvalidConfigError(
        `this database was synced with schema "${[...stored].join('", "')}"; a local database holds exactly one configured schema, not "${schema}"`,
      );
    }
    adapter.run('UPDATE _sync_attachment_state SET schema_name = ? WHERE singleton_key = 1', [schema]);
    upgradeMetadata(adapter, schema);
    const specs = loadTableSpecs(adapter, configs);
    const configured = new Set(specs.map((s) => s.name));
    const legacy = adapter
      .all<{ t: string }>('SELECT table_name AS t FROM _sync_managed_tables WHERE schema_name = ?', [schema])
      .map((r) => r.t)
      .filter((t) => !configured.has(t));
    for (const table of legacy) {
      for (const suffix of TRIGGER_SUFFIXES)
        adapter.exec(`DROP TRIGGER IF EXISTS ${quoteIdent(triggerName(table, suffix))}`);
      adapter.run('DELETE FROM _sync_dirty_rows WHERE schema_name = ? AND table_name = ?', [schema, table]);
    }
    for (const spec of specs) {
      let capturedBefore = true;
      for (const [name, sql] of buildTriggers(schema, spec)) {
        const existing = adapter.scalar("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?", [
          name,
        ]);
        if (existing === sql) continue;
        adapter.exec(`DROP TRIGGER IF EXISTS ${quoteIdent(name)}`);
        adapter.exec(sql);
        if (name === triggerName(spec.name, 'ai') && existing === null) capturedBefore = false;
      }
      // A table captured from now on (a new release syncs a table the app already had, or one it
      // stopped syncing for a while): rows written meanwhile would never reach the server, and a
      // child pushed later would meet a parent the server never got (a foreign-key conflict that
      // serverWins answers by deleting the child).
      if (!capturedBefore) captureExistingRows(adapter, schema, [spec]);
      adapter.run('INSERT OR IGNORE INTO _sync_managed_tables (schema_name, table_name) VALUES (?, ?)', [
        schema,
        spec.name,
      ]);
    }
    return specs;
  });
}

/**
 * Records every untracked row of the given tables (no row version, no intent yet) as a dirty
 * `INSERT` with base 0, using the same key and payload expressions as the triggers: on the first
 * open, and when a table starts being captured.
 */
export function captureExistingRows(
  adapter: SqlJsAdapter,
  schema: string,
  specs: readonly TableSpec[],
): void {
  for (const spec of specs) {
    adapter.run(
      'INSERT OR IGNORE INTO _sync_dirty_rows (schema_name, table_name, key_json, op, base_row_version, payload, dirty_ordinal, updated_at) ' +
        `SELECT ${quoteLiteral(schema)}, ${quoteLiteral(spec.name)}, ${keyJsonSql(spec, 't')}, 'INSERT', 0, ${payloadSql(spec, 't')}, ` +
        `(SELECT COALESCE(MAX(dirty_ordinal), 0) FROM _sync_dirty_rows) + row_number() OVER (), ${NOW_SQL} ` +
        `FROM ${quoteIdent(spec.sqlName)} AS t WHERE NOT EXISTS (SELECT 1 FROM _sync_row_state rs ` +
        `WHERE rs.table_name = ${quoteLiteral(spec.name)} AND rs.key_text = ${keyTextSql(spec, 't')})`,
    );
  }
}

/** Every table ever managed in this database (registry ∪ config), for clearing on rebuild/detach. */
export function managedTableNames(adapter: SqlJsAdapter, schema: string): string[] {
  return adapter
    .all<{ t: string }>('SELECT table_name AS t FROM _sync_managed_tables WHERE schema_name = ?', [schema])
    .map((r) => r.t);
}
