/**
 * Tables of snapshot sessions (`/sync/snapshot-sessions`), concatenated into the `sync` layout by
 * `SYNC_TABLES_DDL` and re-created by `SNAPSHOT_LAYOUT_UPGRADES_DDL` on layouts of earlier builds.
 *
 * Both tables are UNLOGGED: a session is a transient, re-creatable copy (TTL, lazily purged) and
 * WAL for tens of megabytes of pre-rendered JSON per large snapshot is pure cost. After a crash (or
 * on a promoted standby) PostgreSQL empties both together, so an open session answers 404
 * `snapshot_session_not_found` and the client creates a new one, as it does after a purge.
 *
 * A session's rows are stored as blocks of already-rendered wire `SnapshotRow` JSON texts (at
 * most a few hundred kilobytes or a thousand rows each, never spanning two tables), so a page is a
 * handful of block reads sliced by ordinal. Blocks are stored out of line uncompressed
 * (EXTERNAL): pglz on every block cost more than the rest of the write, and sessions are
 * short-lived.
 *
 * `user_pk` has no foreign key to `sync.user_state`: its check would key-share lock the scope's
 * row, which every commit holds FOR UPDATE, so a keep-source snapshot (REPEATABLE READ, no scope
 * lock) created during a commit waited for it and then failed with 40001. Sessions are purged by
 * expiry anyway.
 */
export const SNAPSHOT_TABLES_DDL = `
CREATE UNLOGGED TABLE sync.snapshot_sessions (
  snapshot_id uuid PRIMARY KEY,
  user_pk bigint NOT NULL,
  snapshot_bundle_seq bigint NOT NULL,
  row_count bigint NOT NULL DEFAULT 0,
  byte_count bigint NOT NULL DEFAULT 0,
  expires_at timestamptz NOT NULL
);

-- rows_json is the block's wire SnapshotRow objects joined by ','. Byte offsets (in the database
-- encoding) locate each row for pages that start or end inside the block: row_end_offsets[i] is
-- the end of row i (exclusive) plus one, counted from start_offset, so row i spans
-- [row_end_offsets[i-1] - start_offset, row_end_offsets[i] - start_offset - 1) with the first row
-- starting at 0. payload_bytes sums the block's payload JSON texts (a session's byte_count).
CREATE UNLOGGED TABLE sync.snapshot_session_blocks (
  snapshot_id uuid NOT NULL REFERENCES sync.snapshot_sessions (snapshot_id) ON DELETE CASCADE,
  first_row_ordinal bigint NOT NULL CHECK (first_row_ordinal >= 1),
  row_count integer NOT NULL CHECK (row_count > 0),
  payload_bytes bigint NOT NULL,
  start_offset bigint NOT NULL,
  row_end_offsets bigint[] NOT NULL CHECK (cardinality(row_end_offsets) = row_count),
  rows_json text NOT NULL,
  PRIMARY KEY (snapshot_id, first_row_ordinal)
);
ALTER TABLE sync.snapshot_session_blocks ALTER COLUMN rows_json SET STORAGE EXTERNAL,
  ALTER COLUMN row_end_offsets SET STORAGE EXTERNAL;

CREATE INDEX ss_expires_at_idx ON sync.snapshot_sessions (expires_at);
`;
