import { createHash } from 'node:crypto';
import { canonicalJson, type BundleRow, type JsonObject, type RowOp } from '@oversync/protocol';
import { sql, type Kysely } from 'kysely';
import { toInt } from '../database/pg-values.util.js';
import type { TableCatalog } from '../schema/table-catalog.js';
import type { CommittedBundle } from './committed-bundle.types.js';
import { keyStringFromBytes, toWirePayloadText, wireKey } from './wire-payload.util.js';

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

interface CollapsedRow {
  table_id: number;
  key_bytes: Buffer;
  op_code: number;
  payload: string | null;
}

const OP_NAMES: Record<number, RowOp> = { 1: 'INSERT', 2: 'UPDATE', 3: 'DELETE' };

/** The retained floor after committing `latest`: window-limited, advanced by at most one batch. */
export function nextRetainedFloor(latest: number, currentFloor: number, window: number, batch: number): number {
  const target = Math.max(0, latest - window);
  if (target <= currentFloor) return currentFloor;
  return Math.min(target, currentFloor + batch);
}

/**
 * Collapses the transaction's captured events to one net effect per row and writes the bundle:
 * `bundle_log`, `bundle_rows`, `row_state`, the source watermark, the user's sequence and retained
 * floor, the retention prune and the NOTIFY, in a single statement. Returns null when nothing
 * remains (no sequence is consumed, nothing is written).
 */
export async function finalizeCapturedBundle(
  trx: Kysely<unknown>,
  catalog: TableCatalog,
  target: BundleFinalizeTarget,
  settings: BundleFinalizeSettings,
): Promise<CommittedBundle | null> {
  // Net effect per (table, key): keep the first op and the last op/payload. INSERT…DELETE vanishes;
  // a first INSERT stays an INSERT; any later re-insert of an existing row becomes an UPDATE.
  const collapsed = await sql<CollapsedRow>`
    WITH ev AS (
      SELECT capture_ordinal, table_id, key_bytes, op_code, payload_db
        FROM sync.bundle_capture_stage
       WHERE txid = txid_current() AND user_pk = ${target.userPk}
    ), agg AS (
      SELECT table_id, key_bytes, min(capture_ordinal) AS first_ord, max(capture_ordinal) AS last_ord
        FROM ev GROUP BY table_id, key_bytes
    )
    SELECT a.table_id, a.key_bytes,
           CASE WHEN l.op_code = 3 THEN 3 WHEN f.op_code = 1 THEN 1 ELSE 2 END::int AS op_code,
           l.payload_db::text AS payload
      FROM agg a
      JOIN ev f ON f.capture_ordinal = a.first_ord
      JOIN ev l ON l.capture_ordinal = a.last_ord
     WHERE NOT (f.op_code = 1 AND l.op_code = 3)
     ORDER BY a.first_ord, a.table_id, a.key_bytes`.execute(trx);

  if (collapsed.rows.length === 0) {
    await sql`DELETE FROM sync.bundle_capture_stage WHERE txid = txid_current() AND user_pk = ${target.userPk}`.execute(trx);
    return null;
  }

  const bundleSeq = target.nextBundleSeq;
  const rows: BundleRow[] = [];
  const tableIds: number[] = [];
  const keyBytes: Buffer[] = [];
  const opCodes: number[] = [];
  const payloads: (string | null)[] = [];
  const parts: string[] = [];
  const rowVersionText = String(bundleSeq);
  for (const [i, r] of collapsed.rows.entries()) {
    const table = catalog.byId(toInt(r.table_id));
    const op = OP_NAMES[r.op_code]!;
    const keyString = keyStringFromBytes(table, r.key_bytes);
    const key = wireKey(table, keyString);
    const payloadText = r.op_code === 3 || r.payload === null ? null : toWirePayloadText(table, r.payload);
    // Canonical hash text assembled from already-canonical parts, in sorted key order
    // (key, op, payload, row_ordinal, row_version, schema, table).
    parts.push(
      `{"key":${canonicalJson(key)},"op":"${op}","payload":${payloadText ?? 'null'},"row_ordinal":${i},"row_version":${rowVersionText},"schema":${canonicalJson(table.schema)},"table":${canonicalJson(table.table)}}`,
    );
    const row: BundleRow = { schema: table.schema, table: table.table, key, op, row_version: bundleSeq };
    if (payloadText !== null) row.payload = JSON.parse(payloadText) as JsonObject;
    rows.push(row);
    tableIds.push(table.tableId);
    keyBytes.push(r.key_bytes);
    opCodes.push(r.op_code);
    payloads.push(payloadText);
  }
  const canonical = `[${parts.join(',')}]`;
  const byteCount = Buffer.byteLength(canonical, 'utf8');
  const bundleHash = createHash('sha256').update(canonical, 'utf8').digest('hex');
  const newFloor = nextRetainedFloor(bundleSeq, target.retainedFloor, settings.retainedBundlesPerUser, settings.pruneBatchSize);
  const notifyPayload = JSON.stringify({
    user_pk: target.userPk,
    bundle_seq: bundleSeq,
    source_id: target.sourceId,
    source_bundle_id: target.sourceBundleId,
  });

  await sql`
    WITH seq AS (
      UPDATE sync.user_state SET next_bundle_seq = ${bundleSeq + 1}, retained_bundle_floor = ${newFloor}
       WHERE user_pk = ${target.userPk} AND next_bundle_seq = ${bundleSeq}
      RETURNING user_pk
    ), log AS (
      INSERT INTO sync.bundle_log (user_pk, bundle_seq, source_id, source_bundle_id, row_count, byte_count, bundle_hash)
      SELECT user_pk, ${bundleSeq}, ${target.sourceId}, ${target.sourceBundleId}, ${rows.length}, ${byteCount}, decode(${bundleHash}, 'hex')
        FROM seq
      RETURNING bundle_seq
    ), br AS (
      INSERT INTO sync.bundle_rows (user_pk, bundle_seq, row_ordinal, table_id, key_bytes, op_code, payload_wire)
      SELECT ${target.userPk}, log.bundle_seq, t.ord, t.table_id, t.key_bytes, t.op_code, t.payload
        FROM log, unnest(${tableIds}::int[], ${keyBytes}::bytea[], ${opCodes}::smallint[], ${payloads}::json[])
             WITH ORDINALITY AS t(table_id, key_bytes, op_code, payload, ord)
    ), rs AS (
      INSERT INTO sync.row_state (user_pk, table_id, key_bytes, bundle_seq, deleted)
      SELECT ${target.userPk}, t.table_id, t.key_bytes, log.bundle_seq, t.op_code = 3
        FROM log, unnest(${tableIds}::int[], ${keyBytes}::bytea[], ${opCodes}::smallint[]) AS t(table_id, key_bytes, op_code)
      ON CONFLICT (user_pk, table_id, key_bytes) DO UPDATE SET bundle_seq = EXCLUDED.bundle_seq, deleted = EXCLUDED.deleted
    ), src AS (
      INSERT INTO sync.source_state (user_pk, source_id, state, max_committed_source_bundle_id)
      SELECT ${target.userPk}, ${target.sourceId}, 'active', ${target.sourceBundleId} FROM log
      ON CONFLICT (user_pk, source_id) DO UPDATE
        SET state = 'active', max_committed_source_bundle_id = EXCLUDED.max_committed_source_bundle_id,
            replaced_by_source_id = '', retirement_reason = ''
    ), pruned AS (
      DELETE FROM sync.bundle_log
       WHERE user_pk = ${target.userPk} AND bundle_seq > ${target.retainedFloor} AND bundle_seq <= ${newFloor}
    ), stage AS (
      DELETE FROM sync.bundle_capture_stage WHERE txid = txid_current() AND user_pk = ${target.userPk}
    )
    SELECT (SELECT count(*) FROM log) AS written,
           CASE WHEN ${settings.notifyChannel}::text IS NOT NULL
                THEN pg_notify(${settings.notifyChannel}::text, ${notifyPayload}) END AS notified`.execute(trx);

  return {
    bundle_seq: bundleSeq,
    source_id: target.sourceId,
    source_bundle_id: target.sourceBundleId,
    row_count: rows.length,
    byte_count: byteCount,
    bundle_hash: bundleHash,
    rows,
  };
}
