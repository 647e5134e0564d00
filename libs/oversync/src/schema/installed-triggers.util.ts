import { createHash } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import { TRIGGER_NAMES } from './sync-layout.constants.js';
import { quoteIdent } from './trigger.ddl.js';

/** Triggers a registered table carries (owner guards, statement capture, TRUNCATE block). */
export const REGISTERED_TABLE_TRIGGERS: readonly string[] = Object.values(TRIGGER_NAMES);

/** Triggers a partition carries itself (its owner guards are PostgreSQL's clones of the parent's). */
export const PARTITION_TRIGGERS: readonly string[] = [
  TRIGGER_NAMES.captureInsert,
  TRIGGER_NAMES.captureUpdate,
  TRIGGER_NAMES.captureDelete,
  TRIGGER_NAMES.blockTruncate,
];

const COMMENT_PREFIX = 'oversync trigger ';

/** One table's wanted triggers: the DDL that (re)creates them and the names it creates. */
export interface TriggerInstall {
  schema: string;
  table: string;
  ddl: string;
  names: readonly string[];
}

/** Enabled triggers with one of our names: `schema\0table` → trigger name → its comment. */
type InstalledTriggers = Map<string, Map<string, string | null>>;

const tableKey = (schema: string, table: string): string => `${schema}\u0000${table}`;

/** Reads our triggers from the catalog (no lock on the tables they are on). */
export async function readInstalledTriggers(trx: Kysely<unknown>): Promise<InstalledTriggers> {
  const { rows } = await sql<{
    schema_name: string;
    table_name: string;
    trigger_name: string;
    description: string | null;
  }>`
    SELECT n.nspname AS schema_name, c.relname AS table_name, tg.tgname AS trigger_name, d.description
      FROM pg_trigger tg
      JOIN pg_class c ON c.oid = tg.tgrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace
      LEFT JOIN pg_description d
        ON d.classoid = 'pg_trigger'::regclass AND d.objoid = tg.oid AND d.objsubid = 0
     WHERE tg.tgname = ANY(${REGISTERED_TABLE_TRIGGERS}::text[]) AND tg.tgenabled = 'O'`.execute(trx);
  const installed: InstalledTriggers = new Map();
  for (const r of rows) {
    const key = tableKey(r.schema_name, r.table_name);
    const triggers = installed.get(key) ?? new Map<string, string | null>();
    triggers.set(r.trigger_name, r.description);
    installed.set(key, triggers);
  }
  return installed;
}

/**
 * The script that (re)creates the triggers of every table whose set is missing, disabled or was
 * installed from other DDL, each marked with a comment naming its DDL. A table whose triggers are
 * all current is left alone: re-creating them takes an exclusive lock on the table, which would
 * queue behind any long reader (a report, pg_dump) and every later statement behind that.
 */
export function outdatedTriggersDdl(wanted: readonly TriggerInstall[], installed: InstalledTriggers): string {
  const script: string[] = [];
  for (const w of wanted) {
    const comment = `${COMMENT_PREFIX}${createHash('sha256').update(w.ddl).digest('hex').slice(0, 32)}`;
    const have = installed.get(tableKey(w.schema, w.table));
    if (w.names.every((name) => have?.get(name) === comment)) continue;
    const target = `${quoteIdent(w.schema)}.${quoteIdent(w.table)}`;
    script.push(
      w.ddl,
      ...w.names.map((name) => `COMMENT ON TRIGGER ${quoteIdent(name)} ON ${target} IS '${comment}';`),
    );
  }
  return script.join('\n');
}
