import {
  canonicalJson,
  isCanonicalUuid,
  isStandardBase64,
  NonFiniteNumberError,
  type JsonObject,
} from '@oversync/protocol';
import { PushChunkInvalidError } from '../errors/index.js';
import type { PushChunkDto, PushRowDto } from '../http/dto/push-chunk.dto.js';
import type { CatalogTable, TableCatalog } from '../schema/table-catalog.js';

/** `sync.push_session_rows.op_code` / `bundle_rows.op_code`. */
export const OP_CODES = { INSERT: 1, UPDATE: 2, DELETE: 3 } as const;

/** One validated row, ready to be staged (payload as JSON text, bytea already in `\x` hex form). */
export interface StagedRowInput {
  tableId: number;
  /** The key's bytes as lowercase hex (UUID bytes, or the text key's UTF-8). */
  keyHex: string;
  opCode: 1 | 2 | 3;
  baseRowVersion: number;
  /** JSON text of the payload (canonical unless plain scalars, see {@link applyJson}); null for DELETE. */
  payloadApply: string | null;
  /** The payload's column names (validated `[a-z0-9_]` identifiers), sorted, comma-joined; null for DELETE. */
  columnList: string | null;
}

/** A registered table's columns as they stand now: names, and those that travel as base64. */
export interface TableColumnSets {
  names: ReadonlySet<string> | ReadonlyMap<string, string>;
  bytea: readonly string[];
  /** Columns PostgreSQL computes (generated, identity ALWAYS): accepted in payloads, never written. */
  computed?: ReadonlySet<string>;
}

/** Live column sets by `table_id` (a table missing here falls back to the start-up catalog). */
export type LiveColumns = ReadonlyMap<number, TableColumnSets>;

/** A chunk that passed every stateless check. */
export interface ValidatedChunk {
  startRowOrdinal: number;
  rows: StagedRowInput[];
}

const IDENTIFIER = /^[a-z0-9_]+$/;
/** `\u0000` in JSON text, not preceded by an escaping backslash. */
const ESCAPED_NUL = /(?:^|[^\\])(?:\\\\)*\\u0000/;
const MIXED_CASE_IDENTIFIER = /^[A-Za-z0-9_]+$/;
/**
 * Deepest nesting of a json/jsonb value an upload accepts: a bound on the work of validating and
 * staging it. The commit canonicalises nested JSON in PL/pgSQL, one stack frame per level, which
 * PostgreSQL's default 2 MB `max_stack_depth` ends after about 650 levels, and answers a deeper
 * value `400 push_commit_invalid`. That is the limit a server write meets too, so a device can push
 * back any value the server served (this check once stopped at 500, refusing values the server
 * had written and served).
 */
export const MAX_VALUE_NESTING = 1000;
type RowOpName = keyof typeof OP_CODES;
/** Ops already in canonical spelling skip trimming and upper-casing. */
const OP_SPELLINGS: ReadonlySet<unknown> = new Set<RowOpName>(['INSERT', 'UPDATE', 'DELETE']);
const SCOPE_COLUMN = '_sync_scope_id';

function invalid(message: string): PushChunkInvalidError {
  return new PushChunkInvalidError(message);
}

/**
 * The stateless chunk checks of go-oversync, in its order (they run before the session is looked
 * up, so a bad row against an unknown session is 400, not 404): start ordinal, row count, then
 * each row. Returns the rows normalised for staging.
 *
 * Unlike go-oversync, payload column names are validated against the table here: Go lets an
 * unknown column fail later inside `jsonb_populate_record` (HTTP 500 at commit) and silently
 * drops mixed-case keys; we lower-case keys and reject unknown columns with `push_chunk_invalid`.
 *
 * @throws PushChunkInvalidError with the first failing check.
 */
export function validatePushChunk(
  body: PushChunkDto,
  catalog: TableCatalog,
  maxRowsPerChunk: number,
  liveColumns: LiveColumns,
): ValidatedChunk {
  const startRowOrdinal = body.start_row_ordinal ?? 0;
  const rows = body.rows ?? [];
  if (startRowOrdinal < 0) throw invalid('start_row_ordinal must be >= 0');
  if (rows.length === 0) throw invalid('rows must not be empty');
  if (rows.length > maxRowsPerChunk) {
    throw invalid(`rows length ${rows.length} exceeds max_rows_per_push_chunk ${maxRowsPerChunk}`);
  }
  const state: ChunkState = { catalog, liveColumns, seen: new Map(), tables: new Map(), shape: null };
  return { startRowOrdinal, rows: rows.map((row) => validateRow(row, state)) };
}

/**
 * What validating one chunk remembers between its rows. A chunk's rows mostly name one table and
 * carry payloads of one shape, and profiles of 1,000-row chunks showed the per-row work of
 * re-deriving both (identity strings, sorted column lists) costing more than canonicalising the
 * payloads.
 */
interface ChunkState {
  catalog: TableCatalog;
  liveColumns: LiveColumns;
  /** Keys seen so far, per table. */
  seen: Map<number, Set<string>>;
  /** Tables by their spelling in the chunk. */
  tables: Map<string, CatalogTable>;
  /** The last payload shape: its names in payload order and its staged column list. */
  shape: { tableId: number; names: string[]; columnList: string } | null;
}

/**
 * The registered table a row names, checked once per distinct spelling in a chunk (a chunk's rows
 * mostly name one table, and trimming, lower-casing and checking 1,000 identical names showed up
 * in profiles).
 */
function tableOf(row: PushRowDto, catalog: TableCatalog, tables: Map<string, CatalogTable>): CatalogTable {
  const spelled = `${String(row.schema ?? '')}\u0000${String(row.table ?? '')}`;
  const known = tables.get(spelled);
  if (known) return known;
  const schema = (row.schema ?? '').trim().toLowerCase() || 'public';
  const tableName = (row.table ?? '').trim().toLowerCase();
  if (!IDENTIFIER.test(schema)) throw invalid(`invalid schema name "${schema}"`);
  if (!IDENTIFIER.test(tableName)) throw invalid(`invalid table name "${tableName}"`);
  const table = catalog.byName(schema, tableName);
  if (!table) throw invalid(`table ${schema}.${tableName} is not registered`);
  tables.set(spelled, table);
  return table;
}

function validateRow(row: PushRowDto, state: ChunkState): StagedRowInput {
  const table = tableOf(row, state.catalog, state.tables);
  const op = OP_SPELLINGS.has(row.op) ? (row.op as RowOpName) : (row.op ?? '').trim().toUpperCase();
  if (op !== 'INSERT' && op !== 'UPDATE' && op !== 'DELETE') throw invalid(`invalid op "${op}"`);

  const q = table.qualifiedName;
  const column = table.keyColumn;
  const key = row.key ?? {};
  if (!Object.hasOwn(key, column)) throw invalid(`row key for ${q} must include "${column}"`);
  const keyString = key[column];
  if (typeof keyString !== 'string') throw invalid(`row key ${q}.${column} must be a string`);
  if (keyString.includes('\u0000')) {
    throw invalid(`row key ${q}.${column} holds the character U+0000, which PostgreSQL text cannot store`);
  }
  if (table.keyKind === 'uuid' && !isCanonicalUuid(keyString)) {
    throw invalid(`row key ${q}.${column} must use canonical dashed lowercase UUID text, got "${keyString}"`);
  }
  let seen = state.seen.get(table.tableId);
  if (!seen) state.seen.set(table.tableId, (seen = new Set()));
  if (seen.has(keyString)) throw invalid(`duplicate target row in push chunk: ${q} ${keyString}`);
  seen.add(keyString);

  // A canonical UUID's text is its bytes' hex with dashes.
  const keyHex =
    table.keyKind === 'uuid' ? uuidHex(keyString) : Buffer.from(keyString, 'utf8').toString('hex');
  const baseRowVersion = row.base_row_version ?? 0;
  // The DTO already checked the type; this guards the staging document against anything else.
  if (!Number.isSafeInteger(baseRowVersion)) throw invalid(`base_row_version for ${q} must be an integer`);
  const opCode = OP_CODES[op];
  if (op === 'DELETE') {
    // An explicit `"payload": null` is a payload too.
    if (row.payload !== undefined) throw invalid(`DELETE for ${q} must not include payload`);
    return { tableId: table.tableId, keyHex, opCode, baseRowVersion, payloadApply: null, columnList: null };
  }
  if (row.payload === undefined) throw invalid(`${op} for ${q} requires payload`);
  const columns = state.liveColumns.get(table.tableId) ?? { names: table.columns, bytea: table.byteaColumns };
  const payload = normalizePayload(row.payload, table, columns, keyString);
  let flat = true;
  for (const name in payload) {
    const value = payload[name];
    if (typeof value === 'object' && value !== null) {
      flat = false;
      if (nestingExceeds(value, MAX_VALUE_NESTING)) {
        throw invalid(
          `payload value ${q}.${name} of row "${keyString}" is nested deeper than ${MAX_VALUE_NESTING} levels, which the server cannot canonicalise`,
        );
      }
    } else if (typeof value === 'number' && !Number.isFinite(value)) {
      // JSON.stringify would write null; canonicalisation refuses it below.
      flat = false;
    }
  }
  const payloadApply = applyJson(payload, flat, q, keyString);
  // PostgreSQL's text, json and jsonb cannot hold U+0000, so such a row could never be staged or
  // applied (it used to answer 500 on every retry); the regex skips an escaped backslash + "u0000".
  if (payloadApply.includes('\\u0000') && ESCAPED_NUL.test(payloadApply)) {
    throw invalid(
      `payload for ${named(q, keyString)} holds the character U+0000, which PostgreSQL text and JSON cannot store`,
    );
  }
  return {
    tableId: table.tableId,
    keyHex,
    opCode,
    baseRowVersion,
    payloadApply,
    columnList: columnListOf(payload, table, columns, state),
  };
}

/** A row in a refusal: the key lets a client name the row it has to fix (ours parses `schema.table "key"`). */
function named(q: string, keyString: string): string {
  return `${q} "${keyString}"`;
}

/**
 * The JSON text a row is staged and applied with. Only its values matter (the apply parses it with
 * `jsonb_populate_record`), so a payload of finite scalars (`flat`) takes the engine's
 * native `JSON.stringify`, which allocated a quarter of what canonicalisation did; any other
 * payload, and one whose text shows a lone surrogate (`\ud…`, which PostgreSQL's JSON refuses and
 * canonical JSON turns into U+FFFD as Go does), is canonicalised.
 */
function applyJson(payload: JsonObject, flat: boolean, q: string, keyString: string): string {
  if (flat) {
    const text = JSON.stringify(payload);
    if (!text.includes('\\ud')) return text;
  }
  try {
    return canonicalJson(payload);
  } catch (error) {
    // A number beyond float64 (1e400 parses to Infinity) has no JSON form: the client's row is
    // bad, not the server (this used to answer 500).
    if (error instanceof NonFiniteNumberError) {
      throw invalid(
        `payload for ${named(q, keyString)} holds a number beyond the float64 range of JSON numbers`,
      );
    }
    throw error;
  }
}

/**
 * The staged column list of a payload: its names, sorted, comma-joined, without the generated
 * columns a payload echoes from what the server served (writing them is an error, and PostgreSQL
 * computes them anyway; go-oversync fails such a commit). Identifiers are ASCII, so code-unit order
 * is the canonical (UTF-8) key order. Reused while consecutive rows of a table carry the same
 * names in the same order, which JSON.parse gives as the same interned strings.
 */
function columnListOf(
  payload: JsonObject,
  table: CatalogTable,
  columns: TableColumnSets,
  state: ChunkState,
): string {
  const names = Object.keys(payload);
  const last = state.shape;
  if (last !== null && last.tableId === table.tableId && sameNames(last.names, names)) return last.columnList;
  const columnList = names
    .filter((name) => name === table.keyColumn || !columns.computed?.has(name))
    .sort()
    .join(',');
  state.shape = { tableId: table.tableId, names, columnList };
  return columnList;
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The hex of a canonical (validated) UUID's bytes: its text without the four dashes. */
function uuidHex(uuid: string): string {
  return uuid.slice(0, 8) + uuid.slice(9, 13) + uuid.slice(14, 18) + uuid.slice(19, 23) + uuid.slice(24);
}

function normalizePayload(
  payload: unknown,
  table: CatalogTable,
  columns: TableColumnSets,
  keyString: string,
): JsonObject {
  const q = table.qualifiedName;
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    throw invalid(`payload for ${q} must be a JSON object`);
  }
  const exact = exactPayload(payload as JsonObject, table, columns, keyString);
  if (exact) return exact;
  const entries = Object.entries(payload as JsonObject);
  if (entries.some(([name]) => name.toLowerCase() === SCOPE_COLUMN)) {
    throw invalid(`payload for ${q} must not include hidden scope column ${SCOPE_COLUMN}`);
  }
  const keyMismatch = (value: unknown) => value !== keyString;
  if (Object.hasOwn(payload, table.keyColumn) && keyMismatch((payload as JsonObject)[table.keyColumn])) {
    throw invalid(`payload key ${q}.${table.keyColumn} must match request key`);
  }
  const out: JsonObject = {};
  for (const [name, value] of entries) {
    // Names are lower-cased as in go-oversync, unless only the exact name is a column: a host
    // column created quoted ("dueAt") is served under its own name, and a device pushing that
    // payload back must reach it (go-oversync writes NULL). Plain names only: the column list
    // travels comma-joined inside staged JSON.
    const lower = name.toLowerCase();
    const exact = !columns.names.has(lower) && MIXED_CASE_IDENTIFIER.test(name) && columns.names.has(name);
    const column = exact ? name : lower;
    if (!exact && !IDENTIFIER.test(column)) {
      throw invalid(`payload column "${name}" for ${q} is not a valid column name`);
    }
    if (Object.hasOwn(out, column)) throw invalid(`payload column ${q}.${column} appears more than once`);
    if (!columns.names.has(column)) throw invalid(`payload column ${q}.${column} does not exist`);
    out[column] = value;
  }
  if (Object.hasOwn(out, table.keyColumn)) {
    if (keyMismatch(out[table.keyColumn])) {
      throw invalid(`payload key ${q}.${table.keyColumn} must match request key`);
    }
  } else {
    out[table.keyColumn] = keyString;
  }
  for (const column of columns.bytea) {
    const value = out[column];
    if (value === undefined || value === null) continue;
    if (typeof value !== 'string') {
      throw invalid(`payload binary field ${q}.${column} must be a base64 string`);
    }
    if (!isStandardBase64(value)) throw invalid(`payload binary field ${q}.${column} must be valid base64`);
    out[column] = `\\x${Buffer.from(value, 'base64').toString('hex')}`;
  }
  return out;
}

/**
 * The common case of {@link normalizePayload}, without copying: every name is already one of the
 * table's columns, spelled as a valid lower-case identifier (a quoted column such as `"Body"` or
 * `"a,b"` must take the general path, which lower-cases and refuses it exactly as before), other
 * than the scope column; the key column is present and matches; no bytea column needs converting. Returns the payload itself, or undefined when
 * anything needs the general path (which then also produces the exact error).
 */
function exactPayload(
  payload: JsonObject,
  table: CatalogTable,
  columns: TableColumnSets,
  keyString: string,
): JsonObject | undefined {
  for (const name in payload) {
    if (name === SCOPE_COLUMN || !columns.names.has(name) || !IDENTIFIER.test(name)) return undefined;
  }
  if (payload[table.keyColumn] !== keyString) return undefined;
  for (const column of columns.bytea) {
    const value = payload[column];
    if (value !== undefined && value !== null) return undefined;
  }
  return payload;
}

/** True when `value` nests arrays or objects more than `limit` levels deep (iterative: no recursion). */
function nestingExceeds(value: object, limit: number): boolean {
  let level: object[] = [value];
  for (let depth = 1; level.length > 0; depth++) {
    if (depth > limit) return true;
    const next: object[] = [];
    for (const node of level) {
      for (const child of Array.isArray(node) ? node : Object.values(node)) {
        if (typeof child === 'object' && child !== null) next.push(child as object);
      }
    }
    level = next;
  }
  return false;
}
