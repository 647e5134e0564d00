import { Injectable } from '@nestjs/common';
import type { RowOp } from '@oversync/protocol';
import { sql } from 'kysely';
import { keyStringFromBytes, wireKey } from '../capture/wire-payload.util.js';
import { toInt } from '../database/pg-values.util.js';
import { CommittedBundleNotFoundError, HistoryPrunedError } from '../errors/index.js';
import { OversyncRuntime } from '../runtime/oversync-runtime.service.js';
import type { CommittedBundleRowsPage } from './committed-bundle-rows-json.util.js';

/** Parsed query of `GET /sync/committed-bundles/{bundle_seq}/rows`. */
export interface CommittedBundleRowsQuery {
  bundleSeq: number;
  /** 0-based ordinal of the last row already read; null to start at ordinal 0. */
  afterRowOrdinal: number | null;
  /** Page size, already capped. */
  maxRows: number;
}

const OP_NAMES: Record<number, RowOp> = { 1: 'INSERT', 2: 'UPDATE', 3: 'DELETE' };

/**
 * Pages through one committed bundle of the user (any source's), from one REPEATABLE READ,
 * read-only snapshot, so metadata and rows always agree even while retention prunes.
 */
@Injectable()
export class CommittedBundleRowsService {
  constructor(private readonly runtime: OversyncRuntime) {}

  /**
   * @returns one page; logical ordinals are 0-based (storage is 1-based).
   * @throws HistoryPrunedError when the bundle is at or below the retained floor.
   * @throws CommittedBundleNotFoundError when the user has no such bundle (also when the user has
   *   no sync state at all, where go-oversync answers 500).
   */
  async readPage(userId: string, query: CommittedBundleRowsQuery): Promise<CommittedBundleRowsPage> {
    const { bundleSeq, afterRowOrdinal, maxRows } = query;
    return this.runtime.db
      .transaction()
      .setIsolationLevel('repeatable read')
      .setAccessMode('read only')
      .execute(async (trx) => {
        const { rows: users } = await sql<{ user_pk: string; floor: string }>`
          SELECT user_pk, retained_bundle_floor AS floor FROM sync.user_state WHERE user_id = ${userId}`.execute(
          trx,
        );
        const user = users[0];
        if (!user) throw new CommittedBundleNotFoundError(bundleSeq);
        const floor = toInt(user.floor);
        if (floor > 0 && bundleSeq <= floor) throw new HistoryPrunedError(userId, bundleSeq, floor);
        const { rows: logs } = await sql<{
          source_id: string;
          source_bundle_id: string;
          row_count: string;
          bundle_hash: string;
        }>`
          SELECT source_id, source_bundle_id, row_count, encode(bundle_hash, 'hex') AS bundle_hash
            FROM sync.bundle_log WHERE user_pk = ${user.user_pk} AND bundle_seq = ${bundleSeq}`.execute(trx);
        const log = logs[0];
        if (!log) throw new CommittedBundleNotFoundError(bundleSeq);

        // Storage ordinal = logical + 1, so "after logical N" is "storage > N + 1".
        const afterStorage = afterRowOrdinal === null ? 0 : afterRowOrdinal + 1;
        const { rows } = await sql<{
          row_ordinal: string;
          table_id: number;
          key_bytes: Buffer;
          op_code: number;
          payload: string | null;
        }>`
          SELECT row_ordinal, table_id, key_bytes, op_code, payload_wire::text AS payload
            FROM sync.bundle_rows
           WHERE user_pk = ${user.user_pk} AND bundle_seq = ${bundleSeq} AND row_ordinal > ${afterStorage}
             -- Storage ordinals are dense (1..N): bound the range so a plan without statistics
             -- cannot fetch and sort the whole bundle for one page.
             AND row_ordinal <= ${afterStorage + maxRows + 1}
           ORDER BY row_ordinal
           LIMIT ${maxRows + 1}`.execute(trx);
        const page = rows.slice(0, maxRows);
        const last = page.at(-1);
        return {
          bundle_seq: bundleSeq,
          source_id: log.source_id,
          source_bundle_id: toInt(log.source_bundle_id),
          row_count: toInt(log.row_count),
          bundle_hash: log.bundle_hash,
          rows: page.map((r) => {
            const table = this.runtime.catalog.byId(r.table_id);
            return {
              schema: table.schema,
              table: table.table,
              key: wireKey(table, keyStringFromBytes(table, r.key_bytes)),
              op: OP_NAMES[r.op_code],
              row_version: bundleSeq,
              payloadWire: r.payload,
            };
          }),
          next_row_ordinal: last ? toInt(last.row_ordinal) - 1 : (afterRowOrdinal ?? 0),
          has_more: rows.length > maxRows,
        };
      });
  }
}
