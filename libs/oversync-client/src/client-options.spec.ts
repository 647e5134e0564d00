import { type Database } from 'sql.js';

import { isOversyncClientError } from './errors/oversync-client.error.js';
import { OversyncClient } from './oversync-client.js';
import { loadSqlJs } from './testing/test-device.js';

/** A sql.js Database as versions before 1.13 shaped it: no updateHook. */
async function databaseWithoutUpdateHook(): Promise<Database> {
  const SQL = await loadSqlJs();
  const db = new SQL.Database();
  Object.defineProperty(db, 'updateHook', { value: undefined });
  return db;
}

const options = (db: Database, observeWrites?: boolean) => ({
  db,
  baseUrl: 'http://oversync.test',
  getToken: () => 'token',
  schema: 'business',
  tables: [{ table: 'users', syncKeyColumn: 'id' }],
  fetch: () => Promise.reject(new Error('offline')),
  ...(observeWrites === undefined ? {} : { observeWrites }),
});

describe('client options', () => {
  it('refuses a sql.js Database without updateHook (sql.js < 1.13) with invalid_config naming the version', async () => {
    const db = await databaseWithoutUpdateHook();
    let error: unknown;
    try {
      new OversyncClient(options(db));
    } catch (e) {
      error = e;
    }
    expect(isOversyncClientError(error, 'invalid_config')).toBe(true);
    expect((error as Error).message).toMatch(/sql\.js >= 1\.13/);
    db.close();
  });

  it('accepts such a Database when app writes are not observed', async () => {
    const db = await databaseWithoutUpdateHook();
    expect(() => new OversyncClient(options(db, false))).not.toThrow();
    db.close();
  });
});
