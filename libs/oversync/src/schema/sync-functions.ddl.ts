import { renderSettingsSql } from '../capture/render-settings.js';
import { jitOffSql } from '../database/jit-setting.js';
import { SQLSTATE } from './sync-layout.constants.js';

/**
 * PL/pgSQL functions of the `sync` schema. Unlike go-oversync we `CREATE OR REPLACE` them on every
 * bootstrap, so a library upgrade that fixes a function body takes effect without dropping data.
 *
 * Capture is statement-level with transition tables: one `INSERT … SELECT` per statement into a
 * per-session temporary stage instead of one PL/pgSQL call and one stage insert per row, which is
 * what keeps bulk writes near plain-INSERT speed. The bundle context and row ownership are checked
 * per statement too. The row-level BEFORE guard only fires (trigger `WHEN` clauses, evaluated
 * without calling PL/pgSQL) for rows whose `_sync_scope_id` must be filled in or would change.
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
  v_key_col text := TG_ARGV[0];
  v_table_id integer := TG_ARGV[2]::integer;
  v_key text := format('r.%I::text', TG_ARGV[0]);
  v_seen text;
  v_bad bigint;
  v_touched boolean;
BEGIN
  IF v_actor IS NULL THEN
    -- The row-level guard only fires for rows that need their owner filled or changed, so the
    -- bundle context is enforced here, once per statement that touched any row.
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I)', CASE WHEN TG_OP = 'DELETE' THEN 'oversync_old' ELSE 'oversync_new' END)
      INTO v_touched;
    IF v_touched THEN
      -- A sequence survives the rollback this exception causes, so the rejection stays counted.
      PERFORM nextval('sync.rejected_registered_write_seq');
      RAISE EXCEPTION 'write to registered table %.% requires oversync sync bundle context', TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = '${SQLSTATE.noBundleContext}',
              HINT = 'Write registered tables through ScopeManager.execWrite, @ScopeWrite, SyncService.withinSyncBundle or the sync push API.';
    END IF;
    RETURN NULL;
  END IF;

  -- Ownership, checked once per statement over the transition tables (after every BEFORE trigger
  -- ran, so a user trigger sorting after ours cannot sneak a foreign owner in). NULL sync keys are
  -- refused too: clients could never address such a row.
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    EXECUTE 'SELECT count(*) FROM oversync_old r WHERE r._sync_scope_id IS DISTINCT FROM $1' INTO v_bad USING v_actor;
    IF v_bad > 0 THEN
      RAISE EXCEPTION 'scope mismatch on %.%: actor % cannot % % row(s) of another owner', TG_TABLE_SCHEMA, TG_TABLE_NAME, v_actor, lower(TG_OP), v_bad
        USING ERRCODE = '${SQLSTATE.scopeViolation}', HINT = format('Filter %s statements on _sync_scope_id.', TG_OP);
    END IF;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    EXECUTE format('SELECT count(*) FROM oversync_new r WHERE r._sync_scope_id IS DISTINCT FROM $1 OR r.%I IS NULL', v_key_col)
      INTO v_bad USING v_actor;
    IF v_bad > 0 THEN
      RAISE EXCEPTION 'scope mismatch on %.%: % row(s) written have a NULL sync key or an owner other than %', TG_TABLE_SCHEMA, TG_TABLE_NAME, v_bad, v_actor
        USING ERRCODE = '${SQLSTATE.scopeViolation}';
    END IF;
  END IF;

  -- A table captured by more than one statement can hold several events per key, which sends
  -- finalisation down its collapsing path (one statement never stages a key twice). The GUC
  -- rolls back with a savepoint, like the stage rows it describes.
  v_seen := COALESCE(current_setting('oversync.bundle_tables', true), '');
  IF strpos(v_seen, ',' || v_table_id || ',') > 0 THEN
    PERFORM set_config('oversync.bundle_repeat', '1', true);
  ELSE
    PERFORM set_config('oversync.bundle_tables', CASE WHEN v_seen = '' THEN ',' ELSE v_seen END || v_table_id || ',', true);
  END IF;

  -- The stage is a per-session temporary table (created by sync.begin_bundle_context, emptied at
  -- COMMIT): no WAL, no shared buffers, no index, and no dead rows left for VACUUM.
  IF TG_OP = 'INSERT' THEN
    EXECUTE format('INSERT INTO pg_temp.oversync_capture_stage (table_id, op_code, key_text) SELECT $1, 1, %s FROM oversync_new r', v_key)
      USING v_table_id;
  ELSIF TG_OP = 'DELETE' THEN
    EXECUTE format('INSERT INTO pg_temp.oversync_capture_stage (table_id, op_code, key_text) SELECT $1, 3, %s FROM oversync_old r', v_key)
      USING v_table_id;
  ELSE
    -- Pair old and new images by key: a key present on both sides is an UPDATE; a key that
    -- disappeared is a DELETE and a key that appeared an INSERT (a sync-key change), the DELETE
    -- staged first. Rows an ON UPDATE CASCADE changes land in the same transition tables, so one
    -- key can appear several times on a side (a self-reference updating a row the statement already
    -- moved, or two foreign keys cascading into one row): keys are counted, not paired, and more
    -- images after than before is a row that now exists (INSERT), fewer one that is gone (DELETE).
    -- Each key is staged once per statement.
    EXECUTE format(
      'WITH o AS (SELECT k, count(*) AS c, min(ord) AS ord
                    FROM (SELECT %s AS k, row_number() OVER () AS ord FROM oversync_old r) x GROUP BY k),
            n AS (SELECT k, count(*) AS c, min(ord) AS ord
                    FROM (SELECT %s AS k, row_number() OVER () AS ord FROM oversync_new r) x GROUP BY k)
       INSERT INTO pg_temp.oversync_capture_stage (table_id, op_code, key_text)
       SELECT $1, CASE WHEN COALESCE(n.c, 0) > COALESCE(o.c, 0) THEN 1
                       WHEN COALESCE(n.c, 0) < COALESCE(o.c, 0) THEN 3 ELSE 2 END, COALESCE(n.k, o.k)
       FROM o FULL JOIN n ON o.k = n.k
       ORDER BY COALESCE(o.ord, n.ord), (n.k IS NOT NULL)', v_key, v_key)
      USING v_table_id;
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
-- session settings that change how values are read and printed (unless p_pin_settings is false:
-- a host callback runs next and must see its own session's settings), creates the scope's state
-- rows on first use, locks them, lazily expires a stale initialization lease and returns the
-- state in one round trip. The two-argument version of earlier builds is replaced (instances of
-- an earlier build still call it with two arguments, which the default keeps working).
DROP FUNCTION IF EXISTS sync.lock_scope(text, text);
CREATE OR REPLACE FUNCTION sync.lock_scope(p_user_id text, p_source_id text, p_pin_settings boolean DEFAULT true)
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
  IF p_pin_settings THEN
    -- Settings values are read and printed with (see RENDER_SETTINGS), and no JIT (see JIT_SETTING).
    PERFORM ${renderSettingsSql()}, ${jitOffSql()};
  END IF;
  SELECT us.user_pk INTO v_pk FROM sync.user_state us WHERE us.user_id = p_user_id;
  IF v_pk IS NULL THEN
    INSERT INTO sync.user_state (user_id) VALUES (p_user_id) RETURNING user_pk INTO v_pk;
  END IF;
  INSERT INTO sync.scope_state (user_pk) VALUES (v_pk) ON CONFLICT DO NOTHING;
  PERFORM 1 FROM sync.scope_state s JOIN sync.user_state u ON u.user_pk = s.user_pk WHERE s.user_pk = v_pk FOR UPDATE;
  -- The lease is judged when the lock is held, not when the transaction began (now()): a request
  -- that waited for the lock past the lease's end must see it ended, as go-oversync does.
  UPDATE sync.scope_state s
     SET state_code = 0, initializer_source_id = NULL, initialization_id = NULL, lease_expires_at = NULL
   WHERE s.user_pk = v_pk AND s.state_code = 1 AND s.lease_expires_at <= clock_timestamp();
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
  IF to_regclass('pg_temp.oversync_capture_stage') IS NULL THEN
    -- One stage per session, reused by every bundle on this connection; ON COMMIT DELETE ROWS
    -- empties it at the end of each transaction (a rollback discards its rows anyway).
    CREATE TEMPORARY TABLE oversync_capture_stage (
      capture_ordinal bigint GENERATED ALWAYS AS IDENTITY,
      table_id integer NOT NULL,
      op_code smallint NOT NULL,
      key_text text NOT NULL
    ) ON COMMIT DELETE ROWS;
  END IF;
  IF v_user IS NULL THEN
    -- A fresh bundle (not a nested call joining this one): clear the capture flags.
    PERFORM set_config('oversync.bundle_tables', '', true), set_config('oversync.bundle_repeat', '', true);
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
