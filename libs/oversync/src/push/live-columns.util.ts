import type { Kysely } from 'kysely';
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
