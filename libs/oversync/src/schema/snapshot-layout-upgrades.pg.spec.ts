import { execSql } from '../../../../test/support/business-schema.js';
import { createTestDatabase, type TestDatabase } from '../../../../test/support/test-database.js';
import { SNAPSHOT_LAYOUT_UPGRADES_DDL } from './snapshot-layout-upgrades.ddl.js';
import { SYNC_TABLES_DDL } from './sync-tables.ddl.js';

/** The snapshot tables as builds before snapshot blocks created them. */
const EARLIER_SNAPSHOT_TABLES = `
CREATE TABLE sync.snapshot_sessions (
  snapshot_id uuid PRIMARY KEY,
  user_pk bigint NOT NULL REFERENCES sync.user_state (user_pk) ON DELETE CASCADE,
  snapshot_bundle_seq bigint NOT NULL,
  row_count bigint NOT NULL DEFAULT 0,
  byte_count bigint NOT NULL DEFAULT 0,
  expires_at timestamptz NOT NULL
);
CREATE TABLE sync.snapshot_session_rows (
  snapshot_id uuid NOT NULL REFERENCES sync.snapshot_sessions (snapshot_id) ON DELETE CASCADE,
  row_ordinal bigint NOT NULL,
  table_id integer NOT NULL,
  key_bytes bytea NOT NULL,
  bundle_seq bigint NOT NULL,
  payload_wire json NOT NULL,
  PRIMARY KEY (snapshot_id, row_ordinal)
);
CREATE INDEX ss_expires_at_idx ON sync.snapshot_sessions (expires_at);
CREATE UNIQUE INDEX ssr_snapshot_table_key_idx ON sync.snapshot_session_rows (snapshot_id, table_id, key_bytes);
`;

describe('SNAPSHOT_LAYOUT_UPGRADES_DDL (real PostgreSQL)', () => {
  let db: TestDatabase;
  const q = (text: string) => execSql(db.url, text);
  const snapshotRelations = async () =>
    (
      await q(`SELECT relname, relkind, relpersistence FROM pg_class
                WHERE relnamespace = 'sync'::regnamespace AND (relname LIKE 'snapshot%' OR relname LIKE 'ss%\\_idx')
                ORDER BY relname`)
    ).rows;
  const sessions = async () => (await q(`SELECT count(*)::int AS n FROM sync.snapshot_sessions`)).rows[0].n;

  beforeEach(async () => {
    db = await createTestDatabase();
  });
  afterEach(async () => db.drop());

  it('replaces the per-row snapshot tables of an earlier build by the unlogged block tables', async () => {
    await q(SYNC_TABLES_DDL);
    await q(`DROP TABLE sync.snapshot_session_blocks, sync.snapshot_sessions`);
    await q(EARLIER_SNAPSHOT_TABLES);
    await q(`INSERT INTO sync.user_state (user_id) VALUES ('u1');
             INSERT INTO sync.snapshot_sessions (snapshot_id, user_pk, snapshot_bundle_seq, row_count, expires_at)
             VALUES (gen_random_uuid(), 1, 1, 1, now() + interval '1 hour');
             INSERT INTO sync.snapshot_session_rows SELECT snapshot_id, 1, 1, '\\x00', 1, '{}' FROM sync.snapshot_sessions`);

    await q(SNAPSHOT_LAYOUT_UPGRADES_DDL);
    expect(await snapshotRelations()).toEqual([
      { relname: 'snapshot_session_blocks', relkind: 'r', relpersistence: 'u' },
      { relname: 'snapshot_session_blocks_pkey', relkind: 'i', relpersistence: 'u' },
      { relname: 'snapshot_sessions', relkind: 'r', relpersistence: 'u' },
      { relname: 'snapshot_sessions_pkey', relkind: 'i', relpersistence: 'u' },
      { relname: 'ss_expires_at_idx', relkind: 'i', relpersistence: 'u' },
    ]);
    // Open sessions of the earlier layout are dropped: their clients get 404 and start over.
    expect(await sessions()).toBe(0);
  });

  it('is a no-op on a current layout, keeping open sessions', async () => {
    await q(SYNC_TABLES_DDL);
    const before = await snapshotRelations();
    await q(`INSERT INTO sync.user_state (user_id) VALUES ('u1');
             INSERT INTO sync.snapshot_sessions (snapshot_id, user_pk, snapshot_bundle_seq, expires_at)
             VALUES (gen_random_uuid(), 1, 0, now() + interval '1 hour')`);
    await q(SNAPSHOT_LAYOUT_UPGRADES_DDL);
    await q(SNAPSHOT_LAYOUT_UPGRADES_DDL);
    expect(await snapshotRelations()).toEqual(before);
    expect(await sessions()).toBe(1);
  });

  it('also re-creates a logged session table that sits next to a block table', async () => {
    await q(SYNC_TABLES_DDL);
    await q(`ALTER TABLE sync.snapshot_sessions SET LOGGED`);
    await q(SNAPSHOT_LAYOUT_UPGRADES_DDL);
    const persistence = (await snapshotRelations()).map((r) => r.relpersistence);
    expect(new Set(persistence)).toEqual(new Set(['u']));
  });

  it('drops the foreign key to sync.user_state of an earlier block layout, keeping its sessions', async () => {
    await q(SYNC_TABLES_DDL);
    await q(`ALTER TABLE sync.snapshot_sessions ADD CONSTRAINT snapshot_sessions_user_pk_fkey
               FOREIGN KEY (user_pk) REFERENCES sync.user_state (user_pk) ON DELETE CASCADE;
             INSERT INTO sync.user_state (user_id) VALUES ('u1');
             INSERT INTO sync.snapshot_sessions (snapshot_id, user_pk, snapshot_bundle_seq, expires_at)
             VALUES (gen_random_uuid(), 1, 0, now() + interval '1 hour')`);
    await q(SNAPSHOT_LAYOUT_UPGRADES_DDL);
    const fks = await q(
      `SELECT count(*)::int AS n FROM pg_constraint WHERE conrelid = 'sync.snapshot_sessions'::regclass AND contype = 'f'`,
    );
    expect(fks.rows[0].n).toBe(0);
    expect(await sessions()).toBe(1);
  });
});
