import { canonicalJsonString } from '@oversync/protocol';
import { sql, type RawBuilder } from 'kysely';
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

/**
 * The SQL expression that renders one `sync.bundle_rows` row (aliased `r`) as its `BundleRow` JSON
 * text around the stored canonical payload (`row_version` is the row's `bundle_seq`); NULL for a
 * row of a table outside the catalog. Text keys may still hold `<`, `>` or `&`: run
 * {@link goEscapeJsonText} over the assembled answer.
 */
export function bundleRowJsonSql(rows: WireRowJson): RawBuilder<string | null> {
  const { prefixes, uuidKeys } = rows.sqlFragments();
  return sql<string | null>`(${prefixes}::text[])[r.table_id]
    || CASE WHEN (${uuidKeys}::boolean[])[r.table_id]
            THEN '"' || encode(r.key_bytes, 'hex')::uuid::text || '"'
            ELSE to_json(convert_from(r.key_bytes, 'UTF8'))::text END
    || CASE r.op_code WHEN 1 THEN '},"op":"INSERT","row_version":'
                      WHEN 2 THEN '},"op":"UPDATE","row_version":'
                      ELSE '},"op":"DELETE","row_version":' END
    || r.bundle_seq::text
    || CASE WHEN r.op_code = 3 OR r.payload_wire IS NULL THEN '}'
            ELSE ',"payload":' || r.payload_wire::text || '}' END`;
}

function fragmentsOf(table: CatalogTable): TableFragments {
  return {
    prefix:
      `{"schema":${canonicalJsonString(table.schema)},"table":${canonicalJsonString(table.table)},` +
      `"key":{${canonicalJsonString(table.keyColumn)}:`,
    uuidKey: table.keyKind === 'uuid',
  };
}
