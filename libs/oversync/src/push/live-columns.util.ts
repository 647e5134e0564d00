import { sql, type Kysely, type RawBuilder } from 'kysely';
import { readRegisteredColumns } from '../capture/table-columns.js';
import type { LiveColumns, TableColumnSets } from './push-chunk-validation.util.js';

/**
 * The registered tables' columns as they stand now, so push chunks accept a column added after
 * start-up — as capture and snapshots already render it — and refuse a dropped one. bytea columns,
 * including columns of a domain (at any depth) over bytea, travel as base64.
 */
export async function loadLiveColumns(db: Kysely<unknown>): Promise<LiveColumns> {
  const live = new Map<number, TableColumnSets>();
  for (const [tableId, columns] of await readRegisteredColumns(db)) {
    live.set(tableId, {
      names: new Set(columns.map((c) => c.name)),
      bytea: columns.filter((c) => c.baseType === 'bytea').map((c) => c.name),
      computed: new Set(columns.filter((c) => c.serverComputed).map((c) => c.name)),
    });
  }
  return live;
}

/**
 * A fingerprint of every registered table's live columns: relation oid, then each column's name,
 * type, and generated/identity kind, in column order. Everything push validation reads from the
 * catalog changes it (a domain cannot change its base type, so the type oid covers bytea-ness).
 * An expression, to be embedded in a statement.
 */
export function liveColumnsSignatureSql(): RawBuilder<string> {
  return sql<string>`(
    SELECT COALESCE(string_agg(r.oid::text || ':' || a.attname || ':' || a.atttypid::text || ':' || a.attgenerated::text || a.attidentity::text,
                               ',' ORDER BY c.table_id, a.attnum), '')
      FROM sync.table_catalog c
      JOIN pg_namespace n ON n.nspname = c.schema_name
      JOIN pg_class r ON r.relnamespace = n.oid AND r.relname = c.table_name
      JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped)`;
}

/** Live columns and the {@link liveColumnsSignatureSql} they were read at. */
export interface LiveColumnsSnapshot {
  columns: LiveColumns;
  signature: string;
  /** False when read for this request; true when reused from an earlier one. */
  reused: boolean;
}

/**
 * Keeps the live columns between push chunks. Reading them took a catalog query and a round trip
 * per chunk; instead each chunk validates against the last read and its staging statement checks
 * the signature in the same statement that stores the rows, so a column added or dropped since is
 * noticed before anything is stored (the chunk is then validated again against a fresh read).
 * One per application instance: no state is shared between Nest apps in one process.
 */
export class LiveColumnsCache {
  #last: { columns: LiveColumns; signature: string } | null = null;

  /** The last read columns, or a fresh read when there is none. */
  async current(db: Kysely<unknown>): Promise<LiveColumnsSnapshot> {
    if (this.#last) return { ...this.#last, reused: true };
    return this.refresh(db);
  }

  /**
   * Reads the signature, then the columns. In this order a change committed between the two
   * leaves columns newer than their signature, which the next staging statement notices; the
   * other order could pair stale columns with a current signature for good.
   */
  async refresh(db: Kysely<unknown>): Promise<LiveColumnsSnapshot> {
    const { rows } = await sql<{
      signature: string;
    }>`SELECT ${liveColumnsSignatureSql()} AS signature`.execute(db);
    const columns = await loadLiveColumns(db);
    this.#last = { columns, signature: rows[0]?.signature ?? '' };
    return { ...this.#last, reused: false };
  }
}
