import { canonicalJsonString } from '@oversync/protocol';
import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { CatalogTable } from '../schema/table-catalog.js';
import { quoteIdent } from '../schema/trigger.ddl.js';
import { payloadSql, sqlLiteral } from './payload-sql.js';
import { readTableColumns } from './table-columns.js';

/** A table touched by the bundle and its current `attname:atttypid,…` signature. */
export interface TouchedTableShape {
  table: CatalogTable;
  signature: string;
}

/** Values the statement binds. */
export interface ImageBindings {
  scopeId: string;
  bundleSeq: number;
}

/** Parts of the finalisation statement; see {@link FinalizeStatementCache.effectsSql}. */
export interface FinalizeSql {
  /** `eff`: collapsed effects (table_id, key_text, op, n). */
  effects: RawBuilder<unknown>;
  /** `img` over `eff e`: n, table_id, op, key_text, key_bytes, payload. */
  images: RawBuilder<unknown>;
  /** Over an `img` row aliased `e`: the row's canonical hash object. */
  hashed: RawBuilder<unknown>;
}

// Where the scope id parameter goes in a cached lookup (NUL cannot occur in SQL text).
const SCOPE_MARK = '\u0000';

interface TableSql {
  signature: string;
  /** Payload read from the business row as it stands now, for key `e.key_text`; {@link SCOPE_MARK} marks the scope parameter. */
  lookup: string;
  /** True when that business row exists now, else NULL; {@link SCOPE_MARK} as in {@link TableSql.lookup}. */
  exists: string;
  keyBytes: string;
  keyJson: string;
  schemaTable: string;
}

// Effects leave in (table_id, key byte) order, which is the order of the primary-key probes into
// the business tables and of the row_state inserts: walking each index in order instead of at
// random saved about 8 % of a 100k-row bundle in a scope that already held many rows. COLLATE "C"
// compares bytes (and is cheap); for UUID keys the text order is the byte order.
const KEY_ORDER = `ORDER BY table_id, key_text COLLATE "C"`;

// Fast path: every key was captured once, so each stage row is one bundle row; n numbers them in
// capture order.
const EFFECTS_SINGLE = `
  SELECT table_id, key_text, op_code AS op, row_number() OVER (ORDER BY capture_ordinal) AS n
    FROM pg_temp.oversync_capture_stage
   ${KEY_ORDER}`;

// General path. A nested statement (a user's row trigger writing the same table) is captured
// before the statement that fired it, so stage order is not change order: a trigger re-inserting
// the row it deletes stages INSERT, DELETE. Counts are order-free: a key alternates between absent
// and present, so more INSERTs than DELETEs is a new row, more DELETEs a removed one, UPDATEs alone
// a changed one. Equal INSERTs and DELETEs is a row that exists again (UPDATE) or one that never
// existed outside the transaction (left out, whatever order its events were staged in: present at
// the end means present at the start, so absent at the end means absent at the start), so those
// keys alone probe the business row. A DELETE of such a row used to leave when a host's AFTER
// INSERT trigger deleted the row (its nested DELETE is staged first): a tombstone that made a
// device's offline row of that key conflict, and `serverWins` drop it. n numbers what remains by
// first event (min() of ordinal * 4 + op); OFFSET 0 keeps the WHERE from re-running the probe.
function effectsCollapsed(exists: RawBuilder<unknown>): RawBuilder<unknown> {
  return sql`
  SELECT table_id, key_text, op, row_number() OVER (ORDER BY f) AS n
    FROM (SELECT e.table_id, e.key_text, e.f,
                 (CASE WHEN e.ins > e.del THEN 1 WHEN e.ins < e.del THEN 3 WHEN e.ins = 0 THEN 2
                       WHEN CASE e.table_id ${exists} END THEN 2 END)::smallint AS op
            FROM (SELECT table_id, key_text, min(capture_ordinal * 4 + op_code) AS f,
                         count(*) FILTER (WHERE op_code = 1) AS ins, count(*) FILTER (WHERE op_code = 3) AS del
                    FROM pg_temp.oversync_capture_stage
                   GROUP BY table_id, key_text) AS e
          OFFSET 0) AS ev
   WHERE op IS NOT NULL
   ${sql.raw(KEY_ORDER)}`;
}

/**
 * Builds the `eff` and `img` parts of the finalisation statement: the collapsed effects (table_id,
 * key_text, op, n) and, per effect, key bytes and canonical payload; and the expression of the
 * row's canonical hash object `{"key","op","payload","row_ordinal","row_version","schema","table"}`
 * (sorted keys). Payloads are read from the business row as it stands at the end of the transaction (every change to it was
 * captured, so that is its net after-image) with one primary-key probe per row, and rendered by
 * SQL generated from the table's columns. That SQL is cached per column signature, so a column
 * added or retyped after bootstrap is picked up at the next bundle.
 */
export class FinalizeStatementCache {
  readonly #tables = new Map<number, TableSql>();

  async effectsSql(
    trx: Kysely<unknown>,
    touched: readonly TouchedTableShape[],
    repeated: boolean,
    bindings: ImageBindings,
  ): Promise<FinalizeSql> {
    const tables: TableSql[] = [];
    for (const { table, signature } of touched) {
      let cached = this.#tables.get(table.tableId);
      if (!cached || cached.signature !== signature) {
        const columns = await readTableColumns(trx, table.schema, table.table);
        cached = { signature, ...tableSql(table, payloadSql(columns, 't', table.qualifiedName)) };
        this.#tables.set(table.tableId, cached);
      }
      tables.push(cached);
    }
    const ids = touched.map((t) => t.table.tableId);
    const perTable = (pick: (t: TableSql) => string): string =>
      `CASE e.table_id ${tables.map((t, i) => `WHEN ${ids[i]} THEN ${pick(t)}`).join(' ')} END`;
    const perTableBound = (pick: (t: TableSql) => string): RawBuilder<unknown> =>
      sql.join(
        tables.map((t, i) => {
          const [head, tail] = pick(t).split(SCOPE_MARK);
          return sql`WHEN ${sql.raw(String(ids[i]))} THEN (${sql.raw(head)}${bindings.scopeId}::text${sql.raw(tail)})`;
        }),
        sql.raw(' '),
      );
    const lookup = perTableBound((t) => t.lookup);
    // The hash object is not materialised with the image: it repeats the payload, and building it
    // inside the digest aggregate (`hashed`, evaluated there) saves a copy of every payload.
    const images = sql`
      SELECT e.n, e.table_id, e.op, e.key_text, ${sql.raw(perTable((t) => t.keyBytes))} AS key_bytes, p.payload
        FROM eff e
        -- OFFSET 0 keeps the subquery from being flattened, which would repeat the probe for
        -- every reference to p.payload.
        CROSS JOIN LATERAL (SELECT CASE WHEN e.op <> 3 THEN CASE e.table_id ${lookup} END END AS payload OFFSET 0) AS p`;
    const hashed = sql.raw(`pg_catalog.concat(${perTable((t) => t.keyJson)}, ',"op":"',
                    CASE e.op WHEN 1 THEN 'INSERT' WHEN 2 THEN 'UPDATE' ELSE 'DELETE' END,
                    '","payload":', COALESCE(e.payload, 'null'), ',"row_ordinal":', e.n - 1,
                    ${sqlLiteral(`,"row_version":${bindings.bundleSeq},`)},
                    ${perTable((t) => t.schemaTable)})`);
    const effects = repeated ? effectsCollapsed(perTableBound((t) => t.exists)) : sql.raw(EFFECTS_SINGLE);
    return { effects, images, hashed };
  }
}

function tableSql(table: CatalogTable, payload: string): Omit<TableSql, 'signature'> {
  const target = `${quoteIdent(table.schema)}.${quoteIdent(table.table)}`;
  const keyRef = `t.${quoteIdent(table.keyColumn)}`;
  const uuidKey = table.keyKind === 'uuid';
  const keyMatch = uuidKey ? `${keyRef} = e.key_text::uuid` : `${keyRef} = e.key_text`;
  const keyPrefix = sqlLiteral(`{"key":{${canonicalJsonString(table.keyColumn)}:`);
  const row = `FROM ${target} t WHERE ${keyMatch} AND t._sync_scope_id = ${SCOPE_MARK}`;
  return {
    lookup: `SELECT ${payload} ${row}`,
    // Not EXISTS: the planner may turn that into a hashed subplan reading every row of the scope.
    exists: `SELECT true ${row}`,
    keyBytes: uuidKey ? `uuid_send(e.key_text::uuid)` : `convert_to(e.key_text, 'UTF8')`,
    keyJson: `pg_catalog.concat(${keyPrefix}, ${uuidKey ? `'"', e.key_text, '"'` : `sync.go_json_string(e.key_text)`}, '}')`,
    schemaTable: sqlLiteral(
      `"schema":${canonicalJsonString(table.schema)},"table":${canonicalJsonString(table.table)}}`,
    ),
  };
}
