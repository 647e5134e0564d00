import { SQLSTATE } from './sync-layout.constants.js';

/**
 * PL/pgSQL functions of the `sync` schema. Unlike go-oversync we `CREATE OR REPLACE` them on every
 * bootstrap, so a library upgrade that fixes a function body takes effect without dropping data.
 *
 * Capture is statement-level with transition tables: one `INSERT … SELECT` per statement instead of
 * one PL/pgSQL call and one stage insert per row, which is what keeps bulk writes near plain-INSERT
 * speed. The row-level BEFORE trigger stays, because only it can fill `_sync_scope_id` on INSERT and
 * reject a write row by row (a cross-scope UPDATE fails rather than silently skipping rows).
 */
export const SYNC_FUNCTIONS_DDL = `
CREATE OR REPLACE FUNCTION sync.enforce_registered_row_owner() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
  v_actor text := NULLIF(current_setting('oversync.bundle_user_id', true), '');
BEGIN
  IF v_actor IS NULL THEN
    -- A sequence survives the rollback this exception causes, so the rejection stays counted.
    PERFORM nextval('sync.rejected_registered_write_seq');
    RAISE EXCEPTION 'write to registered table %.% requires oversync sync bundle context', TG_TABLE_SCHEMA, TG_TABLE_NAME
      USING ERRCODE = '${SQLSTATE.noBundleContext}',
            HINT = 'Write registered tables through ScopeManager.execWrite, @ScopeWrite, SyncService.withinSyncBundle or the sync push API.';
  END IF;
  IF TG_OP = 'INSERT' THEN
    IF NEW._sync_scope_id IS NULL OR NEW._sync_scope_id = '' THEN
      NEW._sync_scope_id := v_actor;
    ELSIF NEW._sync_scope_id <> v_actor THEN
      RAISE EXCEPTION 'scope mismatch on %.%: actor % cannot write owner %', TG_TABLE_SCHEMA, TG_TABLE_NAME, v_actor, NEW._sync_scope_id
        USING ERRCODE = '${SQLSTATE.scopeViolation}';
    END IF;
    RETURN NEW;
  ELSIF TG_OP = 'UPDATE' THEN
    IF OLD._sync_scope_id IS DISTINCT FROM v_actor THEN
      RAISE EXCEPTION 'scope mismatch on %.%: actor % cannot update owner %', TG_TABLE_SCHEMA, TG_TABLE_NAME, v_actor, OLD._sync_scope_id
        USING ERRCODE = '${SQLSTATE.scopeViolation}', HINT = 'Filter UPDATE statements on _sync_scope_id.';
    END IF;
    IF NEW._sync_scope_id IS DISTINCT FROM OLD._sync_scope_id THEN
      RAISE EXCEPTION 'scope mutation is not allowed on %.% (owner % -> %)', TG_TABLE_SCHEMA, TG_TABLE_NAME, OLD._sync_scope_id, NEW._sync_scope_id
        USING ERRCODE = '${SQLSTATE.scopeViolation}';
    END IF;
    RETURN NEW;
  END IF;
  IF OLD._sync_scope_id IS DISTINCT FROM v_actor THEN
    RAISE EXCEPTION 'scope mismatch on %.%: actor % cannot delete owner %', TG_TABLE_SCHEMA, TG_TABLE_NAME, v_actor, OLD._sync_scope_id
      USING ERRCODE = '${SQLSTATE.scopeViolation}', HINT = 'Filter DELETE statements on _sync_scope_id.';
  END IF;
  RETURN OLD;
END
$fn$;

CREATE OR REPLACE FUNCTION sync.capture_registered_rows() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
  v_actor text := NULLIF(current_setting('oversync.bundle_user_id', true), '');
  v_user_pk bigint;
  v_key_col text := TG_ARGV[0];
  v_table_id integer := TG_ARGV[2]::integer;
  v_old_key text;
  v_new_key text;
  v_bad bigint;
BEGIN
  IF v_actor IS NULL THEN
    -- The row-level guard already rejected every affected row; a statement that touched no row
    -- has nothing to capture.
    RETURN NULL;
  END IF;
  v_user_pk := NULLIF(current_setting('oversync.bundle_user_pk', true), '')::bigint;
  IF v_user_pk IS NULL THEN
    RAISE EXCEPTION 'sync bundle context for %.% has no user_pk', TG_TABLE_SCHEMA, TG_TABLE_NAME
      USING ERRCODE = '${SQLSTATE.noBundleContext}';
  END IF;
  IF TG_ARGV[1] = '1' THEN
    v_old_key := format('uuid_send(r.%I)', v_key_col);
    v_new_key := v_old_key;
  ELSE
    v_old_key := format('convert_to(r.%I, ''UTF8'')', v_key_col);
    v_new_key := v_old_key;
  END IF;

  -- Re-check ownership after every BEFORE trigger ran (a user trigger sorting after ours could
  -- have changed NEW), and refuse NULL sync keys, which could never be addressed by clients.
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    EXECUTE format('SELECT count(*) FROM oversync_new r WHERE r._sync_scope_id IS DISTINCT FROM $1 OR r.%I IS NULL', v_key_col)
      INTO v_bad USING v_actor;
    IF v_bad > 0 THEN
      RAISE EXCEPTION '% row(s) written to %.% have a NULL sync key or an owner other than %', v_bad, TG_TABLE_SCHEMA, TG_TABLE_NAME, v_actor
        USING ERRCODE = '${SQLSTATE.scopeViolation}';
    END IF;
  END IF;

  IF TG_OP = 'INSERT' THEN
    EXECUTE format(
      'INSERT INTO sync.bundle_capture_stage (txid, user_pk, table_id, op_code, key_bytes)
       SELECT txid_current(), $1, $2, 1, %s FROM oversync_new r', v_new_key)
      USING v_user_pk, v_table_id;
  ELSIF TG_OP = 'DELETE' THEN
    EXECUTE format(
      'INSERT INTO sync.bundle_capture_stage (txid, user_pk, table_id, op_code, key_bytes)
       SELECT txid_current(), $1, $2, 3, %s FROM oversync_old r', v_old_key)
      USING v_user_pk, v_table_id;
  ELSE
    -- Pair old and new images by key: a key present on both sides is an UPDATE; a key that
    -- disappeared is a DELETE and a key that appeared an INSERT (a sync-key change), the DELETE
    -- staged first as in row-level capture.
    EXECUTE format(
      'WITH o AS (SELECT %s AS kb, row_number() OVER () AS ord FROM oversync_old r),
            n AS (SELECT %s AS kb, row_number() OVER () AS ord FROM oversync_new r)
       INSERT INTO sync.bundle_capture_stage (txid, user_pk, table_id, op_code, key_bytes)
       SELECT txid_current(), $1, $2,
              CASE WHEN n.kb IS NULL THEN 3 WHEN o.kb IS NULL THEN 1 ELSE 2 END,
              COALESCE(n.kb, o.kb)
       FROM o FULL JOIN n ON o.kb = n.kb
       ORDER BY COALESCE(o.ord, n.ord), (n.kb IS NOT NULL)', v_old_key, v_new_key)
      USING v_user_pk, v_table_id;
  END IF;
  RETURN NULL;
END
$fn$;

CREATE OR REPLACE FUNCTION sync.reject_registered_truncate() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
  -- TRUNCATE fires no row triggers, so it would bypass capture and desynchronise every client.
  RAISE EXCEPTION 'TRUNCATE of registered table %.% is not allowed', TG_TABLE_SCHEMA, TG_TABLE_NAME
    USING ERRCODE = '${SQLSTATE.truncateBlocked}',
          HINT = 'Delete the rows inside a scope write (DELETE ... WHERE _sync_scope_id = $1) so clients see the deletes.';
END
$fn$;

-- Serialises writers of one scope (advisory lock held to the end of the transaction), pins the
-- session settings that change to_jsonb output, creates the scope's state rows on first use,
-- locks them, lazily expires a stale initialization lease and returns the state in one round trip.
CREATE OR REPLACE FUNCTION sync.lock_scope(p_user_id text, p_source_id text)
RETURNS TABLE (
  user_pk bigint, state_code smallint, initializer_source_id text, initialization_id uuid,
  lease_expires_at text, lease_expired boolean, next_bundle_seq bigint, retained_bundle_floor bigint,
  source_state text, max_committed_source_bundle_id bigint, replaced_by_source_id text
)
LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
DECLARE
  v_pk bigint;
  v_expired boolean;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtextextended(p_user_id, 0));
  PERFORM set_config('TimeZone', 'UTC', true), set_config('bytea_output', 'hex', true),
          set_config('extra_float_digits', '1', true), set_config('IntervalStyle', 'iso_8601', true);
  SELECT us.user_pk INTO v_pk FROM sync.user_state us WHERE us.user_id = p_user_id;
  IF v_pk IS NULL THEN
    INSERT INTO sync.user_state (user_id) VALUES (p_user_id) RETURNING user_pk INTO v_pk;
  END IF;
  INSERT INTO sync.scope_state (user_pk) VALUES (v_pk) ON CONFLICT DO NOTHING;
  PERFORM 1 FROM sync.scope_state s JOIN sync.user_state u ON u.user_pk = s.user_pk WHERE s.user_pk = v_pk FOR UPDATE;
  UPDATE sync.scope_state s
     SET state_code = 0, initializer_source_id = NULL, initialization_id = NULL, lease_expires_at = NULL
   WHERE s.user_pk = v_pk AND s.state_code = 1 AND s.lease_expires_at <= now();
  v_expired := FOUND;
  PERFORM 1 FROM sync.source_state ss WHERE ss.user_pk = v_pk AND ss.source_id = p_source_id FOR UPDATE;
  RETURN QUERY
    SELECT s.user_pk, s.state_code, s.initializer_source_id, s.initialization_id,
           to_char(s.lease_expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), v_expired,
           u.next_bundle_seq, u.retained_bundle_floor,
           ss.state, COALESCE(ss.max_committed_source_bundle_id, 0), COALESCE(ss.replaced_by_source_id, '')
      FROM sync.scope_state s
      JOIN sync.user_state u ON u.user_pk = s.user_pk
      LEFT JOIN sync.source_state ss ON ss.user_pk = s.user_pk AND ss.source_id = p_source_id
     WHERE s.user_pk = v_pk;
END
$fn$;

-- Marks the transaction as one sync bundle of (user, source, source_bundle_id). The settings are
-- transaction-local; a pooled connection keeps them afterwards only as '' (treated as absent).
CREATE OR REPLACE FUNCTION sync.begin_bundle_context(
  p_user_id text, p_user_pk bigint, p_source_id text, p_source_bundle_id bigint, p_initialization_id text
) RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
  v_user text := NULLIF(current_setting('oversync.bundle_user_id', true), '');
  v_source text := NULLIF(current_setting('oversync.bundle_source_id', true), '');
BEGIN
  IF (v_user IS NOT NULL AND v_user <> p_user_id) OR (v_source IS NOT NULL AND v_source <> p_source_id) THEN
    RAISE EXCEPTION 'transaction already carries conflicting sync bundle context (user %, source %)', v_user, v_source
      USING ERRCODE = '${SQLSTATE.conflictingContext}';
  END IF;
  PERFORM set_config('oversync.bundle_user_id', p_user_id, true),
          set_config('oversync.bundle_user_pk', p_user_pk::text, true),
          set_config('oversync.bundle_source_id', p_source_id, true),
          set_config('oversync.bundle_source_bundle_id', p_source_bundle_id::text, true),
          set_config('oversync.bundle_initialization_id', COALESCE(p_initialization_id, ''), true);
  SET CONSTRAINTS ALL DEFERRED;
END
$fn$;
`;
