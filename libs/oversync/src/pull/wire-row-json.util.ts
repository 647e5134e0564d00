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

/**
 * Renders wire rows as JSON text straight from stored payload text, so serving a page never
 * parses and re-serialises payloads: `BundleRow`s are rendered inside PostgreSQL from
 * {@link WireRowJson.sqlFragments}. Field order follows go-oversync's structs.
 */
export class WireRowJson {
  readonly #tables = new Map<number, TableFragments>();

  constructor(catalog: TableCatalog) {
    for (const table of catalog.tables) this.#tables.set(table.tableId, fragmentsOf(table));
  }

  /**
   * The per-table fragments as SQL array parameters indexed by `table_id` (ids are 1…N), for
   * rendering rows inside PostgreSQL: `prefixes[id]` opens the row up to the key value,
   * `uuidKeys[id]` tells how to render the key bytes.
   */
  sqlFragments(): { prefixes: (string | null)[]; uuidKeys: boolean[] } {
    const size = Math.max(0, ...this.#tables.keys());
    // A gap stays NULL, so a row of an unknown table renders as NULL rather than broken JSON.
    const prefixes: (string | null)[] = [];
    const uuidKeys: boolean[] = [];
    for (let id = 1; id <= size; id++) {
      const table = this.#tables.get(id);
      prefixes.push(table?.prefix ?? null);
      uuidKeys.push(table?.uuidKey ?? false);
    }
    return { prefixes, uuidKeys };
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
