import type { CatalogTable } from '../schema/table-catalog.js';

/** A staged push row loaded for commit, resolved against the table catalog. */
export interface StagedRow {
  /** 0-based upload position. */
  rowOrdinal: number;
  table: CatalogTable;
  keyBytes: Buffer;
  /** Wire form of the key (canonical UUID text or the text key). */
  keyString: string;
  opCode: 1 | 2 | 3;
  baseRowVersion: number;
  /** Sorted top-level column names of the staged payload; null for DELETE. */
  columns: string[] | null;
}
