import { SNAPSHOT_TABLES_DDL } from './snapshot-tables.ddl.js';
import { SYNC_LAYOUT } from './sync-layout.constants.js';

/**
 * Tables, sequences and indexes of the `sync` schema (server-internals §1). Run once, inside the
 * bootstrap transaction that holds the bootstrap advisory lock.
 */
export const SYNC_TABLES_DDL = `
CREATE SCHEMA IF NOT EXISTS sync;

CREATE TABLE sync.meta (
  singleton_key boolean PRIMARY KEY CHECK (singleton_key),
  protocol_label text NOT NULL DEFAULT 'v1',
  layout_name text NOT NULL
);

CREATE TABLE sync.table_catalog (
  table_id integer PRIMARY KEY,
  schema_name text NOT NULL,
  table_name text NOT NULL,
  sync_key_column text NOT NULL,
  sync_key_kind smallint NOT NULL CHECK (sync_key_kind IN (1, 2)),
  CONSTRAINT table_catalog_schema_table_key UNIQUE (schema_name, table_name)
);

CREATE TABLE sync.user_state (
  user_pk bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id text NOT NULL UNIQUE,
  next_bundle_seq bigint NOT NULL DEFAULT 1 CHECK (next_bundle_seq >= 1),
  retained_bundle_floor bigint NOT NULL DEFAULT 0,
  CONSTRAINT user_state_floor_chk CHECK (retained_bundle_floor >= 0 AND retained_bundle_floor <= next_bundle_seq - 1)
);

CREATE TABLE sync.scope_state (
  user_pk bigint PRIMARY KEY REFERENCES sync.user_state (user_pk) ON DELETE CASCADE,
  state_code smallint NOT NULL DEFAULT 0 CHECK (state_code IN (0, 1, 2)),
  initializer_source_id text,
  initialization_id uuid,
  lease_expires_at timestamptz,
  initialized_at timestamptz,
  initialized_by_source_id text,
  CONSTRAINT scope_state_fields_chk CHECK (
    (state_code = 0 AND initializer_source_id IS NULL AND initialization_id IS NULL AND lease_expires_at IS NULL
       AND initialized_at IS NULL AND initialized_by_source_id IS NULL)
    OR (state_code = 1 AND initializer_source_id IS NOT NULL AND initialization_id IS NOT NULL AND lease_expires_at IS NOT NULL
       AND initialized_at IS NULL AND initialized_by_source_id IS NULL)
    OR (state_code = 2 AND initializer_source_id IS NULL AND initialization_id IS NULL AND lease_expires_at IS NULL
       AND initialized_at IS NOT NULL AND initialized_by_source_id IS NOT NULL)
  )
);

CREATE TABLE sync.source_state (
  user_pk bigint NOT NULL REFERENCES sync.user_state (user_pk) ON DELETE CASCADE,
  source_id text NOT NULL,
  state text NOT NULL,
  max_committed_source_bundle_id bigint NOT NULL DEFAULT 0,
  replaced_by_source_id text NOT NULL DEFAULT '',
  retirement_reason text NOT NULL DEFAULT '',
  PRIMARY KEY (user_pk, source_id),
  CONSTRAINT source_state_state_chk CHECK (state IN ('active', 'reserved', 'retired')),
  CONSTRAINT source_state_max_committed_chk CHECK (max_committed_source_bundle_id >= 0),
  CONSTRAINT source_state_active_chk CHECK (state <> 'active' OR (replaced_by_source_id = '' AND retirement_reason = '')),
  CONSTRAINT source_state_reserved_chk CHECK (state <> 'reserved'
    OR (replaced_by_source_id = '' AND retirement_reason = '' AND max_committed_source_bundle_id = 0)),
  CONSTRAINT source_state_retired_chk CHECK (state <> 'retired' OR (replaced_by_source_id <> '' AND retirement_reason <> ''))
);

-- row_state and bundle_rows get one row per synced row effect. They deliberately carry no foreign
-- keys: a per-row RI check tripled the cost of large bundles, and every writer of these tables is
-- this library, inside the scope lock (retention prunes bundle_rows explicitly).
CREATE TABLE sync.row_state (
  user_pk bigint NOT NULL,
  table_id integer NOT NULL,
  key_bytes bytea NOT NULL,
  bundle_seq bigint NOT NULL,
  deleted boolean NOT NULL DEFAULT false,
  PRIMARY KEY (user_pk, table_id, key_bytes)
);

CREATE TABLE sync.bundle_log (
  user_pk bigint NOT NULL REFERENCES sync.user_state (user_pk) ON DELETE CASCADE,
  bundle_seq bigint NOT NULL,
  source_id text NOT NULL,
  source_bundle_id bigint NOT NULL,
  row_count bigint NOT NULL,
  byte_count bigint NOT NULL,
  bundle_hash bytea NOT NULL,
  committed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_pk, bundle_seq),
  CONSTRAINT bundle_log_source_tuple_key UNIQUE (user_pk, source_id, source_bundle_id)
);

CREATE TABLE sync.bundle_rows (
  user_pk bigint NOT NULL,
  bundle_seq bigint NOT NULL,
  row_ordinal bigint NOT NULL,
  table_id integer NOT NULL,
  key_bytes bytea NOT NULL,
  op_code smallint NOT NULL CHECK (op_code IN (1, 2, 3)),
  -- Canonical JSON text, written by PostgreSQL itself at finalisation: text, not json, because
  -- re-validating every payload on insert cost a third of the bundle_rows write.
  payload_wire text,
  PRIMARY KEY (user_pk, bundle_seq, row_ordinal),
  CHECK ((payload_wire IS NULL) = (op_code = 3))
);

CREATE TABLE sync.push_sessions (
  push_id uuid PRIMARY KEY,
  user_pk bigint NOT NULL REFERENCES sync.user_state (user_pk) ON DELETE CASCADE,
  source_id text NOT NULL,
  source_bundle_id bigint NOT NULL,
  planned_row_count bigint NOT NULL CHECK (planned_row_count > 0),
  next_expected_row_ordinal bigint NOT NULL DEFAULT 0,
  initialization_id uuid,
  expires_at timestamptz NOT NULL,
  UNIQUE (user_pk, source_id, source_bundle_id),
  CHECK (next_expected_row_ordinal >= 0 AND next_expected_row_ordinal <= planned_row_count)
);

-- No foreign keys either (two RI checks per staged row tripled the cost of a chunk): rows are
-- deleted with their session by every path that ends one (commit, discard, restart, TTL purge).
CREATE TABLE sync.push_session_rows (
  push_id uuid NOT NULL,
  row_ordinal bigint NOT NULL,
  table_id integer NOT NULL,
  key_bytes bytea NOT NULL,
  op_code smallint NOT NULL CHECK (op_code IN (1, 2, 3)),
  base_bundle_seq bigint NOT NULL,
  payload_apply json,
  -- The payload's column names, sorted and comma-joined (NULL for DELETE): the commit plans its
  -- INSERT runs from these without parsing every payload.
  column_list text,
  PRIMARY KEY (push_id, row_ordinal),
  CHECK ((payload_apply IS NULL) = (op_code = 3))
);

${SNAPSHOT_TABLES_DDL}
CREATE SEQUENCE sync.accepted_push_replay_seq;
CREATE SEQUENCE sync.rejected_registered_write_seq;
CREATE SEQUENCE sync.history_pruned_error_seq;

-- No partial "live rows" index on row_state (go-oversync has one): it duplicated the primary key
-- and cost a third of every bundle's row_state write; snapshots use the primary key plus a filter.
CREATE INDEX ps_expires_at_idx ON sync.push_sessions (expires_at);

INSERT INTO sync.meta (singleton_key, protocol_label, layout_name)
VALUES (true, '${SYNC_LAYOUT.protocolLabel}', '${SYNC_LAYOUT.layoutName}');
`;
