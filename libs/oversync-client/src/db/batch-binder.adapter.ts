import type { Database, SqlValue, Statement } from 'sql.js';

/**
 * The low-level exports of a sql.js module (the object `initSqlJs()` resolves with) that
 * {@link BatchBinder} calls. They are emscripten exports, not sql.js's documented API, so they are
 * probed at run time and the binder falls back to `Statement.run` when any is missing.
 */
interface SqlJsExports {
  Database: new () => Database;
  _malloc: (bytes: number) => number;
  _free: (pointer: number) => void;
  writeArrayToMemory(array: Uint8Array, pointer: number): void;
  UTF8ToString(pointer: number): string;
  _sqlite3_bind_text: (
    stmt: number,
    index: number,
    pointer: number,
    bytes: number,
    destructor: number,
  ) => number;
  _sqlite3_bind_blob: (
    stmt: number,
    index: number,
    pointer: number,
    bytes: number,
    destructor: number,
  ) => number;
  _sqlite3_bind_int: (stmt: number, index: number, value: number) => number;
  _sqlite3_bind_double: (stmt: number, index: number, value: number) => number;
  _sqlite3_step: (stmt: number) => number;
  _sqlite3_reset: (stmt: number) => number;
  _sqlite3_clear_bindings: (stmt: number) => number;
  _sqlite3_sql: (stmt: number) => number;
  _sqlite3_errmsg: (db: number) => number;
}

/** A WebAssembly export of sql.js (numbers in, a number or nothing out). */
type WasmExport = (...args: number[]) => number | void;

/**
 * Calls a sql.js WebAssembly export through one shared call site. Node 20's V8 (11.3) can crash
 * the process (SIGSEGV in optimised code) when TurboFan inlines a JS-to-Wasm call whose callee
 * grows the WebAssembly memory (`_malloc` here); a call site that sees many different exports is
 * megamorphic, and V8 does not inline those. Reproduced with a rebuild test sequence; gone with
 * `--no-turbo-inline-js-wasm-calls` and with this indirection.
 */
function callWasm(fn: WasmExport, a = 0, b = 0, c = 0, d = 0, e = 0): number {
  return Number(fn(a, b, c, d, e) ?? 0);
}

const REQUIRED_EXPORTS = [
  '_malloc',
  '_free',
  'writeArrayToMemory',
  'UTF8ToString',
  '_sqlite3_bind_text',
  '_sqlite3_bind_blob',
  '_sqlite3_bind_int',
  '_sqlite3_bind_double',
  '_sqlite3_step',
  '_sqlite3_reset',
  '_sqlite3_clear_bindings',
  '_sqlite3_sql',
  '_sqlite3_errmsg',
] as const;

const ASCII = /^[\x00-\x7f]*$/;
const SQLITE_OK = 0;
const SQLITE_ROW = 100;
const SQLITE_DONE = 101;
/** Scratch bytes kept between runs; a larger buffer (huge BLOB batches) is released after its run. */
const SCRATCH_KEEP_BYTES = 1 << 22;
/** SQLITE_STATIC: SQLite uses the bound bytes in place; they stay valid until the bindings are cleared. */
const SQLITE_STATIC = 0;

/** A value the fast path binds: TEXT, a number, a BLOB or NULL. */
function isBindable(value: unknown): boolean {
  return (
    value === null || typeof value === 'string' || typeof value === 'number' || value instanceof Uint8Array
  );
}

/** The module's low-level exports when `sqlJs` has them all and created `db`, else `undefined`. */
function probeExports(sqlJs: unknown, db: Database): SqlJsExports | undefined {
  if (typeof sqlJs !== 'object' || sqlJs === null) return undefined;
  const candidate = sqlJs as Record<string, unknown>;
  if (!REQUIRED_EXPORTS.every((name) => typeof candidate[name] === 'function')) return undefined;
  const module = sqlJs as SqlJsExports;
  // Pointers are only meaningful in the memory of the module that opened the database.
  if (typeof module.Database !== 'function' || !(db instanceof module.Database)) return undefined;
  return module;
}

/**
 * Runs write statements with many parameters (the bulk apply's multi-row INSERT and DELETE
 * batches) faster than sql.js's `Statement.run`.
 *
 * sql.js binds every string by measuring it, allocating it in the WebAssembly heap and copying it
 * with a JavaScript UTF-8 loop, then frees each allocation on reset: for a 500-row batch that is
 * thousands of allocations and most of the apply's time. This binder encodes all strings and blobs
 * of one run with the native `TextEncoder` into one buffer, copies it into the heap with one
 * `_malloc`, and binds pointers into it (SQLITE_STATIC), so a batch costs one allocation.
 *
 * It needs the sql.js module itself (`initSqlJs()`'s result, passed as the client option `sqlJs`)
 * and finds each statement's pointer by asking SQLite for the statement's SQL. Without the module,
 * or when a statement cannot be matched, it calls `Statement.run`, so behaviour never depends on
 * the fast path: values bind as sql.js binds them (int32 numbers as INTEGER, other numbers as REAL,
 * `null` as NULL, strings as UTF-8 TEXT, `Uint8Array` as BLOB), except that a lone UTF-16
 * surrogate becomes U+FFFD (valid UTF-8) where sql.js writes ill-formed bytes.
 */
export class BatchBinder {
  readonly #module: SqlJsExports | undefined;
  /** Per statement, the own field that holds its C pointer (null: none found). */
  readonly #pointerFields = new WeakMap<Statement, string | null>();
  readonly #encoder = new TextEncoder();
  #scratch = new Uint8Array(1 << 16);
  #offsets = new Int32Array(1024);

  constructor(
    private readonly db: Database,
    sqlJs?: unknown,
  ) {
    this.#module = probeExports(sqlJs, db);
  }

  /** True when runs bypass `Statement.run` (the sql.js module was given and matches the database). */
  get fast(): boolean {
    return this.#module !== undefined;
  }

  /**
   * Binds `values` to every parameter of `stmt` (one value per parameter, in order), steps it once
   * (to completion for INSERT and DELETE) and resets it, as `Statement.run` does.
   * @throws Error with SQLite's message, like `Statement.run`, when the statement fails.
   */
  run(stmt: Statement, values: readonly SqlValue[]): void {
    const module = this.#module;
    const pointer = module ? this.#pointerOf(module, stmt) : null;
    // Values of other kinds (sql.js also takes booleans and bigints) take sql.js's own path.
    if (!module || pointer === null || !values.every(isBindable)) {
      stmt.run(values as SqlValue[]);
      return;
    }
    const heap = this.#copyToHeap(module, values);
    try {
      this.#bind(module, pointer, heap, values);
      const rc = callWasm(module._sqlite3_step, pointer);
      // Like Statement.run: one step; a statement that returns rows (RETURNING) just stops there.
      if (rc !== SQLITE_DONE && rc !== SQLITE_ROW) {
        const message = this.#errorMessage(module);
        callWasm(module._sqlite3_reset, pointer);
        throw new Error(message);
      }
      callWasm(module._sqlite3_reset, pointer);
    } finally {
      // The bindings point into `heap`: clear them before the memory goes back.
      callWasm(module._sqlite3_clear_bindings, pointer);
      callWasm(module._free, heap);
      if (this.#scratch.length > SCRATCH_KEEP_BYTES) this.#scratch = new Uint8Array(1 << 16);
    }
  }

  /** SQLite's message for the last failure on the connection, as sql.js reports it. */
  #errorMessage(module: SqlJsExports): string {
    // `db` (the connection pointer) is a field of sql.js's Database that its typings leave out.
    const connection = (this.db as unknown as { db: unknown }).db;
    if (typeof connection !== 'number') return 'SQLite statement failed';
    return module.UTF8ToString(callWasm(module._sqlite3_errmsg, connection));
  }

  /**
   * The statement's C pointer: the own numeric field for which SQLite reports the same SQL. The
   * field is remembered and read on every run, so a statement sql.js has freed (its pointer field
   * is then 0) falls back to `Statement.run`, which refuses it, instead of using a stale pointer.
   */
  #pointerOf(module: SqlJsExports, stmt: Statement): number | null {
    const fields = stmt as unknown as Record<string, unknown>;
    let field = this.#pointerFields.get(stmt);
    if (field === undefined) {
      field = null;
      const sql = stmt.getSQL();
      for (const [name, value] of Object.entries(fields)) {
        if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) continue;
        try {
          if (module.UTF8ToString(callWasm(module._sqlite3_sql, value)) === sql) {
            field = name;
            break;
          }
        } catch {
          // Not a statement pointer (out-of-bounds read); try the next field.
        }
      }
      this.#pointerFields.set(stmt, field);
    }
    if (field === null) return null;
    const pointer = fields[field];
    return typeof pointer === 'number' && pointer > 0 ? pointer : null;
  }

  /** Encodes every string and blob of `values` into one heap allocation; offsets go to #offsets. */
  #copyToHeap(module: SqlJsExports, values: readonly SqlValue[]): number {
    if (this.#offsets.length < values.length * 2) this.#offsets = new Int32Array(values.length * 4);
    const offsets = this.#offsets;
    // Strings are joined into one and encoded with a single `encodeInto`: per-value calls cost
    // more than the encoding itself for short values. Byte offsets equal character offsets while
    // the joined text is ASCII, which a regular expression checks in one native pass.
    let joined = '';
    let chars = 0;
    let blobBytes = 0;
    for (let i = 0; i < values.length; i++) {
      const value = values[i];
      if (typeof value === 'string') {
        offsets[2 * i] = chars;
        offsets[2 * i + 1] = value.length;
        joined += value;
        chars += value.length;
      } else if (value instanceof Uint8Array) {
        blobBytes += value.length;
      }
    }
    const ascii = ASCII.test(joined);
    const bound = (ascii ? chars : chars * 3) + blobBytes;
    if (this.#scratch.length < bound) this.#scratch = new Uint8Array(bound * 2);
    const scratch = this.#scratch;
    let at = 0;
    if (ascii) {
      at = this.#encoder.encodeInto(joined, scratch).written;
    } else {
      for (let i = 0; i < values.length; i++) {
        const value = values[i];
        if (typeof value !== 'string') continue;
        const { written } = this.#encoder.encodeInto(value, scratch.subarray(at));
        offsets[2 * i] = at;
        offsets[2 * i + 1] = written;
        at += written;
      }
    }
    for (let i = 0; i < values.length; i++) {
      const value = values[i];
      if (!(value instanceof Uint8Array)) continue;
      scratch.set(value, at);
      offsets[2 * i] = at;
      offsets[2 * i + 1] = value.length;
      at += value.length;
    }
    // At least one byte, so an empty string or blob still binds a non-NULL pointer.
    const heap = callWasm(module._malloc, Math.max(1, at));
    if (at > 0) module.writeArrayToMemory(scratch.subarray(0, at), heap);
    return heap;
  }

  #bind(module: SqlJsExports, stmt: number, heap: number, values: readonly SqlValue[]): void {
    const offsets = this.#offsets;
    for (let i = 0; i < values.length; i++) {
      const value = values[i];
      const index = i + 1;
      let rc: number;
      if (typeof value === 'number') {
        rc =
          value === (value | 0)
            ? callWasm(module._sqlite3_bind_int, stmt, index, value)
            : callWasm(module._sqlite3_bind_double, stmt, index, value);
      } else if (value === null) {
        // NULL: sql.js binds it as a blob without bytes; so does this.
        rc = callWasm(module._sqlite3_bind_blob, stmt, index, 0, 0, SQLITE_STATIC);
      } else {
        // Text and blobs point into `heap` (encoded by copyToHeap).
        const bind = typeof value === 'string' ? module._sqlite3_bind_text : module._sqlite3_bind_blob;
        rc = callWasm(bind, stmt, index, heap + offsets[2 * i], offsets[2 * i + 1], SQLITE_STATIC);
      }
      if (rc !== SQLITE_OK) throw new Error(this.#errorMessage(module));
    }
  }
}
