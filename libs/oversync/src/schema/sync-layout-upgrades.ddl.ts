/**
 * Idempotent upgrades of an existing `oversync_nestjs_postgres_v1` layout created by an earlier
 * build, run on every bootstrap with the functions (same advisory lock). Each statement is safe to
 * repeat and keeps data: only transient or derived structures change.
 * - The capture stage keeps (table, key, op) only; after-images are read at finalisation. The
 *   stage is empty outside writing transactions, so dropping its payload column loses nothing
 *   (its CHECK constraint goes with it).
 * - History tables lost their per-row foreign keys (retention deletes bundle_rows explicitly).
 * - The partial "live rows" index duplicated row_state's primary key.
 */
export const SYNC_LAYOUT_UPGRADES_DDL = `
ALTER TABLE sync.bundle_capture_stage DROP COLUMN IF EXISTS payload_db;
ALTER TABLE sync.row_state DROP CONSTRAINT IF EXISTS row_state_user_pk_fkey;
ALTER TABLE sync.row_state DROP CONSTRAINT IF EXISTS row_state_table_id_fkey;
ALTER TABLE sync.bundle_rows DROP CONSTRAINT IF EXISTS bundle_rows_user_pk_bundle_seq_fkey;
ALTER TABLE sync.bundle_rows DROP CONSTRAINT IF EXISTS bundle_rows_table_id_fkey;
DROP INDEX IF EXISTS sync.rs_user_live_snapshot_idx;
`;
