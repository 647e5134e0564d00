import { sql, type Kysely } from 'kysely';

import { typeChainSql } from '../capture/table-columns.js';

/** One column of a registered table, domains resolved. */
export interface ColumnRow {
  schema_name: string;
  table_name: string;
  column_name: string;
  udt_name: string;
  not_null: boolean;
  /** Name of the column's collation when it is nondeterministic (null otherwise). */
  nondeterministic_collation: string | null;
}

/** Where a registered table sits in a partition or inheritance hierarchy. */
export interface HierarchyRow {
  schema_name: string;
  table_name: string;
  /** The partitioned table or inheritance parent this table belongs to, if any. */
  parent_name: string | null;
  is_partition: boolean;
  /** Inheritance (not partition) children, comma-separated, if any. */
  inheritance_children: string | null;
}

/** One unique index of a registered table. */
export interface UniqueIndexRow {
  schema_name: string;
  table_name: string;
  index_name: string;
  partial_or_expression: boolean;
  key_columns: string[];
  /** Nondeterministic collations the index declares on its key columns, comma-separated, if any. */
  nondeterministic_collations: string | null;
}

/** The catalog facts the table rules check, by `schema.table`. */
export interface TableShapes {
  columns: Map<string, ColumnRow[]>;
  indexes: Map<string, UniqueIndexRow[]>;
  hierarchy: Map<string, HierarchyRow[]>;
}

/**
 * Reads columns, unique indexes and hierarchy of the given tables in three catalog queries (run
 * concurrently), for {@link validateRegisteredTables}.
 */
export async function readTableShapes(
  db: Kysely<unknown>,
  schemas: readonly string[],
  names: readonly string[],
): Promise<TableShapes> {
  // pg_catalog rather than information_schema: no privilege filtering and no view overhead, and
  // domains resolve to their base type at any depth (information_schema.columns.udt_name stops after
  // one level, so a domain over a domain over bytea would not be seen as bytea). A NOT NULL on any
  // domain of the chain makes the column NOT NULL.
  const [columnRows, indexRows, hierarchyRows] = await Promise.all([
    sql<ColumnRow>`
      select n.nspname as schema_name, c.relname as table_name, a.attname as column_name,
             lower(ty.base_type) as udt_name, (a.attnotnull or ty.domain_not_null) as not_null,
             case when coll.collisdeterministic then null
                  else cn.nspname || '.' || coll.collname end as nondeterministic_collation
      from unnest(${schemas}::text[], ${names}::text[]) as r(schema_name, table_name)
      join pg_catalog.pg_namespace n on n.nspname = r.schema_name
      join pg_catalog.pg_class c on c.relnamespace = n.oid and c.relname = r.table_name and c.relkind in ('r', 'p')
      join pg_catalog.pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
      cross join lateral (
        select max(ch.typname) filter (where ch.typtype <> 'd') as base_type,
               coalesce(bool_or(ch.typnotnull), false) as domain_not_null
        from ${typeChainSql(sql`a.atttypid`)} ch
      ) ty
      left join pg_catalog.pg_collation coll on coll.oid = a.attcollation
      left join pg_catalog.pg_namespace cn on cn.oid = coll.collnamespace
      order by n.nspname, c.relname, a.attnum`.execute(db),
    // Only key attributes (indnkeyatts) count: INCLUDE columns do not take part in uniqueness.
    sql<UniqueIndexRow>`
      select n.nspname as schema_name, c.relname as table_name, ic.relname as index_name,
             (i.indpred is not null or i.indexprs is not null) as partial_or_expression,
             array(
               select coalesce(a.attname::text, '')
               from unnest(i.indkey::int2[]) with ordinality as k(attnum, ord)
               left join pg_catalog.pg_attribute a on a.attrelid = c.oid and a.attnum = k.attnum
               where k.ord <= i.indnkeyatts
               order by k.ord
             )::text[] as key_columns,
             -- An index may declare its own COLLATE, which decides its notion of equality.
             (select string_agg(cn.nspname || '.' || coll.collname, ', ' order by k.ord)
                from unnest(i.indcollation::oid[]) with ordinality as k(coll_oid, ord)
                join pg_catalog.pg_collation coll on coll.oid = k.coll_oid
                join pg_catalog.pg_namespace cn on cn.oid = coll.collnamespace
               where k.ord <= i.indnkeyatts and not coll.collisdeterministic) as nondeterministic_collations
      from unnest(${schemas}::text[], ${names}::text[]) as r(schema_name, table_name)
      join pg_catalog.pg_namespace n on n.nspname = r.schema_name
      join pg_catalog.pg_class c on c.relnamespace = n.oid and c.relname = r.table_name and c.relkind in ('r', 'p')
      join pg_catalog.pg_index i on i.indrelid = c.oid and i.indisunique
      join pg_catalog.pg_class ic on ic.oid = i.indexrelid
      order by n.nspname, c.relname, ic.relname`.execute(db),
    // pg_inherits holds both partitions (of a partitioned parent) and inheritance children.
    sql<HierarchyRow>`
      select n.nspname as schema_name, c.relname as table_name, c.relispartition as is_partition,
             (select pn.nspname || '.' || p.relname
                from pg_catalog.pg_inherits i
                join pg_catalog.pg_class p on p.oid = i.inhparent
                join pg_catalog.pg_namespace pn on pn.oid = p.relnamespace
               where i.inhrelid = c.oid
               order by i.inhseqno limit 1) as parent_name,
             (select string_agg(kn.nspname || '.' || k.relname, ', ' order by kn.nspname, k.relname)
                from pg_catalog.pg_inherits i
                join pg_catalog.pg_class k on k.oid = i.inhrelid
                join pg_catalog.pg_namespace kn on kn.oid = k.relnamespace
               where i.inhparent = c.oid and c.relkind = 'r') as inheritance_children
      from unnest(${schemas}::text[], ${names}::text[]) as r(schema_name, table_name)
      join pg_catalog.pg_namespace n on n.nspname = r.schema_name
      join pg_catalog.pg_class c on c.relnamespace = n.oid and c.relname = r.table_name and c.relkind in ('r', 'p')`.execute(
      db,
    ),
  ]);

  return {
    columns: groupBy(columnRows.rows),
    indexes: groupBy(indexRows.rows),
    hierarchy: groupBy(hierarchyRows.rows),
  };
}

function groupBy<T extends { schema_name: string; table_name: string }>(
  rows: readonly T[],
): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const row of rows) {
    const qualified = `${row.schema_name}.${row.table_name}`;
    const group = groups.get(qualified);
    if (group) group.push(row);
    else groups.set(qualified, [row]);
  }
  return groups;
}
