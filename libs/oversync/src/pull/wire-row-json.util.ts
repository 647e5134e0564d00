import { canonicalJsonString } from '@oversync/protocol';
import type { CatalogTable, TableCatalog } from '../schema/table-catalog.js';

const GO_HTML_ESCAPES = /[<>&\u2028\u2029]/g;
const NEEDS_GO_ESCAPE = /[<>&\u2028\u2029]/;

/**
 * Escapes `<`, `>`, `&`, U+2028 and U+2029 as Go's JSON encoder does. Safe on any JSON text: those
 * characters can only occur inside strings, where `\uXXXX` means the same character.
 */
export function goEscapeJsonText(text: string): string {
  if (!NEEDS_GO_ESCAPE.test(text)) return text;
  return text.replace(GO_HTML_ESCAPES, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Pre-rendered JSON fragments of one registered table's wire rows. */
interface TableFragments {
  /** `{"schema":"s","table":"t","key":{"col":` */
  readonly prefix: string;
  readonly uuidKey: boolean;
}

const OPS = ['', 'INSERT', 'UPDATE', 'DELETE'] as const;

/**
 * Renders `BundleRow` / `SnapshotRow` JSON text straight from stored payload text, so serving a
 * page never parses and re-serialises payloads. Field order follows go-oversync's structs.
 */
export class WireRowJson {
  readonly #tables = new Map<number, TableFragments>();

  constructor(catalog: TableCatalog) {
    for (const table of catalog.tables) this.#tables.set(table.tableId, fragmentsOf(table));
  }

  /** Table ids whose sync key is a UUID (their key bytes render as dashed lowercase text). */
  static uuidTableIds(catalog: TableCatalog): number[] {
    return catalog.tables.filter((t) => t.keyKind === 'uuid').map((t) => t.tableId);
  }

  /**
   * One `BundleRow`: `payload` omitted for DELETE.
   * @param payload - canonical (already Go-escaped) payload text, or null for DELETE.
   */
  bundleRow(tableId: number, keyText: string, opCode: number, rowVersion: string, payload: string | null): string {
    const head = this.#head(tableId, keyText);
    const tail = payload === null || opCode === 3 ? '}' : `,"payload":${payload}}`;
    return `${head},"op":"${OPS[opCode] ?? 'UPDATE'}","row_version":${rowVersion}${tail}`;
  }

  /**
   * One `SnapshotRow` (no `op`; payload always present).
   * @param payload - PostgreSQL JSON text; escaped here the way Go's encoder would.
   */
  snapshotRow(tableId: number, keyText: string, rowVersion: string, payload: string): string {
    return `${this.#head(tableId, keyText)},"row_version":${rowVersion},"payload":${goEscapeJsonText(payload)}}`;
  }

  #head(tableId: number, keyText: string): string {
    const table = this.#tables.get(tableId);
    if (!table) throw new Error(`table_id ${tableId} is not in the sync table catalog`);
    return `${table.prefix}${table.uuidKey ? `"${keyText}"` : canonicalJsonString(keyText)}}`;
  }
}

function fragmentsOf(table: CatalogTable): TableFragments {
  return {
    prefix:
      `{"schema":${canonicalJsonString(table.schema)},"table":${canonicalJsonString(table.table)},` +
      `"key":{${canonicalJsonString(table.keyColumn)}:`,
    uuidKey: table.keyKind === 'uuid',
  };
}

