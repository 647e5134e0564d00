import type { Kysely } from 'kysely';

import {
  readTableShapes,
  type ColumnRow,
  type HierarchyRow,
  type UniqueIndexRow,
} from './table-shape.queries.js';
import { OversyncConfigError, UnsupportedSchemaError } from '../errors/index.js';

/** Type of a sync key column: `uuid` keys travel as canonical lower-case UUID strings, `text` as is. */
export type SyncKeyKind = 'uuid' | 'text';

/** One registered table as configured (`registeredTables` of the module options). */
export interface RegisteredTableInput {
  /** PostgreSQL schema; blank means `public`. Compared lower-cased. */
  schema: string;
  /** Table name, compared lower-cased. */
  table: string;
  /** Must resolve to exactly one column once trimmed, lower-cased and de-duplicated. */
  syncKeyColumns: string[];
}

/** A registered table whose shape passed every rule of {@link validateRegisteredTables}. */
export interface ValidatedTable {
  /** Lower-cased, trimmed; `public` when the configured schema was blank. */
  schema: string;
  /** Lower-cased, trimmed. */
  table: string;
  /** `${schema}.${table}`. */
  qualifiedName: string;
  /** The single sync key column, lower-cased. */
  keyColumn: string;
  keyKind: SyncKeyKind;
  /** Column name → lower-cased type name (a domain reports its base type, at any depth), in column order. */
  columns: ReadonlyMap<string, string>;
  /** Non-key columns of type `bytea`, in column order (they travel as base64 on the wire). */
  byteaColumns: readonly string[];
}

/** Ids of the table-shape rules, carried in `UnsupportedSchemaError.details.rule`. */
export type TableRule =
  | 'sync_key_count'
  | 'sync_key_is_scope'
  | 'table_missing'
  | 'table_inheritance_child'
  | 'table_inheritance_parent'
  | 'scope_column_missing'
  | 'scope_column_type'
  | 'scope_column_nullable'
  | 'scope_column_collation'
  | 'sync_key_missing'
  | 'sync_key_type'
  | 'sync_key_collation'
  | 'unique_index_missing'
  | 'unique_index_partial_or_expression'
  | 'unique_index_not_scoped'
  | 'unique_index_collation'
  | 'sync_key_identity';

const SCOPE_COLUMN = '_sync_scope_id';

interface NormalizedTable {
  schema: string;
  table: string;
  qualifiedName: string;
  keyColumns: string[];
}

/**
 * Checks that every registered table has a shape the engine can sync safely, reading the catalog
 * once for all tables. Tables are checked in the given order and the first broken rule is thrown.
 *
 * Rules, in order: exactly one sync key column; it is not `_sync_scope_id`; the table exists; it is
 * neither a partition or inheritance child of another table nor an inheritance parent (a
 * partitioned table is accepted: bootstrap covers its partitions); `_sync_scope_id` exists, is
 * `text`, NOT NULL and deterministically collated; the key exists, is `uuid` or `text` and
 * deterministically collated; at least one unique index; every unique index is plain (no
 * predicate, no expression, no nondeterministic COLLATE) and begins with `_sync_scope_id`; one
 * unique index is exactly (`_sync_scope_id`, key). Domains are resolved to their base type at any depth.
 *
 * @param db - Any Kysely over `pg` (a pool or a transaction).
 * @param tables - The registered tables, in configuration order.
 * @returns One {@link ValidatedTable} per input, in the same order.
 * @throws {@link UnsupportedSchemaError} naming the table, the `rule` ({@link TableRule}) and the fix.
 * @throws {@link OversyncConfigError} when a table name is blank or a table is registered twice.
 */
export async function validateRegisteredTables(
  db: Kysely<unknown>,
  tables: readonly RegisteredTableInput[],
): Promise<ValidatedTable[]> {
  const normalized = tables.map(normalize);
  const seen = new Set<string>();
  for (const t of normalized) {
    if (seen.has(t.qualifiedName)) {
      throw new OversyncConfigError(
        `Table ${t.qualifiedName} is registered twice. Fix: list each table once in registeredTables.`,
        { table: t.qualifiedName },
      );
    }
    seen.add(t.qualifiedName);
  }
  if (normalized.length === 0) return [];

  const shapes = await readTableShapes(
    db,
    normalized.map((t) => t.schema),
    normalized.map((t) => t.table),
  );
  return normalized.map((t) =>
    checkTable(
      t,
      shapes.columns.get(t.qualifiedName) ?? [],
      shapes.indexes.get(t.qualifiedName) ?? [],
      shapes.hierarchy.get(t.qualifiedName)?.[0],
    ),
  );
}

function normalize(input: RegisteredTableInput, position: number): NormalizedTable {
  const schema = (input.schema ?? '').trim().toLowerCase() || 'public';
  const table = (input.table ?? '').trim().toLowerCase();
  if (table === '') {
    throw new OversyncConfigError(
      `registeredTables[${position}] has a blank table name. Fix: set table to the table's name.`,
      { position },
    );
  }
  const keyColumns = [
    ...new Set((input.syncKeyColumns ?? []).map((c) => c.trim().toLowerCase()).filter((c) => c !== '')),
  ];
  return { schema, table, qualifiedName: `${schema}.${table}`, keyColumns };
}

function checkTable(
  t: NormalizedTable,
  columnRows: ColumnRow[],
  indexes: UniqueIndexRow[],
  hierarchy: HierarchyRow | undefined,
): ValidatedTable {
  const name = t.qualifiedName;
  const fail = (rule: TableRule, problem: string, fix: string): never => {
    throw new UnsupportedSchemaError(`Table ${name}: ${problem}. Fix: ${fix}.`, { table: name, rule, fix });
  };

  if (t.keyColumns.length !== 1) {
    const found = t.keyColumns.length === 0 ? 'none' : t.keyColumns.join(', ');
    fail(
      'sync_key_count',
      `syncKeyColumns must resolve to exactly one sync key column (found ${found})`,
      "register exactly one uuid or text column, e.g. syncKeyColumns: ['id']; composite sync keys are not supported",
    );
  }
  const key = t.keyColumns[0];
  if (key === SCOPE_COLUMN) {
    fail(
      'sync_key_is_scope',
      `the sync key column cannot be ${SCOPE_COLUMN}, which holds the owning scope`,
      "register the row's own identifier column (e.g. id) as the sync key",
    );
  }
  if (columnRows.length === 0) {
    fail(
      'table_missing',
      'no column metadata found: the table does not exist, or is not an ordinary or partitioned table',
      'create the table (run your migrations) before the module starts, or correct schema and table in registeredTables',
    );
  }
  // Capture and the write guards are statement-level triggers, which fire only for the table a
  // statement names. A statement on an unregistered parent reaches this table's rows without them.
  if (hierarchy?.parent_name) {
    const parent = hierarchy.parent_name;
    if (hierarchy.is_partition) {
      fail(
        'table_inheritance_child',
        `is a partition of ${parent}, and writes through ${parent} would bypass capture`,
        `register ${parent} (the partitioned table) instead; bootstrap covers all of its partitions`,
      );
    }
    fail(
      'table_inheritance_child',
      `inherits from ${parent}, and writes through ${parent} would bypass capture`,
      `detach it (ALTER TABLE ${name} NO INHERIT ${parent}), or use declarative partitioning and register the partitioned table`,
    );
  }
  // Inheritance children are refused rather than covered: row-level owner guards are not inherited
  // and unique indexes do not span the hierarchy, so (_sync_scope_id, key) would not identify a row.
  if (hierarchy?.inheritance_children) {
    const children = hierarchy.inheritance_children;
    fail(
      'table_inheritance_parent',
      `has inheritance children (${children}), whose rows Oversync cannot guard and whose keys its unique indexes do not cover`,
      `detach them (ALTER TABLE <child> NO INHERIT ${name}), or convert ${name} to a partitioned table (PARTITION BY …), whose partitions are covered`,
    );
  }

  const columns = new Map(columnRows.map((c) => [c.column_name, c.udt_name]));
  const scope = columnRows.find((c) => c.column_name === SCOPE_COLUMN);
  if (!scope) {
    fail(
      'scope_column_missing',
      `must define ${SCOPE_COLUMN} TEXT (the column is missing)`,
      `ALTER TABLE ${name} ADD COLUMN ${SCOPE_COLUMN} text NOT NULL, and lead every unique key with it, e.g. PRIMARY KEY (${SCOPE_COLUMN}, id)`,
    );
  } else if (scope.udt_name !== 'text') {
    fail(
      'scope_column_type',
      `must define ${SCOPE_COLUMN} TEXT (found ${scope.udt_name})`,
      `ALTER TABLE ${name} ALTER COLUMN ${SCOPE_COLUMN} TYPE text`,
    );
  } else if (!scope.not_null) {
    // go-oversync leaves this unchecked although its docs require it. Requiring NOT NULL is safe:
    // the BEFORE owner-guard trigger fills a NULL owner on insert, before the constraint is checked,
    // and a NULL owner would otherwise escape every unique index and every scope filter.
    fail(
      'scope_column_nullable',
      `${SCOPE_COLUMN} must be NOT NULL`,
      `ALTER TABLE ${name} ALTER COLUMN ${SCOPE_COLUMN} SET NOT NULL (inserts may still omit it: the owner guard fills it)`,
    );
  } else if (scope.nondeterministic_collation) {
    fail(
      'scope_column_collation',
      `${SCOPE_COLUMN} uses the nondeterministic collation ${scope.nondeterministic_collation}, so owners that differ in case or accents would compare equal while Oversync tells scopes apart by their bytes`,
      `use a deterministic collation: ALTER TABLE ${name} ALTER COLUMN ${SCOPE_COLUMN} TYPE text COLLATE "C" (or "default")`,
    );
  }

  const keyType = columns.get(key);
  if (keyType === undefined) {
    fail(
      'sync_key_missing',
      `sync key column ${key} does not exist`,
      'register an existing uuid or text column in syncKeyColumns, or add the column',
    );
  } else if (keyType !== 'uuid' && keyType !== 'text') {
    fail(
      'sync_key_type',
      `sync key column ${key} is ${keyType}, but oversync allows only uuid and text sync keys`,
      'change the column type to uuid or text, or register another column',
    );
  }
  // Capture pairs old and new row images by comparing keys, and row_state stores them as bytes: a
  // collation that makes 'a' equal 'A' turns a rename into an UPDATE of the new key while the old
  // key stays live for every client.
  const keyCollation = columnRows.find((c) => c.column_name === key)?.nondeterministic_collation;
  if (keyCollation) {
    fail(
      'sync_key_collation',
      `sync key column ${key} uses the nondeterministic collation ${keyCollation}, so keys that differ in case or accents would compare equal while Oversync tells rows apart by their bytes`,
      `use a deterministic collation: ALTER TABLE ${name} ALTER COLUMN ${key} TYPE text COLLATE "C" (or "default")`,
    );
  }

  if (indexes.length === 0) {
    fail(
      'unique_index_missing',
      'has no unique index or constraint',
      `add PRIMARY KEY (${SCOPE_COLUMN}, ${key}) or UNIQUE (${SCOPE_COLUMN}, ${key})`,
    );
  }
  for (const index of indexes) {
    if (index.partial_or_expression || index.key_columns.length === 0 || index.key_columns.includes('')) {
      fail(
        'unique_index_partial_or_expression',
        `partial or expression unique index ${index.index_name} is not supported`,
        `replace it with a plain unique constraint on columns beginning with ${SCOPE_COLUMN}, or drop it`,
      );
    }
    if (index.nondeterministic_collations) {
      fail(
        'unique_index_collation',
        `unique index ${index.index_name} uses the nondeterministic collation ${index.nondeterministic_collations}, so keys that differ in case or accents would collide in it while Oversync tells them apart`,
        `recreate ${index.index_name} without a COLLATE clause on a deterministically collated column`,
      );
    }
    if (index.key_columns[0] !== SCOPE_COLUMN) {
      const cols = index.key_columns.join(', ');
      fail(
        'unique_index_not_scoped',
        `unique index ${index.index_name} (${cols}) does not begin with ${SCOPE_COLUMN}, so rows of different scopes could collide`,
        `recreate it as UNIQUE (${[SCOPE_COLUMN, ...index.key_columns.filter((c) => c !== SCOPE_COLUMN)].join(', ')})`,
      );
    }
  }
  const identity = indexes.some(
    (i) => i.key_columns.length === 2 && i.key_columns[0] === SCOPE_COLUMN && i.key_columns[1] === key,
  );
  if (!identity) {
    fail(
      'sync_key_identity',
      `must provide unique identity (${SCOPE_COLUMN}, ${key}): no unique index has exactly these columns in this order`,
      `add UNIQUE (${SCOPE_COLUMN}, ${key}) or make it the primary key`,
    );
  }

  return Object.freeze({
    schema: t.schema,
    table: t.table,
    qualifiedName: name,
    keyColumn: key,
    keyKind: keyType as SyncKeyKind,
    columns,
    byteaColumns: Object.freeze(
      columnRows.filter((c) => c.udt_name === 'bytea' && c.column_name !== key).map((c) => c.column_name),
    ),
  });
}
