import { sql, type Kysely } from 'kysely';

import { UnsupportedSchemaError } from '../errors/index.js';
import { orderByDependencies } from './fk-graph.util.js';
import type { ValidatedTable } from './table-validator.js';

/** A validated foreign key between two registered tables (self-references included). */
export interface ForeignKeyEdge {
  /** Qualified name of the referencing table. */
  child: string;
  /** Qualified name of the referenced table. */
  parent: string;
  /** Constraint name, unqualified; it lives in the child's schema. */
  constraintName: string;
}

/** Outcome of {@link validateForeignKeys}. */
export interface FkValidationResult {
  /** Every registered table, parents first (FK edges plus overrides; self-references ignored). */
  tableOrder: string[];
  /** Groups of two or more registered tables that depend on each other, each sorted. */
  cycles: string[][];
  /** Every foreign key whose child is registered, sorted by child then constraint name. */
  edges: ForeignKeyEdge[];
}

/** Ids of the foreign-key rules, carried in `UnsupportedSchemaError.details.rule`. */
export type ForeignKeyRule =
  'fk_not_closed' | 'fk_match_full' | 'fk_not_scope_inclusive' | 'fk_not_deferrable';

const SCOPE_COLUMN = '_sync_scope_id';

interface ForeignKeyRow {
  constraint_name: string;
  child_schema: string;
  child_table: string;
  parent_schema: string;
  parent_table: string;
  match_type: string;
  deferrable: boolean;
  child_columns: string[];
  parent_columns: string[];
}

/**
 * Discovers the foreign keys of the registered tables and checks that they keep scopes apart:
 * the registered set is FK-closed (a registered child only references registered parents), no FK
 * uses MATCH FULL, every FK is exactly (`_sync_scope_id`, column) → (`_sync_scope_id`, parent key),
 * and every FK is DEFERRABLE (INITIALLY IMMEDIATE is enough: writes run `SET CONSTRAINTS ALL
 * DEFERRED`). Foreign keys from unregistered tables into registered ones are not checked.
 *
 * @param db - Any Kysely over `pg`.
 * @param tables - The output of `validateRegisteredTables`.
 * @param dependencyOverrides - Extra child → parents edges for the order. Names are `schema.table`
 *   or `table` (meaning `public.table`); malformed or unregistered names are ignored.
 * @returns The dependency order (informational: nothing at runtime depends on it), its cycles and
 *   the FK edges.
 * @throws {@link UnsupportedSchemaError} naming the table(s), the `rule` ({@link ForeignKeyRule})
 *   and the fix; the deferrability error lists every offending constraint at once.
 */
export async function validateForeignKeys(
  db: Kysely<unknown>,
  tables: readonly ValidatedTable[],
  dependencyOverrides: Readonly<Record<string, readonly string[]>>,
): Promise<FkValidationResult> {
  const registered = new Map(tables.map((t) => [t.qualifiedName, t]));
  if (registered.size === 0) return { tableOrder: [], cycles: [], edges: [] };

  // conparentid = 0 skips the per-partition clones PostgreSQL adds when a partitioned table is
  // referenced; they would otherwise look like FKs into unregistered partitions.
  const { rows } = await sql<ForeignKeyRow>`
    select con.conname as constraint_name,
           cn.nspname as child_schema, cc.relname as child_table,
           pn.nspname as parent_schema, pc.relname as parent_table,
           con.confmatchtype::text as match_type, con.condeferrable as deferrable,
           array(
             select a.attname::text from unnest(con.conkey) with ordinality as k(attnum, ord)
             join pg_catalog.pg_attribute a on a.attrelid = con.conrelid and a.attnum = k.attnum
             order by k.ord
           )::text[] as child_columns,
           array(
             select a.attname::text from unnest(con.confkey) with ordinality as k(attnum, ord)
             join pg_catalog.pg_attribute a on a.attrelid = con.confrelid and a.attnum = k.attnum
             order by k.ord
           )::text[] as parent_columns
    from unnest(${tables.map((t) => t.schema)}::text[], ${tables.map((t) => t.table)}::text[])
           as r(schema_name, table_name)
    join pg_catalog.pg_namespace cn on cn.nspname = r.schema_name
    join pg_catalog.pg_class cc on cc.relnamespace = cn.oid and cc.relname = r.table_name
    join pg_catalog.pg_constraint con on con.conrelid = cc.oid and con.contype = 'f' and con.conparentid = 0
    join pg_catalog.pg_class pc on pc.oid = con.confrelid
    join pg_catalog.pg_namespace pn on pn.oid = pc.relnamespace
    order by cn.nspname, cc.relname, con.conname`.execute(db);

  const edges: ForeignKeyEdge[] = [];
  const nonDeferrable: ForeignKeyRow[] = [];
  for (const fk of rows) {
    const child = `${fk.child_schema}.${fk.child_table}`;
    const parent = `${fk.parent_schema}.${fk.parent_table}`;
    const fail = (rule: ForeignKeyRule, problem: string, fix: string): never => {
      throw new UnsupportedSchemaError(`Table ${child}: ${problem}. Fix: ${fix}.`, {
        table: child,
        rule,
        fix,
      });
    };
    const parentTable = registered.get(parent);
    if (!parentTable) {
      fail(
        'fk_not_closed',
        `registered tables are not FK-closed: ${child} -> ${parent} (${fk.constraint_name})`,
        `register ${parent} too, or drop the foreign key ${fk.constraint_name}`,
      );
    }
    const key = parentTable!.keyColumn;
    // ON DELETE / ON UPDATE are not checked: go-oversync accepts every action PostgreSQL has.
    if (fk.match_type === 'f') {
      fail(
        'fk_match_full',
        `foreign key ${fk.constraint_name} uses MATCH FULL, which is not supported`,
        `recreate it with the default MATCH SIMPLE`,
      );
    }
    if (
      fk.child_columns.length !== 2 ||
      fk.child_columns[0] !== SCOPE_COLUMN ||
      fk.parent_columns[0] !== SCOPE_COLUMN ||
      fk.parent_columns[1] !== key
    ) {
      const column = fk.child_columns.find((c) => c !== SCOPE_COLUMN) ?? '<column>';
      fail(
        'fk_not_scope_inclusive',
        `foreign key ${fk.constraint_name} (${fk.child_columns.join(', ')}) -> ${parent} (${fk.parent_columns.join(', ')}) ` +
          `is not scope-inclusive: it must be exactly (${SCOPE_COLUMN}, <column>) referencing ${parent} (${SCOPE_COLUMN}, ${key})`,
        `recreate it as FOREIGN KEY (${SCOPE_COLUMN}, ${column}) REFERENCES ${parent} (${SCOPE_COLUMN}, ${key}) DEFERRABLE INITIALLY DEFERRED`,
      );
    }
    if (!fk.deferrable) nonDeferrable.push(fk);
    edges.push({ child, parent, constraintName: fk.constraint_name });
  }

  if (nonDeferrable.length > 0) {
    const children = [...new Set(nonDeferrable.map((fk) => `${fk.child_schema}.${fk.child_table}`))];
    const names = nonDeferrable.map((fk) => `${fk.child_schema}.${fk.constraint_name}`);
    const fix =
      nonDeferrable
        .map(
          (fk) =>
            `ALTER TABLE ${fk.child_schema}.${fk.child_table} ALTER CONSTRAINT ${fk.constraint_name} DEFERRABLE`,
        )
        .join('; ') + ' (INITIALLY DEFERRED is recommended)';
    throw new UnsupportedSchemaError(
      `Table${children.length > 1 ? 's' : ''} ${children.join(', ')}: registered tables have non-deferrable FK constraints ` +
        `${names.join(', ')}; make these constraints DEFERRABLE before bootstrap. Fix: ${fix}.`,
      { table: children.join(', '), rule: 'fk_not_deferrable' satisfies ForeignKeyRule, fix },
    );
  }

  const parentsOf = new Map<string, Set<string>>();
  const addEdge = (child: string, parent: string): void => {
    const parents = parentsOf.get(child) ?? new Set<string>();
    parents.add(parent);
    parentsOf.set(child, parents);
  };
  for (const edge of edges) addEdge(edge.child, edge.parent);
  for (const [child, parents] of Object.entries(dependencyOverrides)) {
    const childName = overrideName(child);
    // Overrides only tune the informational order, so, as in go-oversync, a stale or misspelt entry
    // is skipped rather than failing start-up.
    if (childName === undefined || !registered.has(childName)) continue;
    for (const parent of parents ?? []) {
      const parentName = overrideName(parent);
      if (parentName !== undefined && registered.has(parentName)) addEdge(childName, parentName);
    }
  }
  const { order, cycles } = orderByDependencies(registered.keys(), parentsOf);
  return { tableOrder: order, cycles, edges };
}

/** `schema.table` or `table` (→ `public.table`), trimmed and lower-cased; undefined when malformed. */
function overrideName(raw: unknown): string | undefined {
  if (typeof raw !== 'string') return undefined;
  const parts = raw.trim().toLowerCase().split('.');
  if (parts.some((p) => p.trim() === '') || parts.length > 2) return undefined;
  const [schema, table] = parts.length === 2 ? parts : ['public', parts[0]];
  return `${schema.trim()}.${table.trim()}`;
}
