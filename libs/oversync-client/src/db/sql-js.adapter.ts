import type { Database, SqlValue, Statement } from 'sql.js';

import { AppTransactionOpenError } from '../errors/database.errors.js';
import { BatchBinder } from './batch-binder.adapter.js';

export type { SqlValue };

const STATEMENT_CACHE_SIZE = 128;

/** One result row keyed by column name. */
export type SqlRow = Record<string, SqlValue>;

/**
 * Thin synchronous wrapper over a sql.js `Database`.
 *
 * Every transaction runs synchronously from `BEGIN` to `COMMIT`, so no `await` can sit inside one
 * and app writes (which also run on the JS thread) can never interleave with a sync transaction.
 * Nested `transaction()` calls become savepoints.
 */
export class SqlJsAdapter {
  #depth = 0;
  // Prepared statements by SQL text. Preparing dominates the cost of small statements in sql.js.
  readonly #cache = new Map<string, Statement>();
  /**
   * Whether `export()` leaves prepared statements valid: sql.js 1.16+ exports through SQLite's
   * backup API and does; earlier releases close and reopen the connection, freeing every statement.
   * Unknown (undefined) until the first export shows it.
   */
  #exportKeepsStatements: boolean | undefined;

  /** Runs the bulk apply's many-parameter statements (fast when the sql.js module was given). */
  readonly batch: BatchBinder;

  /**
   * @param db - the app's database
   * @param sqlJs - the sql.js module that opened `db` (`initSqlJs()`'s result), for {@link BatchBinder}
   */
  constructor(
    readonly db: Database,
    sqlJs?: unknown,
  ) {
    this.batch = new BatchBinder(db, sqlJs);
  }

  #statement(sql: string): Statement {
    let stmt = this.#cache.get(sql);
    if (!stmt) {
      if (this.#cache.size >= STATEMENT_CACHE_SIZE) this.clearStatementCache();
      stmt = this.db.prepare(sql);
      this.#cache.set(sql, stmt);
    }
    return stmt;
  }

  /** Runs `fn` with a cached statement and always resets it, so no cursor stays open. */
  #with<T>(sql: string, params: readonly SqlValue[], fn: (stmt: Statement) => T): T {
    const stmt = this.#statement(sql);
    try {
      stmt.bind(params as SqlValue[]);
      return fn(stmt);
    } finally {
      stmt.reset();
    }
  }

  /** Frees every cached statement. */
  clearStatementCache(): void {
    for (const stmt of this.#cache.values()) stmt.free();
    this.#cache.clear();
  }

  /** Prepares an uncached statement; the caller must `free()` it. */
  prepare(sql: string): Statement {
    return this.db.prepare(sql);
  }

  /** Runs one statement (no result). */
  run(sql: string, params: readonly SqlValue[] = []): void {
    this.#with(sql, params, (stmt) => stmt.step());
  }

  /** Runs a script of several statements without parameters. */
  exec(sql: string): void {
    this.db.exec(sql);
  }

  /** Returns every row of a query as objects. */
  all<T extends SqlRow = SqlRow>(sql: string, params: readonly SqlValue[] = []): T[] {
    return this.#with(sql, params, (stmt) => {
      const rows: T[] = [];
      while (stmt.step()) rows.push(stmt.getAsObject() as T);
      return rows;
    });
  }

  /** Returns the first row of a query, or `undefined`. */
  get<T extends SqlRow = SqlRow>(sql: string, params: readonly SqlValue[] = []): T | undefined {
    return this.#with(sql, params, (stmt) => (stmt.step() ? (stmt.getAsObject() as T) : undefined));
  }

  /** Returns the first column of the first row, or `null`. */
  scalar(sql: string, params: readonly SqlValue[] = []): SqlValue {
    return this.#with(sql, params, (stmt) => (stmt.step() ? (stmt.get()[0] ?? null) : null));
  }

  /** Returns the first column of the first row as a number (0 when absent). */
  count(sql: string, params: readonly SqlValue[] = []): number {
    return Number(this.scalar(sql, params) ?? 0);
  }

  /** True while a transaction started by this adapter is open. */
  get inTransaction(): boolean {
    return this.#depth > 0;
  }

  /**
   * Runs `fn` inside one transaction (a savepoint when nested) and commits, or rolls back and
   * rethrows. `fn` must be synchronous. A failing `COMMIT` (a deferred foreign key) or `RELEASE`
   * rolls the transaction (or savepoint) back too, so no failure ever leaves it open.
   */
  transaction<T>(fn: () => T): T {
    const depth = this.#depth;
    const savepoint = `oversync_sp_${depth}`;
    if (depth === 0) {
      try {
        this.db.exec('BEGIN IMMEDIATE');
      } catch (error) {
        // The app's own BEGIN is still open on this connection (sql.js has one).
        if (error instanceof Error && /within a transaction/.test(error.message)) {
          throw new AppTransactionOpenError({ cause: error });
        }
        throw error;
      }
    } else {
      this.db.exec(`SAVEPOINT ${savepoint}`);
    }
    this.#depth = depth + 1;
    try {
      const result = fn();
      // SQLite keeps the transaction open when COMMIT fails on a deferred foreign key, and a
      // savepoint open when RELEASE fails: the catch below must still roll it back.
      this.db.exec(depth === 0 ? 'COMMIT' : `RELEASE ${savepoint}`);
      return result;
    } catch (error) {
      this.#rollback(depth, savepoint);
      throw error;
    } finally {
      // Restored exactly once, whatever failed, so savepoint names and `inTransaction` stay right.
      this.#depth = depth;
    }
  }

  #rollback(depth: number, savepoint: string): void {
    try {
      this.db.exec(depth === 0 ? 'ROLLBACK' : `ROLLBACK TO ${savepoint}; RELEASE ${savepoint}`);
    } catch {
      // The original error is the one worth reporting; a failed rollback means SQLite already
      // rolled the transaction back itself (e.g. after SQLITE_FULL).
    }
  }

  /** Serialises the whole database (sql.js `export()`). */
  export(): Uint8Array {
    if (this.#exportKeepsStatements) return this.db.export();
    // Until an export is seen to keep statements, the cache is emptied first (an older sql.js would
    // free them under it); a sentinel statement shows what this build does.
    this.clearStatementCache();
    const sentinel = this.db.prepare('SELECT 1');
    try {
      const image = this.db.export();
      // A statement freed by sql.js reports no SQL.
      this.#exportKeepsStatements = sentinel.getSQL() === 'SELECT 1';
      return image;
    } finally {
      sentinel.free();
    }
  }
}
