import type { SyncKeyKind, ValidatedTable } from './table-validator.js';

/** One registered table as the engine sees it at run time. */
export interface CatalogTable extends ValidatedTable {
  /** 1..N in byte order of `schema.table`; stored in `sync.table_catalog`. */
  readonly tableId: number;
  /** 1 = uuid, 2 = text (`sync.table_catalog.sync_key_kind`). */
  readonly keyKindCode: 1 | 2;
}

function byteOrder(a: string, b: string): number {
  const ab = Buffer.from(a, 'utf8');
  const bb = Buffer.from(b, 'utf8');
  return Buffer.compare(ab, bb);
}

/** Frozen registry of the registered tables, by id and by `schema.table`. */
export class TableCatalog {
  readonly tables: readonly CatalogTable[];
  readonly #byId = new Map<number, CatalogTable>();
  readonly #byName = new Map<string, CatalogTable>();

  constructor(validated: readonly ValidatedTable[]) {
    const sorted = [...validated].sort((a, b) => byteOrder(a.qualifiedName, b.qualifiedName));
    this.tables = Object.freeze(
      sorted.map((t, i) =>
        Object.freeze({ ...t, tableId: i + 1, keyKindCode: t.keyKind === 'uuid' ? 1 : 2 }),
      ),
    );
    for (const t of this.tables) {
      this.#byId.set(t.tableId, t);
      this.#byName.set(t.qualifiedName, t);
    }
  }

  byId(tableId: number): CatalogTable {
    const table = this.#byId.get(tableId);
    if (!table) throw new Error(`table_id ${tableId} is not in the sync table catalog`);
    return table;
  }

  /** Looks up `schema.table` (already lower-cased). */
  byName(schema: string, table: string): CatalogTable | undefined {
    return this.#byName.get(`${schema}.${table}`);
  }

  /** Sorted `"schema.table"` names, as capabilities and status report them. */
  get qualifiedNames(): string[] {
    return this.tables.map((t) => t.qualifiedName);
  }
}

export type { SyncKeyKind };
