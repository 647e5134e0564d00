import { InvalidConfigError } from '../errors/lifecycle.errors.js';
import { type SqlJsAdapter } from '../db/sql-js.adapter.js';

/** How a sync key is stored locally. */
export type KeyKind = 'text' | 'uuid';

/** One column of a managed table. */
export interface ColumnSpec {
  /** Name as declared in SQLite (used, quoted, in SQL). */
  readonly name: string;
  /** Lowercased name (used in JSON payloads and on the wire). */
  readonly wireName: string;
  /** Declared type contains `blob`. */
  readonly isBlob: boolean;
  /** A BLOB that holds a UUID: the sync key, or a foreign key to a UUID-keyed managed table. */
  readonly isUuid: boolean;
  /**
   * Declared type contains `json` (e.g. `JSON`, `JSONB`): the column holds JSON text locally and
   * travels as embedded JSON, so it round-trips with PostgreSQL `json`/`jsonb` columns.
   */
  readonly isJson: boolean;
}

/** A validated managed table. */
export interface TableSpec {
  /** Lowercased table name (also the wire `table`). */
  readonly name: string;
  /** The table's name as SQLite knows it (used, quoted, in SQL). */
  readonly sqlName: string;
  readonly keyColumn: ColumnSpec;
  readonly keyKind: KeyKind;
  readonly columns: readonly ColumnSpec[];
}

/** A table as configured by the app. */
export interface SyncTableConfig {
  /** Local (and server) table name, without schema qualifier. */
  table: string;
  /** The single sync key column: the table's `PRIMARY KEY`, declared `TEXT` or `BLOB` (UUID). */
  syncKeyColumn: string;
}

interface TableInfoRow extends Record<string, string | number | null> {
  name: string;
  type: string;
  pk: number;
}

interface ForeignKeyRow extends Record<string, string | number | null> {
  id: number;
  seq: number;
  table: string;
  from: string;
  to: string | null;
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function introspect(adapter: SqlJsAdapter, config: SyncTableConfig) {
  const name = config.table.trim().toLowerCase();
  if (!name) throw new InvalidConfigError('a table name is empty');
  if (name.includes('.'))
    throw new InvalidConfigError(`table "${config.table}" must not include a schema qualifier`);
  const master = adapter.get<{ name: string }>(
    "SELECT name FROM sqlite_master WHERE type = 'table' AND lower(name) = ?",
    [name],
  );
  if (!master) throw new InvalidConfigError(`table "${name}" does not exist; create it before open()`);
  const info = adapter.all<TableInfoRow>(`PRAGMA table_info(${quoteIdent(master.name)})`);
  const fks = adapter.all<ForeignKeyRow>(`PRAGMA foreign_key_list(${quoteIdent(master.name)})`);
  return { name, sqlName: master.name, info, fks };
}

/**
 * Validates the configured tables against the live SQLite schema and returns them in apply order
 * (parents before children).
 *
 * @throws InvalidConfigError for unknown tables, bad or non-primary keys, INTEGER keys, schema
 * qualifiers, duplicates, composite foreign keys and foreign keys to unmanaged tables.
 */
export function loadTableSpecs(adapter: SqlJsAdapter, configs: readonly SyncTableConfig[]): TableSpec[] {
  if (configs.length === 0) throw new InvalidConfigError('`tables` must list at least one table');
  const raw = configs.map((config) => ({ config, ...introspect(adapter, config) }));
  const names = new Set<string>();
  for (const { name } of raw) {
    if (names.has(name)) throw new InvalidConfigError(`table "${name}" is listed twice`);
    names.add(name);
  }
  const keyKinds = new Map<string, { kind: KeyKind; key: string }>();
  for (const { config, name, info } of raw) {
    const keyName = config.syncKeyColumn?.trim().toLowerCase();
    if (!keyName) throw new InvalidConfigError(`table "${name}" has no syncKeyColumn`);
    const column = info.find((c) => c.name.toLowerCase() === keyName);
    if (!column) throw new InvalidConfigError(`sync key column "${name}.${keyName}" does not exist`);
    const pkColumns = info.filter((c) => c.pk > 0);
    if (column.pk === 0 || pkColumns.length !== 1) {
      throw new InvalidConfigError(
        `sync key column "${name}.${keyName}" must be the table's single PRIMARY KEY`,
      );
    }
    const type = column.type.toLowerCase();
    const kind: KeyKind | undefined = type.includes('blob')
      ? 'uuid'
      : type.includes('text')
        ? 'text'
        : undefined;
    if (!kind) {
      throw new InvalidConfigError(
        `table "${name}" key "${keyName}" is ${column.type || 'untyped'}; oversync supports only TEXT keys and UUID-backed BLOB keys`,
      );
    }
    keyKinds.set(name, { kind, key: keyName });
  }
  const specs: TableSpec[] = [];
  const edges = new Map<string, Set<string>>();
  for (const { name, sqlName, info, fks } of raw) {
    const byId = new Map<number, ForeignKeyRow[]>();
    for (const fk of fks) byId.set(fk.id, [...(byId.get(fk.id) ?? []), fk]);
    const uuidFks = new Set<string>();
    const parents = new Set<string>();
    for (const group of byId.values()) {
      if (group.length > 1)
        throw new InvalidConfigError(`table "${name}" has unsupported composite foreign keys`);
      const fk = group[0];
      const target = fk.table.toLowerCase();
      const from = fk.from.toLowerCase();
      const parent = keyKinds.get(target);
      if (!parent) {
        throw new InvalidConfigError(
          `tables are not FK-closed: ${name}.${from} -> ${target}.${(fk.to ?? '').toLowerCase() || '?'}; add "${target}" to tables`,
        );
      }
      if (parent.kind === 'uuid') uuidFks.add(from);
      if (target !== name) parents.add(target);
    }
    edges.set(name, parents);
    const { kind, key } = keyKinds.get(name)!;
    const columns = info.map<ColumnSpec>((c) => {
      const wireName = c.name.toLowerCase();
      const type = c.type.toLowerCase();
      const isBlob = type.includes('blob');
      return {
        name: c.name,
        wireName,
        isBlob,
        isUuid: isBlob && (wireName === key || uuidFks.has(wireName)),
        isJson: !isBlob && type.includes('json'),
      };
    });
    specs.push({
      name,
      sqlName,
      keyKind: kind,
      keyColumn: columns.find((c) => c.wireName === key)!,
      columns,
    });
  }
  return orderParentsFirst(specs, edges);
}

/** Kahn's algorithm, ties broken by config order; tables left in a cycle keep config order. */
function orderParentsFirst(specs: TableSpec[], edges: Map<string, Set<string>>): TableSpec[] {
  const remaining = new Map(specs.map((s) => [s.name, new Set(edges.get(s.name))]));
  const ordered: TableSpec[] = [];
  let progressed = true;
  while (remaining.size > 0 && progressed) {
    progressed = false;
    for (const spec of specs) {
      const parents = remaining.get(spec.name);
      if (!parents || [...parents].some((p) => remaining.has(p))) continue;
      ordered.push(spec);
      remaining.delete(spec.name);
      progressed = true;
      break;
    }
  }
  for (const spec of specs) if (remaining.has(spec.name)) ordered.push(spec);
  return ordered;
}
