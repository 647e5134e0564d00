/**
 * Settings the sync routes pin for their own transactions, observed by triggers that record
 * `current_setting` as each write runs:
 * - JIT is off in a push's transactions, where compiling a plan costed over a large staging took
 *   far longer than running it, and left as the host has it in a server write's callback, whose
 *   statements are the host's own;
 * - a chunk before the last commits without waiting for its WAL flush (staging is not yet data),
 *   and the last chunk commits as configured, flushing every chunk before it.
 */
import { ScopeManager } from '@oversync/nestjs';
import { sql } from 'kysely';
import { execSql } from '../support/business-schema.js';
import { createOversyncTestApp, type OversyncTestApp } from '../support/oversync-app.js';
import {
  commitSession,
  createSession,
  dbRows,
  insertUser,
  newId,
  pushOk,
  readyUser,
  uploadChunk,
} from '../support/push-builders.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

/**
 * SQL recording `setting` as each row is inserted into `target`: a table `business.<setting>_seen`
 * of (`row`, setting) and an AFTER INSERT trigger that fills it with `value` and the setting.
 */
function recordSetting(setting: string, target: string, row: string, value: string): string {
  return `CREATE TABLE business.${setting}_seen (${row} PRIMARY KEY, setting text NOT NULL);
    CREATE FUNCTION business.record_${setting}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO business.${setting}_seen VALUES (${value}, current_setting('${setting}'));
      RETURN NEW;
    END $$;
    CREATE TRIGGER record_${setting} AFTER INSERT ON ${target}
      FOR EACH ROW EXECUTE FUNCTION business.record_${setting}();
`;
}

describe('settings of sync transactions', () => {
  let t: OversyncTestApp;
  let db: TestDatabase;

  beforeAll(async () => {
    // The host's defaults, set before the pool connects, so that a pinned value can only come from
    // the pin.
    db = await createTestDatabase();
    await execSql(
      db.url,
      `ALTER DATABASE "${db.name}" SET jit = on; ALTER DATABASE "${db.name}" SET synchronous_commit = on`,
    );
    t = await createOversyncTestApp({ listen: true, database: db });
    await execSql(
      t.db.url,
      recordSetting('jit', 'business.users', 'user_name text', 'NEW.name') +
        // On the staging table itself: nothing else runs inside a chunk's transaction.
        recordSetting(
          'synchronous_commit',
          'sync.push_session_rows',
          'row_ordinal bigint',
          'NEW.row_ordinal',
        ),
    );
  });
  afterAll(async () => {
    await t.close();
    await db.drop();
  });

  const jitSeen = async (name: string): Promise<string | undefined> => {
    const rows = await dbRows<{ jit: string }>(
      t.db.url,
      `SELECT setting AS jit FROM business.jit_seen WHERE user_name = $1`,
      [name],
    );
    return rows[0]?.jit;
  };

  it('applies a pushed row with JIT off', async () => {
    const { c } = await readyUser(t.baseUrl, 'device');
    await pushOk(c, 1, [insertUser('business', newId(), 'Pushed')]);
    expect(await jitSeen('Pushed')).toBe('off');
  });

  it("runs a server write's callback with the host's JIT setting", async () => {
    await t.get(ScopeManager).execWrite('jit-host-user', { writerId: 'admin' }, async (trx) => {
      await sql`SET LOCAL jit = on`.execute(trx);
      await sql`INSERT INTO business.users (id, name, email) VALUES (${newId()}, 'Hosted', 'h@example.com')`.execute(
        trx,
      );
    });
    expect(await jitSeen('Hosted')).toBe('on');
  });

  it('relaxes the WAL flush of every chunk but the last', async () => {
    await execSql(t.db.url, `TRUNCATE business.synchronous_commit_seen`);
    const { c } = await readyUser(t.baseUrl, 'device');
    const pushId = (await createSession(c, 1, 3)).json.push_id as string;
    for (let start = 0; start < 3; start++) {
      const reply = await uploadChunk(c, pushId, start, [insertUser('business', newId(), `Chunk ${start}`)]);
      expect(reply.status).toBe(200);
    }
    const seen = await dbRows<{ row_ordinal: string; synchronous_commit: string }>(
      t.db.url,
      `SELECT row_ordinal::text, setting AS synchronous_commit FROM business.synchronous_commit_seen ORDER BY row_ordinal`,
    );
    expect(seen.map((r) => [r.row_ordinal, r.synchronous_commit])).toEqual([
      ['0', 'off'],
      ['1', 'off'],
      ['2', 'on'],
    ]);
    expect((await commitSession(c, pushId)).status).toBe(200);
  });
});
