import { type Database, type Statement } from 'sql.js';

import { loadSqlJs } from '../testing/test-device.js';
import { SqlJsAdapter } from './sql-js.adapter.js';

/** Counts prepares; with `freeOnExport`, export() frees every statement first, as sql.js < 1.16 did. */
function instrument(db: Database, freeOnExport: boolean): { prepares: () => number } {
  const prepared: Statement[] = [];
  const prepare = db.prepare.bind(db);
  db.prepare = (sql, params) => {
    const stmt = prepare(sql, params);
    prepared.push(stmt);
    return stmt;
  };
  if (freeOnExport) {
    const exportImage = db.export.bind(db);
    db.export = () => {
      for (const stmt of prepared) stmt.free();
      return exportImage();
    };
  }
  return { prepares: () => prepared.length };
}

describe('SqlJsAdapter statement cache across exports', () => {
  it('keeps cached statements when export() leaves them valid (sql.js 1.16+)', async () => {
    const SQL = await loadSqlJs();
    const db = new SQL.Database();
    const counter = instrument(db, false);
    const adapter = new SqlJsAdapter(db);
    adapter.run('CREATE TABLE t (v)');
    adapter.run('INSERT INTO t VALUES (?)', [1]);
    adapter.export();
    const afterFirstExport = counter.prepares();
    adapter.run('INSERT INTO t VALUES (?)', [2]);
    adapter.export();
    adapter.run('INSERT INTO t VALUES (?)', [3]);
    expect(counter.prepares()).toBe(afterFirstExport + 1);
    expect(adapter.count('SELECT COUNT(*) FROM t')).toBe(3);
    db.close();
  });

  it('empties the cache around every export when export() frees statements (older sql.js)', async () => {
    const SQL = await loadSqlJs();
    const db = new SQL.Database();
    instrument(db, true);
    const adapter = new SqlJsAdapter(db);
    adapter.run('CREATE TABLE t (v)');
    for (let i = 0; i < 3; i++) {
      adapter.run('INSERT INTO t VALUES (?)', [i]);
      expect(adapter.export().length).toBeGreaterThan(0);
    }
    expect(adapter.count('SELECT COUNT(*) FROM t')).toBe(3);
    db.close();
  });
});

describe('SqlJsAdapter transactions that fail', () => {
  async function fkDatabase(): Promise<{ db: Database; adapter: SqlJsAdapter }> {
    const SQL = await loadSqlJs();
    const db = new SQL.Database();
    db.exec(
      'PRAGMA foreign_keys = ON; CREATE TABLE p (id TEXT PRIMARY KEY); ' +
        'CREATE TABLE c (id TEXT PRIMARY KEY, p TEXT REFERENCES p(id) DEFERRABLE INITIALLY DEFERRED)',
    );
    return { db, adapter: new SqlJsAdapter(db) };
  }

  /** The connection has no transaction open: a plain BEGIN/ROLLBACK works and writes autocommit. */
  function expectUsable(db: Database, adapter: SqlJsAdapter): void {
    expect(adapter.inTransaction).toBe(false);
    expect(() => db.exec('BEGIN; ROLLBACK')).not.toThrow();
    adapter.transaction(() => adapter.run("INSERT INTO p VALUES ('after')"));
    expect(adapter.count("SELECT COUNT(*) FROM p WHERE id = 'after'")).toBe(1);
  }

  it('rolls back when COMMIT fails on a deferred foreign key and stays usable', async () => {
    const { db, adapter } = await fkDatabase();
    expect(() =>
      adapter.transaction(() => {
        adapter.run("INSERT INTO p VALUES ('kept?')");
        adapter.run("INSERT INTO c VALUES ('orphan', 'missing')");
      }),
    ).toThrow(/FOREIGN KEY/);
    expect(adapter.count('SELECT COUNT(*) FROM p') + adapter.count('SELECT COUNT(*) FROM c')).toBe(0);
    expectUsable(db, adapter);
    // Nested calls after the failure use savepoints again (not a negative depth).
    adapter.transaction(() => adapter.transaction(() => adapter.run("INSERT INTO p VALUES ('nested')")));
    expect(adapter.count('SELECT COUNT(*) FROM p')).toBe(2);
    db.close();
  });

  it('rolls a failed savepoint back while the outer transaction carries on', async () => {
    const { db, adapter } = await fkDatabase();
    adapter.transaction(() => {
      adapter.run("INSERT INTO p VALUES ('outer')");
      expect(() =>
        adapter.transaction(() => {
          adapter.run("INSERT INTO p VALUES ('inner')");
          throw new Error('inner failed');
        }),
      ).toThrow('inner failed');
      expect(adapter.inTransaction).toBe(true);
    });
    expect(adapter.all('SELECT id FROM p')).toEqual([{ id: 'outer' }]);
    expectUsable(db, adapter);
    db.close();
  });

  it('rolls everything back when a nested savepoint failure reaches a COMMIT that fails', async () => {
    const { db, adapter } = await fkDatabase();
    expect(() =>
      adapter.transaction(() => {
        adapter.run("INSERT INTO p VALUES ('outer')");
        adapter.transaction(() => adapter.run("INSERT INTO c VALUES ('orphan', 'missing')"));
      }),
    ).toThrow(/FOREIGN KEY/);
    expect(adapter.count('SELECT COUNT(*) FROM p') + adapter.count('SELECT COUNT(*) FROM c')).toBe(0);
    expectUsable(db, adapter);
    db.close();
  });
});
