import { SNAPSHOT_TABLES_DDL } from './snapshot-tables.ddl.js';

/**
 * Idempotent in-place upgrade of the snapshot tables of a layout created by an earlier build (one
 * logged `snapshot_session_rows` row per business row): when the block table is missing or the
 * session table is still logged, both snapshot tables are dropped and re-created as in
 * {@link SNAPSHOT_TABLES_DDL}. A no-op on a current layout, so it can run on every bootstrap.
 *
 * Dropping loses only transient data: sessions that were open are gone, and their clients get
 * 404 `snapshot_session_not_found` on the next page and start a new snapshot (as after a purge).
 * Run it under the bootstrap advisory lock, after the layout exists.
 */
export const SNAPSHOT_LAYOUT_UPGRADES_DDL = `
DO $snapshot_upgrade$
DECLARE
  v_fk record;
BEGIN
  IF to_regclass('sync.snapshot_session_blocks') IS NULL
     OR (SELECT relpersistence FROM pg_class WHERE oid = to_regclass('sync.snapshot_sessions')) IS DISTINCT FROM 'u'
  THEN
    DROP TABLE IF EXISTS sync.snapshot_session_rows, sync.snapshot_session_blocks, sync.snapshot_sessions;
    ${SNAPSHOT_TABLES_DDL}
  END IF;
  -- Sessions of an earlier build referenced sync.user_state (see SNAPSHOT_TABLES_DDL).
  FOR v_fk IN
    SELECT conname FROM pg_constraint
     WHERE conrelid = 'sync.snapshot_sessions'::regclass AND contype = 'f'
       AND confrelid = 'sync.user_state'::regclass
  LOOP
    EXECUTE format('ALTER TABLE sync.snapshot_sessions DROP CONSTRAINT %I', v_fk.conname);
  END LOOP;
END
$snapshot_upgrade$;
`;
