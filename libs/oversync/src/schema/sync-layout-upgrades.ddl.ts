/**
 * Idempotent upgrades of an existing `oversync_nestjs_postgres_v1` layout created by an earlier
 * build, run on every bootstrap with the functions (same advisory lock). Each statement is safe to
 * repeat and keeps data: only transient or derived structures change.
 * - The shared capture stage became a per-session temporary table; the old unlogged
 *   `sync.bundle_capture_stage` is empty outside writing transactions, so dropping it loses nothing.
 * - `bundle_rows.payload_wire` holds canonical JSON as text (PostgreSQL renders it): same bytes.
 *   Converting an existing json column rewrites `bundle_rows` once, under an exclusive lock, in
 *   the bootstrap transaction; later start-ups skip it.
 * - History tables lost their per-row foreign keys (retention deletes bundle_rows explicitly), and
 *   so did staged push rows (deleted explicitly with their session; orphans of an earlier build
 *   cannot exist, its cascade removed them).
 * - The partial "live rows" index duplicated row_state's primary key.
 * - Staged push rows record their payload's column list (`column_list`); rows staged before have
 *   none, and the commit reads it from their payload instead.
 */
export const SYNC_LAYOUT_UPGRADES_DDL = `
DROP TABLE IF EXISTS sync.bundle_capture_stage;
DROP INDEX IF EXISTS sync.rs_user_live_snapshot_idx;
DO $upgrade$
DECLARE
  v_fk record;
BEGIN
  -- Each ALTER runs only when there is something to change: ALTER TABLE takes an exclusive lock on
  -- a hot table (and the type change rewrites the history), which must not happen at every start.
  IF (SELECT atttypid FROM pg_attribute WHERE attrelid = 'sync.bundle_rows'::regclass AND attname = 'payload_wire') = 'json'::regtype THEN
    ALTER TABLE sync.bundle_rows ALTER COLUMN payload_wire TYPE text;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'sync.push_session_rows'::regclass
                    AND attname = 'column_list' AND NOT attisdropped) THEN
    ALTER TABLE sync.push_session_rows ADD COLUMN column_list text;
  END IF;
  FOR v_fk IN
    SELECT c.conrelid::regclass AS rel, c.conname
      FROM pg_constraint c
     WHERE c.contype = 'f'
       AND c.conrelid IN ('sync.row_state'::regclass, 'sync.bundle_rows'::regclass, 'sync.push_session_rows'::regclass)
  LOOP
    EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', v_fk.rel, v_fk.conname);
  END LOOP;
END
$upgrade$;
`;
