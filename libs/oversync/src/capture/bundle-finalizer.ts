import { sql, type Kysely, type RawBuilder } from 'kysely';
import { toInt } from '../database/pg-values.util.js';
import type { CatalogTable, TableCatalog } from '../schema/table-catalog.js';
import type { CommittedBundle } from './committed-bundle.types.js';
import type { FinalizeStatementCache } from './finalize-statement.js';
import { FINALIZE_PINNED, pinSettingsSql, priorSettingsSql } from './finalize-settings.js';
import { ScopeWriteInvalidError, ScopeWriteTransactionBrokenError } from '../errors/index.js';
import { sqlState } from '../database/pg-values.util.js';
import { quoteIdent } from '../schema/trigger.ddl.js';

/** Everything finalisation needs about the bundle being committed (all read under the scope lock). */
export interface BundleFinalizeTarget {
  userId: string;
  userPk: number;
  sourceId: string;
  sourceBundleId: number;
  /** `user_state.next_bundle_seq` read under lock: the seq this bundle gets. */
  nextBundleSeq: number;
  retainedFloor: number;
}

/** Retention and notification settings applied in the same statement as the bundle write. */
export interface BundleFinalizeSettings {
  retainedBundlesPerUser: number;
  pruneBatchSize: number;
  /** NOTIFY channel, or null when watch is disabled. */
  notifyChannel: string | null;
}

/** The retained floor after committing `latest`: window-limited, advanced by at most one batch. */
export function nextRetainedFloor(
  latest: number,
  currentFloor: number,
  window: number,
  batch: number,
): number {
  const target = Math.max(0, latest - window);
  if (target <= currentFloor) return currentFloor;
  return Math.min(target, currentFloor + batch);
}

interface TouchedTable {
  table_id: number;
  signature: string;
}

interface PreparedState {
  /** The host's values of the pinned settings, by name. */
  prior: Record<string, string>;
  /** `oversync.bundle_user_id` before sealing; empty when the bundle's transaction ended. */
  context: string;
  touched: TouchedTable[] | null;
  repeated: string;
  first_rows: boolean;
}

const UNDEFINED_TABLE = '42P01';

function transactionEnded(target: BundleFinalizeTarget, cause?: unknown): ScopeWriteTransactionBrokenError {
  return new ScopeWriteTransactionBrokenError(target.userId, target.sourceId, 'ended', { cause });
}

/** `set_config` of each pinned setting back to the host's value, as one array expression. */
function restoreSettingsSql(prior: Record<string, string>): RawBuilder<unknown> {
  return sql`ARRAY[${sql.join(
    FINALIZE_PINNED.map((name) => sql`set_config(${name}::text, ${prior[name] ?? ''}::text, true)`),
  )}]`;
}

interface FinalizeResult {
  row_count: string | null;
  missing: string | null;
  byte_count: string | null;
  bundle_hash: string | null;
  written: string;
}

/**
 * Collapses the transaction's captured events to one net effect per row and writes the bundle
 * entirely inside PostgreSQL: payloads are rendered as canonical JSON by SQL generated per table,
 * hashed there, and `bundle_log`, `bundle_rows`, `row_state`, the source watermark, the user's
 * sequence and retained floor, the retention prune and the NOTIFY are written by one statement.
 * Row images never travel to Node, which is what keeps a 100k-row bundle within a small multiple of
 * a plain INSERT. Ends the bundle context, so a later write in the same transaction is refused
 * rather than captured into a bundle that is already sealed. Returns null when nothing remains (no
 * sequence is consumed, nothing is written).
 */
export async function finalizeCapturedBundle(
  trx: Kysely<unknown>,
  catalog: TableCatalog,
  statements: FinalizeStatementCache,
  target: BundleFinalizeTarget,
  settings: BundleFinalizeSettings,
): Promise<CommittedBundle | null> {
  // Reads the host's values of the settings finalisation pins (restored at the end), seals the
  // context, pins the settings (see finalize-settings.ts) and lists the tables touched with their
  // current column signature (a column added since bootstrap must appear in payloads, as it would
  // in row_to_json). OFFSET 0 evaluates the prior values before the pins.
  let prepared;
  try {
    prepared = await sql<PreparedState>`
      SELECT p.prior, p.context, ${sql.raw(pinSettingsSql())} AS pinned,
             set_config('oversync.bundle_user_id', '', true) AS sealed,
             COALESCE(current_setting('oversync.bundle_repeat', true), '') AS repeated,
             NOT EXISTS (SELECT 1 FROM sync.row_state WHERE user_pk = ${target.userPk}) AS first_rows,
             (SELECT pg_catalog.json_agg(pg_catalog.json_build_object('table_id', c.table_id, 'signature', (
                       SELECT string_agg(a.attname || ':' || a.atttypid::text, ',' ORDER BY a.attnum)
                         FROM pg_attribute a
                        WHERE a.attrelid = pg_catalog.format('%I.%I', c.schema_name, c.table_name)::regclass
                          AND a.attnum > 0 AND NOT a.attisdropped)) ORDER BY c.table_id)
                FROM sync.table_catalog c
               WHERE c.table_id IN (SELECT DISTINCT table_id FROM pg_temp.oversync_capture_stage)) AS touched
        FROM (SELECT ${sql.raw(priorSettingsSql())} AS prior,
                     COALESCE(current_setting('oversync.bundle_user_id', true), '') AS context
              OFFSET 0) AS p`.execute(trx);
  } catch (error) {
    // The stage is created by the bundle's first transaction on this connection; it is gone when
    // the callback rolled that transaction back itself.
    if (
      sqlState(error) === UNDEFINED_TABLE &&
      String((error as Error).message).includes('oversync_capture_stage')
    ) {
      throw transactionEnded(target, error);
    }
    throw error;
  }
  const state = prepared.rows[0];
  // The context is transaction-local: empty here means the transaction that began the bundle ended
  // inside the callback (COMMIT or ROLLBACK), and these statements run outside it.
  if (!state?.context) throw transactionEnded(target);
  const restore = restoreSettingsSql(state.prior);
  const touched = state.touched ?? [];
  if (touched.length === 0) {
    await sql`SELECT ${restore}`.execute(trx);
    return null;
  }

  const bundleSeq = target.nextBundleSeq;
  const newFloor = nextRetainedFloor(
    bundleSeq,
    target.retainedFloor,
    settings.retainedBundlesPerUser,
    settings.pruneBatchSize,
  );
  const notifyPayload = notificationPayload(target, bundleSeq);
  const { effects, images, hashed } = await statements.effectsSql(
    trx,
    touched.map((t) => ({ table: catalog.byId(t.table_id), signature: t.signature })),
    state?.repeated === '1',
    { scopeId: target.userId, bundleSeq },
  );

  // A scope's first rows cannot meet an existing row_state entry (every writer of row_state holds
  // the scope lock, and a bundle holds each key once), so they skip the conflict probe: about a
  // fifth of the row_state write of a first 100k-row import.
  const rowStateConflict = state?.first_rows
    ? sql``
    : sql`ON CONFLICT (user_pk, table_id, key_bytes) DO UPDATE SET bundle_seq = EXCLUDED.bundle_seq, deleted = EXCLUDED.deleted`;
  const finalize = sql<FinalizeResult>`
    WITH eff AS MATERIALIZED (${effects}
    ), img AS MATERIALIZED (${images}
    ), digest AS (
      SELECT count(*) AS row_count,
             count(*) FILTER (WHERE e.op <> 3 AND e.payload IS NULL) AS missing,
             -- img is in key order; the hash is over the rows in bundle order.
             '[' || string_agg(${hashed}, ',' ORDER BY e.n) || ']' AS canonical
        FROM img e
    ), summary AS (
      SELECT row_count, missing, octet_length(canonical) AS byte_count, sha256(convert_to(canonical, 'UTF8')) AS bundle_hash
        FROM digest
    ), seq AS (
      UPDATE sync.user_state SET next_bundle_seq = ${bundleSeq + 1}, retained_bundle_floor = ${newFloor}
       WHERE user_pk = ${target.userPk} AND next_bundle_seq = ${bundleSeq}
         AND (SELECT row_count > 0 AND missing = 0 FROM summary)
      RETURNING user_pk
    ), log AS (
      INSERT INTO sync.bundle_log (user_pk, bundle_seq, source_id, source_bundle_id, row_count, byte_count, bundle_hash)
      SELECT seq.user_pk, ${bundleSeq}, ${target.sourceId}, ${target.sourceBundleId}, s.row_count, s.byte_count, s.bundle_hash
        FROM seq, summary s
      RETURNING bundle_seq
    ), br AS (
      INSERT INTO sync.bundle_rows (user_pk, bundle_seq, row_ordinal, table_id, key_bytes, op_code, payload_wire)
      SELECT ${target.userPk}, ${bundleSeq}, i.n, i.table_id, i.key_bytes, i.op, i.payload
        FROM img i
       WHERE EXISTS (SELECT 1 FROM log)
    ), rs AS (
      INSERT INTO sync.row_state (user_pk, table_id, key_bytes, bundle_seq, deleted)
      SELECT ${target.userPk}, i.table_id, i.key_bytes, ${bundleSeq}, i.op = 3
        FROM img i
       WHERE EXISTS (SELECT 1 FROM log)
      ${rowStateConflict}
    ), src AS (
      INSERT INTO sync.source_state (user_pk, source_id, state, max_committed_source_bundle_id)
      SELECT ${target.userPk}, ${target.sourceId}, 'active', ${target.sourceBundleId} FROM log
      ON CONFLICT (user_pk, source_id) DO UPDATE
        SET state = 'active', max_committed_source_bundle_id = EXCLUDED.max_committed_source_bundle_id,
            replaced_by_source_id = '', retirement_reason = ''
    ), pruned_log AS (
      DELETE FROM sync.bundle_log
       WHERE user_pk = ${target.userPk} AND bundle_seq > ${target.retainedFloor} AND bundle_seq <= ${newFloor}
         AND EXISTS (SELECT 1 FROM log)
    ), pruned_rows AS (
      DELETE FROM sync.bundle_rows
       WHERE user_pk = ${target.userPk} AND bundle_seq > ${target.retainedFloor} AND bundle_seq <= ${newFloor}
         AND EXISTS (SELECT 1 FROM log)
    )
    SELECT s.row_count::text, s.missing::text, s.byte_count::text, encode(s.bundle_hash, 'hex') AS bundle_hash,
           (SELECT count(*) FROM log)::text AS written,
           CASE WHEN ${settings.notifyChannel}::text IS NOT NULL AND EXISTS (SELECT 1 FROM log)
                THEN pg_notify(${settings.notifyChannel}::text, ${notifyPayload}) END AS notified,
           -- Evaluated after summary, so after every payload was rendered and hashed; the
           -- bundle_rows and row_state inserts that run later render nothing.
           ${restore} AS restored
      FROM summary s`;
  const { rows } = await finalize.execute(trx).catch((error: unknown) => {
    const state = sqlState(error);
    if (state === STACK_DEPTH_EXCEEDED) throw new NestedTooDeepError(error);
    if (state && UNRENDERABLE_VALUE.has(state)) throw new UnrenderableValueError(error);
    throw error;
  });

  const r = rows[0];
  const missing = toInt(r?.missing ?? '0');
  if (missing > 0) {
    const hidden = await tablesUnderRowSecurity(
      trx,
      touched.map((t) => catalog.byId(t.table_id)),
    );
    if (hidden.tables.length > 0) throw new RowSecurityHidesRowsError(missing, hidden.role, hidden.tables);
    throw new Error(
      `${missing} captured row(s) are missing at finalisation; a write bypassed capture (a business row was removed with triggers disabled)`,
    );
  }
  const rowCount = toInt(r?.row_count ?? '0');
  if (rowCount === 0) return null;
  if (r.written !== '1') {
    throw new Error(
      `bundle ${bundleSeq} for ${target.userId} was not written: user_state.next_bundle_seq moved under the scope lock`,
    );
  }
  return {
    bundle_seq: bundleSeq,
    source_id: target.sourceId,
    source_bundle_id: target.sourceBundleId,
    row_count: rowCount,
    byte_count: toInt(r.byte_count ?? '0'),
    bundle_hash: r.bundle_hash ?? '',
  };
}

/** PostgreSQL refuses NOTIFY payloads of 8000 bytes or more, failing the whole statement. */
const MAX_NOTIFY_BYTES = 7999;

/**
 * The NOTIFY payload of a commit. The source fields are informational (watchers only need the
 * scope and seq), so a source id too long for a NOTIFY is left out rather than failing the commit.
 */
function notificationPayload(target: BundleFinalizeTarget, bundleSeq: number): string {
  const full = JSON.stringify({
    user_pk: target.userPk,
    bundle_seq: bundleSeq,
    source_id: target.sourceId,
    source_bundle_id: target.sourceBundleId,
  });
  if (Buffer.byteLength(full, 'utf8') <= MAX_NOTIFY_BYTES) return full;
  return JSON.stringify({ user_pk: target.userPk, bundle_seq: bundleSeq });
}

/** The session's role and the touched tables (`schema.table`) whose row-level security applies to it. */
async function tablesUnderRowSecurity(
  trx: Kysely<unknown>,
  tables: readonly CatalogTable[],
): Promise<{ role: string; tables: string[] }> {
  const quoted = tables.map((t) => `${quoteIdent(t.schema)}.${quoteIdent(t.table)}`);
  const names = tables.map((t) => t.qualifiedName);
  const { rows } = await sql<{ role: string; tables: string[] | null }>`
    SELECT current_user::text AS role,
           (SELECT array_agg(n ORDER BY n) FROM unnest(${quoted}::text[], ${names}::text[]) AS u (q, n)
             WHERE row_security_active(q::regclass)) AS tables`.execute(trx);
  return { role: rows[0]?.role ?? '', tables: rows[0]?.tables ?? [] };
}

/**
 * Finalisation reads every written row back to render its payload (so do snapshots and conflict
 * answers); a SELECT policy that hides rows the role may write makes them look deleted behind
 * capture's back. Named, instead of the generic "missing rows" failure.
 */
class RowSecurityHidesRowsError extends ScopeWriteInvalidError {
  constructor(missing: number, role: string, tables: readonly string[]) {
    super(
      `${missing} row(s) written in this bundle cannot be read back: row-level security on ${tables.join(', ')} hides them from role ${role}; nothing was committed. ` +
        'Oversync reads every row it syncs (to render bundle payloads, snapshots and conflict answers). ' +
        "Fix: give the role a SELECT policy that shows every row of the scopes it writes, or exempt it from row-level security (BYPASSRLS, or the table's owner without FORCE ROW LEVEL SECURITY)",
      { role, tables, rule: 'row_security_hides_rows' },
    );
  }
}

/** SQLSTATE 54001, `stack depth limit exceeded`. */
const STACK_DEPTH_EXCEEDED = '54001';

/**
 * Canonicalising nested json/jsonb recurses once per level in PL/pgSQL, so a value nested a few
 * hundred levels deep exhausts PostgreSQL's stack (about 650 levels at the default 2 MB
 * `max_stack_depth`; push uploads refuse more than 500). Named, instead of PostgreSQL's bare message.
 */
/**
 * Raised while rendering payloads: a number beyond float64 (22003: a numeric, or a number inside a
 * json, array or composite value) and json holding both `\u0000` and `\u0001` escapes, or one
 * PostgreSQL cannot decode (22P05). The message names `schema.table.column`.
 */
const UNRENDERABLE_VALUE: ReadonlySet<string> = new Set(['22003', '22P05']);

/**
 * A captured row holds a value the wire cannot carry. Typed (a host route answers 400 through
 * `OversyncExceptionFilter`, a push commit `400 push_commit_invalid`) instead of the bare database
 * error, which became a 500. The database error is the `cause`.
 */
class UnrenderableValueError extends ScopeWriteInvalidError {
  constructor(cause: unknown) {
    const { message, hint } = cause as { message: string; hint?: string };
    super(
      `the bundle holds a value the wire cannot carry: ${message}; nothing was written${hint ? `. ${hint}` : ''}`,
      {
        sqlstate: sqlState(cause) ?? '',
      },
    );
    this.cause = cause;
  }
}

class NestedTooDeepError extends ScopeWriteInvalidError {
  constructor(cause: unknown) {
    super(
      "the bundle holds a json or jsonb value nested too deeply to canonicalise (PostgreSQL's stack depth limit; about 650 levels at the default max_stack_depth of 2 MB); nothing was written. Fix: store such documents as text, or flatten them",
      { sqlstate: STACK_DEPTH_EXCEEDED },
    );
    this.cause = cause;
  }
}
