import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { execSql } from '../../../test/support/business-schema.js';
import { createOversyncTestApp, type OversyncTestApp } from '../../../test/support/oversync-app.js';
import { adminUrl, createTestDatabase } from '../../../test/support/test-database.js';
import { ScopeManager } from './scope/scope.manager.js';
import { SnapshotSessionService } from './snapshot/snapshot-session.service.js';

/**
 * Hosts Oversync must keep working for: an ordinary role whose row-level security policies rely on
 * its search_path, and instances of the previous build sharing the database during a rolling
 * deploy. (Found by review: each test failed on an intermediate build.)
 */

const admin = async (text: string): Promise<void> => {
  await execSql(adminUrl(), text);
};

describe('a host app running as an ordinary role with RLS (real PostgreSQL)', () => {
  const role = `rv_app_${randomBytes(4).toString('hex')}`;
  let t: OversyncTestApp;

  beforeAll(async () => {
    await admin(`CREATE ROLE ${role} LOGIN`);
    const db = await createTestDatabase();
    await admin(`ALTER DATABASE "${db.name}" OWNER TO ${role}`);
    const url = new URL(db.url);
    url.username = role;
    // Everything below belongs to the app role; the policy helper is an ordinary SQL function that
    // names a table of the app's search_path ("$user", public) unqualified.
    await execSql(
      url.toString(),
      `
      CREATE SCHEMA h;
      CREATE TABLE public.blocked_scopes (scope text PRIMARY KEY);
      CREATE FUNCTION h.scope_visible(s text) RETURNS boolean LANGUAGE sql STABLE
        AS $$ SELECT NOT EXISTS (SELECT 1 FROM blocked_scopes b WHERE b.scope = s) $$;
      CREATE TABLE h.items (_sync_scope_id text NOT NULL, id text NOT NULL, name text,
        PRIMARY KEY (_sync_scope_id, id));
      `,
    );
    t = await createOversyncTestApp({
      database: { ...db, url: url.toString() },
      skipSchema: true,
      options: { registeredTables: [{ schema: 'h', table: 'items', syncKeyColumns: ['id'] }] },
    });
    // A first write (initialises the scope), then the host turns row-level security on.
    await t.get(ScopeManager).execWrite('u1', { writerId: 'w' }, async (trx) => {
      await sql`INSERT INTO h.items (id, name) VALUES ('seed', 'x')`.execute(trx);
    });
    await execSql(
      url.toString(),
      `
      ALTER TABLE h.items ENABLE ROW LEVEL SECURITY;
      ALTER TABLE h.items FORCE ROW LEVEL SECURITY;
      CREATE POLICY scoped ON h.items USING (h.scope_visible(_sync_scope_id))
        WITH CHECK (h.scope_visible(_sync_scope_id));
      `,
    );
  });
  afterAll(async () => {
    await t?.close();
    await t?.db.drop();
    await admin(`DROP ROLE IF EXISTS ${role}`);
  });

  it('commits scope writes whose RLS policy helper names tables of the host search_path unqualified', async () => {
    // The host's own statements (the INSERT and its WITH CHECK) run fine under the host's path.
    const write = t.get(ScopeManager).execWrite('u1', { writerId: 'w' }, async (trx) => {
      await sql`INSERT INTO h.items (id, name) VALUES ('a', 'x')`.execute(trx);
    });
    // Pinning search_path for finalisation made this fail: relation "blocked_scopes" does not
    // exist (the payload probe reads h.items, and the policy's function body is parsed then).
    await expect(write).resolves.toMatchObject({ bundle: { row_count: 1 } });
  });

  it('materialises snapshots of such a table', async () => {
    const snapshots = t.get(SnapshotSessionService);
    await expect(snapshots.create({ userId: 'u1', sourceId: 'reader' })).resolves.toBeDefined();
  });
});

describe('earlier builds sharing the database (real PostgreSQL)', () => {
  let t: OversyncTestApp;

  beforeAll(async () => {
    t = await createOversyncTestApp();
  });
  afterAll(async () => {
    await t.close();
    await t.db.drop();
  });

  it('keeps answering the two-argument sync.lock_scope call of the previous build', async () => {
    // The call an instance of the previous build (rolling deploy) makes for every scope write and
    // push commit: SELECT * FROM sync.lock_scope($1, $2). Bootstrap also keeps the one-argument
    // canonical_json/canonical_jsonb for the same reason.
    await expect(
      execSql(t.db.url, 'SELECT * FROM sync.lock_scope($1, $2)', ['u-old-build', 'src']),
    ).resolves.toBeDefined();
  });
});
