import type { Kysely } from 'kysely';
import { readRegisteredColumns } from '../capture/table-columns.js';
import type { LiveColumns, TableColumnSets } from './push-chunk-validation.util.js';

/** Live columns and the catalog signature they were read at (`registeredColumnsSignatureSql`). */
export interface LiveColumnsSnapshot {
  columns: LiveColumns;
  signature: string;
  /** False when read for this request; true when reused from an earlier one. */
  reused: boolean;
}

/**
 * The registered tables' columns as they stand now, so push chunks accept a column added after
 * start-up — as capture and snapshots already render it — and refuse a dropped one. bytea columns,
 * including columns of a domain (at any depth) over bytea, travel as base64.
 */
async function loadLiveColumns(db: Kysely<unknown>): Promise<Omit<LiveColumnsSnapshot, 'reused'>> {
  const { byTable, signature } = await readRegisteredColumns(db);
  const columns = new Map<number, TableColumnSets>();
  for (const [tableId, described] of byTable) {
    columns.set(tableId, {
      names: new Set(described.map((c) => c.name)),
      bytea: described.filter((c) => c.baseType === 'bytea').map((c) => c.name),
      computed: new Set(described.filter((c) => c.serverComputed).map((c) => c.name)),
    });
  }
  return { columns, signature };
}

/**
 * Keeps the live columns between push chunks. Reading them took a catalog query and a round trip
 * per chunk; instead each chunk validates against the last read and its staging statement checks
 * the signature in the same statement that stores the rows, so a column added, dropped or retyped
 * since is noticed before anything is stored (the chunk is then validated again against a fresh
 * read). One per application instance: no state is shared between Nest apps in one process.
 */
export class LiveColumnsCache {
  #last: Omit<LiveColumnsSnapshot, 'reused'> | null = null;

  /** The last read columns, or a fresh read when there is none. */
  async current(db: Kysely<unknown>): Promise<LiveColumnsSnapshot> {
    if (this.#last) return { ...this.#last, reused: true };
    return this.refresh(db);
  }

  /** Reads the columns and their signature again (one statement, so they always agree). */
  async refresh(db: Kysely<unknown>): Promise<LiveColumnsSnapshot> {
    this.#last = await loadLiveColumns(db);
    return { ...this.#last, reused: false };
  }
}
