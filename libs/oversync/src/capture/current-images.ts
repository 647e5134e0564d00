import { sql, type Kysely } from 'kysely';
import type { TableCatalog } from '../schema/table-catalog.js';
import { quoteIdent } from '../schema/trigger.ddl.js';

/** A row whose after-image finalisation needs: its table and the string form of its key. */
export interface ImageRequest {
  tableId: number;
  keyString: string;
}

/**
 * Reads the current `row_to_json` image of each requested row of one scope. Called at the end of
 * the bundle transaction, when the row as it stands is the net after-image of every captured
 * change. One query per table; results come back in request order.
 * @throws Error when a captured row is missing, which would mean a write escaped capture.
 */
export async function loadCurrentImages(
  trx: Kysely<unknown>,
  catalog: TableCatalog,
  scopeId: string,
  requests: readonly ImageRequest[],
): Promise<string[]> {
  const out = new Array<string>(requests.length);
  const byTable = new Map<number, number[]>();
  requests.forEach((r, i) => {
    const list = byTable.get(r.tableId);
    if (list) list.push(i);
    else byTable.set(r.tableId, [i]);
  });
  for (const [tableId, indexes] of byTable) {
    const table = catalog.byId(tableId);
    const target = sql.raw(`${quoteIdent(table.schema)}.${quoteIdent(table.table)}`);
    const keyColumn = sql.raw(`t.${quoteIdent(table.keyColumn)}`);
    const keyType = sql.raw(table.keyKind === 'uuid' ? 'uuid[]' : 'text[]');
    const keys = indexes.map((i) => requests[i].keyString);
    const { rows } = await sql<{ ord: string; payload: string }>`
      SELECT k.ord, row_to_json(t)::text AS payload
        FROM unnest(${keys}::${keyType}) WITH ORDINALITY AS k(v, ord)
        JOIN ${target} t ON t._sync_scope_id = ${scopeId} AND ${keyColumn} = k.v`.execute(trx);
    if (rows.length !== keys.length) {
      throw new Error(
        `${keys.length - rows.length} captured row(s) of ${table.qualifiedName} are missing at finalisation; a write bypassed capture`,
      );
    }
    for (const r of rows) out[indexes[Number(r.ord) - 1]] = r.payload;
  }
  return out;
}
