/**
 * Idempotent upgrades of an existing `oversync_nestjs_postgres_v1` layout created by an earlier
 * build, run on every bootstrap with the functions (same advisory lock). Each statement is safe to
 * repeat and keeps data: only transient or derived structures change.
 * - The shared capture stage became a per-session temporary table; the old unlogged
 *   `sync.bundle_capture_stage` is empty outside writing transactions, so dropping it loses nothing.
 * - `bundle_rows.payload_wire` holds canonical JSON as text (PostgreSQL renders it): same bytes.
 * - History tables lost their per-row foreign keys (retention deletes bundle_rows explicitly), and
 *   so did staged push rows (deleted explicitly with their session; orphans of an earlier build
 *   cannot exist, its cascade removed them).
 * - The partial "live rows" index duplicated row_state's primary key.
 */
export const SYNC_LAYOUT_UPGRADES_DDL = `
DROP TABLE IF EXISTS sync.bundle_capture_stage;
ALTER TABLE sync.bundle_rows ALTER COLUMN payload_wire TYPE text;
ALTER TABLE sync.row_state DROP CONSTRAINT IF EXISTS row_state_user_pk_fkey;
ALTER TABLE sync.row_state DROP CONSTRAINT IF EXISTS row_state_table_id_fkey;
ALTER TABLE sync.bundle_rows DROP CONSTRAINT IF EXISTS bundle_rows_user_pk_bundle_seq_fkey;
ALTER TABLE sync.bundle_rows DROP CONSTRAINT IF EXISTS bundle_rows_table_id_fkey;
DROP INDEX IF EXISTS sync.rs_user_live_snapshot_idx;
ALTER TABLE sync.push_session_rows DROP CONSTRAINT IF EXISTS push_session_rows_push_id_fkey;
ALTER TABLE sync.push_session_rows DROP CONSTRAINT IF EXISTS push_session_rows_table_id_fkey;
`;
