import type { Database, SqlValue } from 'sql.js';

export type { SqlValue };

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

  constructor(readonly db: Database) {}

  /** Runs one statement (no result). */
  run(sql: string, params: readonly SqlValue[] = []): void {
    const stmt = this.db.prepare(sql);
    try {
      stmt.run(params as SqlValue[]);
    } finally {
      stmt.free();
    }
  }

  /** Runs a script of several statements without parameters. */
  exec(sql: string): void {
    this.db.exec(sql);
  }

  /** Returns every row of a query as objects. */
  all<T extends SqlRow = SqlRow>(sql: string, params: readonly SqlValue[] = []): T[] {
    const stmt = this.db.prepare(sql);
    try {
      stmt.bind(params as SqlValue[]);
      const rows: T[] = [];
      while (stmt.step()) rows.push(stmt.getAsObject() as T);
      return rows;
    } finally {
      stmt.free();
    }
  }

  /** Returns the first row of a query, or `undefined`. */
  get<T extends SqlRow = SqlRow>(sql: string, params: readonly SqlValue[] = []): T | undefined {
    const stmt = this.db.prepare(sql);
    try {
      stmt.bind(params as SqlValue[]);
      return stmt.step() ? (stmt.getAsObject() as T) : undefined;
    } finally {
      stmt.free();
    }
  }

  /** Returns the first column of the first row, or `null`. */
  scalar(sql: string, params: readonly SqlValue[] = []): SqlValue {
    const stmt = this.db.prepare(sql);
    try {
      stmt.bind(params as SqlValue[]);
      return stmt.step() ? (stmt.get()[0] ?? null) : null;
    } finally {
      stmt.free();
    }
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
   * rethrows. `fn` must be synchronous.
   */
  transaction<T>(fn: () => T): T {
    const savepoint = `oversync_sp_${this.#depth}`;
    this.db.exec(this.#depth === 0 ? 'BEGIN IMMEDIATE' : `SAVEPOINT ${savepoint}`);
    this.#depth += 1;
    try {
      const result = fn();
      this.#depth -= 1;
      this.db.exec(this.#depth === 0 ? 'COMMIT' : `RELEASE ${savepoint}`);
      return result;
    } catch (error) {
      this.#depth -= 1;
      try {
        this.db.exec(this.#depth === 0 ? 'ROLLBACK' : `ROLLBACK TO ${savepoint}; RELEASE ${savepoint}`);
      } catch {
        // The original error is the one worth reporting; a failed rollback means SQLite already
        // rolled the transaction back itself.
      }
      throw error;
    }
  }

  /** Serialises the whole database (sql.js `export()`). */
  export(): Uint8Array {
    return this.db.export();
  }
}
