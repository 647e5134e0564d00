import { createHash } from 'node:crypto';
import type { BundleRow, RowOp } from '@oversync/protocol';
import { sql, type Kysely } from 'kysely';
import { toInt } from '../database/pg-values.util.js';
import type { TableCatalog } from '../schema/table-catalog.js';
import type { CommittedBundle } from './committed-bundle.types.js';
import { loadCurrentImages, type ImageRequest } from './current-images.js';
import { TablePayloadEncoder } from './payload-encoder.js';
import { keyStringFromBytes, wireKey } from './wire-payload.util.js';

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

interface StageEvent {
  capture_ordinal: string;
  table_id: number;
  key_bytes: Buffer;
  op_code: number;
}

/** Net effect of one (table, key) over the whole transaction. */
interface NetEffect {
  firstOp: number;
  lastOp: number;
  /** capture_ordinal of the last event: finalisation reads table and key back from that stage row. */
  lastOrdinal: string;
  tableId: number;
  keyBytes: Buffer;
}

const OP_NAMES: Record<number, RowOp> = { 1: 'INSERT', 2: 'UPDATE', 3: 'DELETE' };

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

/** Collapses events (in capture order) to one net effect per (table, key), in first-capture order. */
export function collapseEvents(events: readonly StageEvent[]): NetEffect[] {
  const byKey = new Map<string, NetEffect>();
  for (const e of events) {
    const id = `${e.table_id}:${e.key_bytes.toString('latin1')}`;
    const seen = byKey.get(id);
    if (seen) {
      seen.lastOp = e.op_code;
      seen.lastOrdinal = e.capture_ordinal;
    } else {
      byKey.set(id, {
        firstOp: e.op_code,
        lastOp: e.op_code,
        lastOrdinal: e.capture_ordinal,
        tableId: e.table_id,
        keyBytes: e.key_bytes,
      });
    }
  }
  // INSERT followed (eventually) by DELETE never existed outside this transaction.
  return [...byKey.values()].filter((e) => !(e.firstOp === 1 && e.lastOp === 3));
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
  // Events in capture order; the collapse happens here rather than in SQL because one ordered
  // index scan plus a Map is several times cheaper than GROUP BY and two self-joins.
  const events = await sql<StageEvent>`
    SELECT capture_ordinal, table_id, key_bytes, op_code
      FROM sync.bundle_capture_stage
     WHERE txid = txid_current() AND user_pk = ${target.userPk}`.execute(trx);
  // Sorted here: the planner cannot estimate the per-transaction stage and chose an on-disk sort.
  events.rows.sort((a, b) => Number(a.capture_ordinal) - Number(b.capture_ordinal));
  const effects = collapseEvents(events.rows);

  if (effects.length === 0) {
    if (events.rows.length > 0) {
      await sql`DELETE FROM sync.bundle_capture_stage WHERE txid = txid_current() AND user_pk = ${target.userPk}`.execute(
        trx,
      );
    }
    return null;
  }

  const bundleSeq = target.nextBundleSeq;
  // First INSERT stays INSERT; a row that existed before the transaction is an UPDATE.
  const opCodes = effects.map((e) => (e.lastOp === 3 ? 3 : e.firstOp === 1 ? 1 : 2));
  const ordinals = effects.map((e) => e.lastOrdinal);

  // After-images of inserted/updated rows, read from the business tables as they now stand.
  const keyStrings = effects.map((e) => keyStringFromBytes(catalog.byId(e.tableId), e.keyBytes));
  const imageIndexes: number[] = [];
  const requests: ImageRequest[] = [];
  effects.forEach((e, i) => {
    if (opCodes[i] !== 3) {
      imageIndexes[i] = requests.length;
      requests.push({ tableId: e.tableId, keyString: keyStrings[i] });
    }
  });
  const images = await loadCurrentImages(trx, catalog, target.userId, requests);

  // row_state needs no payloads: send it now so PostgreSQL writes it while Node canonicalises
  // (the largest CPU cost of a big bundle). Its error, if any, surfaces at the await below.
  const rowStateWrite = sql`
    INSERT INTO sync.row_state (user_pk, table_id, key_bytes, bundle_seq, deleted)
    SELECT ${target.userPk}, s.table_id, s.key_bytes, ${bundleSeq}, u.op = 3
      FROM unnest(${ordinals}::bigint[], ${opCodes}::smallint[]) AS u(ord, op)
      JOIN sync.bundle_capture_stage s ON s.capture_ordinal = u.ord
    ON CONFLICT (user_pk, table_id, key_bytes) DO UPDATE SET bundle_seq = EXCLUDED.bundle_seq, deleted = EXCLUDED.deleted`.execute(
    trx,
  );
  rowStateWrite.catch(() => undefined);
  await new Promise<void>((resolve) => setImmediate(resolve));

  const encoders = new Map<number, TablePayloadEncoder>();
  const rows: BundleRow[] = [];
  const payloads: string[] = [];
  const parts: string[] = [];
  const rowVersionText = String(bundleSeq);
  for (const [i, effect] of effects.entries()) {
    const table = catalog.byId(toInt(effect.tableId));
    const opCode = opCodes[i];
    const op = OP_NAMES[opCode];
    const keyString = keyStrings[i];
    const key = wireKey(table, keyString);
    let encoder = encoders.get(table.tableId);
    if (!encoder) encoders.set(table.tableId, (encoder = new TablePayloadEncoder(table)));
    const encoded = opCode === 3 ? null : encoder.encode(images[imageIndexes[i]]);
    const payloadObject = encoded?.object ?? null;
    const payloadText = encoded?.text ?? null;
    // Canonical hash text assembled from already-canonical parts, in sorted key order
    // (key, op, payload, row_ordinal, row_version, schema, table).
    parts.push(
      `{"key":${encoder.keyJson(keyString)},"op":"${op}","payload":${payloadText ?? 'null'},"row_ordinal":${i},"row_version":${rowVersionText},${encoder.schemaTableJson}`,
    );
    const row: BundleRow = { schema: table.schema, table: table.table, key, op, row_version: bundleSeq };
    // The parsed object equals the canonical text's value (canonicalisation only reorders keys and
    // normalises number text), so there is no need to parse the text again.
    if (payloadObject !== null) row.payload = payloadObject;
    rows.push(row);
    payloads.push(payloadText ?? 'null');
  }
  const canonical = `[${parts.join(',')}]`;
  const byteCount = Buffer.byteLength(canonical, 'utf8');
  const bundleHash = createHash('sha256').update(canonical, 'utf8').digest('hex');
  const newFloor = nextRetainedFloor(
    bundleSeq,
    target.retainedFloor,
    settings.retainedBundlesPerUser,
    settings.pruneBatchSize,
  );
  const notifyPayload = JSON.stringify({
    user_pk: target.userPk,
    bundle_seq: bundleSeq,
    source_id: target.sourceId,
    source_bundle_id: target.sourceBundleId,
  });

  // One statement writes everything. Table and key come back from the stage rows (joined on the
  // last event's ordinal) and payloads travel as one JSON array text, so nothing large needs
  // per-element escaping on the way in.
  await rowStateWrite;
  const written = await sql<{ written: string }>`
    WITH seq AS (
      UPDATE sync.user_state SET next_bundle_seq = ${bundleSeq + 1}, retained_bundle_floor = ${newFloor}
       WHERE user_pk = ${target.userPk} AND next_bundle_seq = ${bundleSeq}
      RETURNING user_pk
    ), log AS (
      INSERT INTO sync.bundle_log (user_pk, bundle_seq, source_id, source_bundle_id, row_count, byte_count, bundle_hash)
      SELECT user_pk, ${bundleSeq}, ${target.sourceId}, ${target.sourceBundleId}, ${rows.length}, ${byteCount}, decode(${bundleHash}, 'hex')
        FROM seq
      RETURNING bundle_seq
    ), eff AS (
      SELECT u.n, s.table_id, s.key_bytes, u.op
        FROM unnest(${ordinals}::bigint[], ${opCodes}::smallint[]) WITH ORDINALITY AS u(ord, op, n)
        JOIN sync.bundle_capture_stage s ON s.capture_ordinal = u.ord
    ), br AS (
      INSERT INTO sync.bundle_rows (user_pk, bundle_seq, row_ordinal, table_id, key_bytes, op_code, payload_wire)
      SELECT ${target.userPk}, log.bundle_seq, e.n, e.table_id, e.key_bytes, e.op, CASE WHEN e.op = 3 THEN NULL ELSE p.payload END
        FROM log, eff e
        JOIN json_array_elements(${`[${payloads.join(',')}]`}::json) WITH ORDINALITY AS p(payload, n) ON p.n = e.n
    ), src AS (
      INSERT INTO sync.source_state (user_pk, source_id, state, max_committed_source_bundle_id)
      SELECT ${target.userPk}, ${target.sourceId}, 'active', ${target.sourceBundleId} FROM log
      ON CONFLICT (user_pk, source_id) DO UPDATE
        SET state = 'active', max_committed_source_bundle_id = EXCLUDED.max_committed_source_bundle_id,
            replaced_by_source_id = '', retirement_reason = ''
    ), pruned_log AS (
      DELETE FROM sync.bundle_log
       WHERE user_pk = ${target.userPk} AND bundle_seq > ${target.retainedFloor} AND bundle_seq <= ${newFloor}
    ), pruned_rows AS (
      DELETE FROM sync.bundle_rows
       WHERE user_pk = ${target.userPk} AND bundle_seq > ${target.retainedFloor} AND bundle_seq <= ${newFloor}
    ), stage AS (
      DELETE FROM sync.bundle_capture_stage WHERE txid = txid_current() AND user_pk = ${target.userPk}
    )
    SELECT (SELECT count(*) FROM log)::text AS written,
           CASE WHEN ${settings.notifyChannel}::text IS NOT NULL
                THEN pg_notify(${settings.notifyChannel}::text, ${notifyPayload}) END AS notified`.execute(
    trx,
  );
  if (written.rows[0]?.written !== '1') {
    throw new Error(
      `bundle ${bundleSeq} for ${target.userId} was not written: user_state.next_bundle_seq moved under the scope lock`,
    );
  }

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
