import { type Database, type SqlJsStatic, type SqlValue } from 'sql.js';

import { loadSqlJs } from '../testing/test-device.js';
import { BatchBinder } from './batch-binder.adapter.js';

/** Values covering every way sql.js binds: int32 vs other numbers, text, blobs, NULL. */
const VALUES: SqlValue[] = [
  'plain ascii',
  '',
  'héllo wörld',
  'emoji 😀 and 中文',
  'nul \u0000 inside',
  0,
  -0,
  1,
  -1,
  2147483647,
  -2147483648,
  2147483648,
  -2147483649,
  Number.MAX_SAFE_INTEGER,
  Number.MIN_SAFE_INTEGER,
  1.5,
  -0.1,
  1e300,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  null,
  new Uint8Array([]),
  new Uint8Array([0, 1, 2, 255]),
];

function stored(db: Database): unknown[][] {
  return db.exec('SELECT quote(v), typeof(v), length(CAST(v AS BLOB)) FROM t ORDER BY rowid')[0].values;
}

function freshTable(SQL: SqlJsStatic): Database {
  const db = new SQL.Database();
  db.exec('CREATE TABLE t (v)');
  return db;
}

/** Inserts all of `values` with one multi-row statement through `binder`. */
function insertAll(db: Database, binder: BatchBinder, values: SqlValue[]): void {
  const stmt = db.prepare(`INSERT INTO t (v) VALUES ${values.map(() => '(?)').join(', ')}`);
  try {
    binder.run(stmt, values);
  } finally {
    stmt.free();
  }
}

describe('BatchBinder', () => {
  let SQL: SqlJsStatic;
  beforeAll(async () => {
    SQL = await loadSqlJs();
  });

  it('takes the fast path only with the sql.js module that opened the database', () => {
    const db = freshTable(SQL);
    expect(new BatchBinder(db, SQL).fast).toBe(true);
    expect(new BatchBinder(db).fast).toBe(false);
    expect(new BatchBinder(db, { Database: SQL.Database }).fast).toBe(false);
    expect(new BatchBinder(db, { ...SQL, Database: class Other {} }).fast).toBe(false);
    db.close();
  });

  it('stores every value exactly as sql.js Statement.run does', () => {
    const fastDb = freshTable(SQL);
    const slowDb = freshTable(SQL);
    insertAll(fastDb, new BatchBinder(fastDb, SQL), VALUES);
    insertAll(slowDb, new BatchBinder(slowDb), VALUES);
    expect(stored(fastDb)).toEqual(stored(slowDb));
    expect(stored(fastDb)).toHaveLength(VALUES.length);
    // Spot checks that the comparison is meaningful: text bytes, BLOB kinds and NULL survive.
    const values = fastDb.exec('SELECT v FROM t ORDER BY rowid')[0].values.map((r) => r[0]);
    expect(values[3]).toBe('emoji 😀 and 中文');
    expect(values[4]).toBe('nul \u0000 inside');
    expect(values[1]).toBe('');
    expect(values[21]).toEqual(new Uint8Array([]));
    expect(values[22]).toEqual(new Uint8Array([0, 1, 2, 255]));
    expect(values[20]).toBeNull();
    fastDb.close();
    slowDb.close();
  });

  it('reuses one statement across runs with different values', () => {
    const db = freshTable(SQL);
    const binder = new BatchBinder(db, SQL);
    const stmt = db.prepare('INSERT INTO t (v) VALUES (?), (?)');
    binder.run(stmt, ['a', new Uint8Array([1])]);
    binder.run(stmt, [null, 'a much longer second value that needs a bigger buffer ✓']);
    stmt.free();
    expect(db.exec('SELECT v FROM t ORDER BY rowid')[0].values.map((r) => r[0])).toEqual([
      'a',
      new Uint8Array([1]),
      null,
      'a much longer second value that needs a bigger buffer ✓',
    ]);
    db.close();
  });

  it('refuses a statement sql.js has freed, even when a new statement reuses its memory', () => {
    const db = new SQL.Database();
    db.exec('CREATE TABLE a (v); CREATE TABLE b (v)');
    const binder = new BatchBinder(db, SQL);
    const intoA = db.prepare('INSERT INTO a (v) VALUES (?)');
    binder.run(intoA, ['first']);
    intoA.free();
    const intoB = db.prepare('INSERT INTO b (v) VALUES (?)');
    expect(() => binder.run(intoA, ['stale'])).toThrow('Statement closed');
    binder.run(intoB, ['b1']);
    intoB.free();
    expect(db.exec("SELECT 'a', count(*) FROM a UNION ALL SELECT 'b', count(*) FROM b")[0].values).toEqual([
      ['a', 1],
      ['b', 1],
    ]);
    db.close();
  });

  it('steps a statement that returns rows once, like Statement.run', () => {
    const db = freshTable(SQL);
    const stmt = db.prepare('INSERT INTO t (v) VALUES (?), (?) RETURNING v');
    new BatchBinder(db, SQL).run(stmt, ['x', 'y']);
    stmt.free();
    // sql.js's run steps once: SQLite completes the INSERT of every row before the first RETURNING row.
    expect(db.exec('SELECT count(*) FROM t')[0].values[0][0]).toBe(2);
    db.close();
  });

  it('hands values of other kinds (booleans) to sql.js, which binds them as numbers', () => {
    const fastDb = freshTable(SQL);
    const slowDb = freshTable(SQL);
    const values = [true, false, 'x'] as unknown as SqlValue[];
    insertAll(fastDb, new BatchBinder(fastDb, SQL), values);
    insertAll(slowDb, new BatchBinder(slowDb), values);
    expect(stored(fastDb)).toEqual(stored(slowDb));
    expect(fastDb.exec('SELECT v FROM t ORDER BY rowid')[0].values).toEqual([[1], [0], ['x']]);
    fastDb.close();
    slowDb.close();
  });

  it('fails a bind SQLite refuses with SQLite’s message, as Statement.run does', () => {
    const messages: string[] = [];
    for (const sqlJs of [SQL, undefined]) {
      const db = freshTable(SQL);
      const binder = new BatchBinder(db, sqlJs);
      const stmt = db.prepare('INSERT INTO t (v) VALUES (?)');
      // One value too many: SQLite answers SQLITE_RANGE for parameter 2.
      let message = '';
      try {
        binder.run(stmt, ['a', 'b']);
      } catch (error) {
        message = (error as Error).message;
      }
      messages.push(message);
      binder.run(stmt, ['ok']);
      stmt.free();
      expect(db.exec('SELECT v FROM t')[0].values).toEqual([['ok']]);
      db.close();
    }
    expect(messages[0]).toMatch(/out of range/);
    expect(messages[1]).toBe(messages[0]);
  });

  it('stores a lone surrogate as U+FFFD (valid UTF-8), not as sql.js’s ill-formed bytes', () => {
    const db = freshTable(SQL);
    insertAll(db, new BatchBinder(db, SQL), ['a\ud800b']);
    expect(db.exec('SELECT v, hex(v) FROM t')[0].values[0]).toEqual(['a\ufffdb', '61EFBFBD62']);
    db.close();
  });

  it('throws SQLite’s message on a failing statement, undoes only that statement, and stays usable', () => {
    for (const sqlJs of [SQL, undefined]) {
      const db = new SQL.Database();
      db.exec('CREATE TABLE u (k TEXT PRIMARY KEY, n INTEGER NOT NULL)');
      const binder = new BatchBinder(db, sqlJs);
      const stmt = db.prepare('INSERT INTO u (k, n) VALUES (?, ?), (?, ?)');
      db.exec('BEGIN');
      binder.run(stmt, ['a', 1, 'b', 2]);
      expect(() => binder.run(stmt, ['c', 3, 'a', 4])).toThrow('UNIQUE constraint failed: u.k');
      expect(() => binder.run(stmt, ['d', null, 'e', 5])).toThrow('NOT NULL constraint failed: u.n');
      binder.run(stmt, ['c', 3, 'd', 4]);
      db.exec('COMMIT');
      stmt.free();
      expect(db.exec('SELECT k, n FROM u ORDER BY k')[0].values).toEqual([
        ['a', 1],
        ['b', 2],
        ['c', 3],
        ['d', 4],
      ]);
      db.close();
    }
  });
});
