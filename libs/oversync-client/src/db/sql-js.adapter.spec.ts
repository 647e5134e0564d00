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
