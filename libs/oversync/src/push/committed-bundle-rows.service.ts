import { Injectable } from '@nestjs/common';
import type { RowOp } from '@oversync/protocol';
import { sql } from 'kysely';
import { keyStringFromBytes, wireKey } from '../capture/wire-payload.util.js';
import { toInt } from '../database/pg-values.util.js';
import { CommittedBundleNotFoundError, HistoryPrunedError } from '../errors/index.js';
import { JsonPieces } from '../pull/json-pieces.util.js';
import { bundleRowJsonSql, WireRowJson } from '../pull/wire-row-json.util.js';
import { OversyncRuntime } from '../runtime/oversync-runtime.service.js';
import {
  serializeCommittedBundleHead,
  type CommittedBundleRowsPage,
} from './committed-bundle-rows-json.util.js';

/** Parsed query of `GET /sync/committed-bundles/{bundle_seq}/rows`. */
export interface CommittedBundleRowsQuery {
  bundleSeq: number;
  /** 0-based ordinal of the last row already read; null to start at ordinal 0. */
  afterRowOrdinal: number | null;
  /** Page size, already capped. */
  maxRows: number;
  /**
   * The cursor's digits when it was beyond the safe-integer range (and `afterRowOrdinal` was
   * clamped): an empty page echoes them exactly in `next_row_ordinal`, as go-oversync does.
   */
  afterRowOrdinalText?: string;
}

const OP_NAMES: Record<number, RowOp> = { 1: 'INSERT', 2: 'UPDATE', 3: 'DELETE' };

/** The bundle's metadata, as the page query's first row carries it. */
interface BundleLog {
  source_id: string;
  source_bundle_id: number;
  row_count: number;
  bundle_hash: string;
}

/** The first row of a page query: the user's floor and, above it, the bundle's metadata. */
interface MetaRow {
  floor: string;
  /** Null when the user has no such bundle above the floor. */
  log: BundleLog | null;
}

/** Every further row of a page query: one committed row, as fields or as rendered JSON. */
interface BundleRow {
  row_ordinal: string;
  table_id: number;
  key_bytes: Buffer;
  op_code: number;
  payload: string | null;
  row_json: string | null;
}

/** A checked page: metadata and up to `maxRows + 1` rows (the extra one tells `has_more`). */
interface PageRows {
  log: BundleLog;
  rows: BundleRow[];
}

/**
 * Pages through one committed bundle of the user (any source's) with one statement: a statement
 * reads one snapshot, so metadata and rows always agree even while retention prunes.
 */
@Injectable()
export class CommittedBundleRowsService {
  #rowJson: WireRowJson | undefined;

  constructor(private readonly runtime: OversyncRuntime) {}

  /**
   * @returns one page; logical ordinals are 0-based (storage is 1-based).
   * @throws HistoryPrunedError when the bundle is at or below the retained floor.
   * @throws CommittedBundleNotFoundError when the user has no such bundle (also when the user has
   *   no sync state at all, where go-oversync answers 500).
   */
  async readPage(userId: string, query: CommittedBundleRowsQuery): Promise<CommittedBundleRowsPage> {
    const { log, rows } = await this.#read(userId, query, false);
    const page = rows.slice(0, query.maxRows);
    return {
      bundle_seq: query.bundleSeq,
      ...log,
      rows: page.map((r) => {
        const table = this.runtime.catalog.byId(r.table_id);
        return {
          schema: table.schema,
          table: table.table,
          key: wireKey(table, keyStringFromBytes(table, r.key_bytes)),
          op: OP_NAMES[r.op_code],
          row_version: query.bundleSeq,
          payloadWire: r.payload,
        };
      }),
      next_row_ordinal: nextRowOrdinal(page, query),
      has_more: rows.length > query.maxRows,
    };
  }

  /**
   * One page as the JSON text go-oversync's encoder writes (no trailing newline). A page larger
   * than V8's longest string (about 512 MiB) cannot be one string: serve it with
   * {@link readPageJsonPieces}.
   * @throws see {@link readPage}.
   */
  async readPageJson(userId: string, query: CommittedBundleRowsQuery): Promise<string> {
    return (await this.readPageJsonPieces(userId, query)).join('');
  }

  /**
   * One page as go-oversync's JSON text in pieces to be written in order (no trailing newline):
   * up to `max_rows_per_committed_bundle_chunk` rows of any size may exceed what a string can
   * hold. Rows are rendered inside PostgreSQL around the stored payload text, as pull renders
   * them, so Node only joins.
   * @throws see {@link readPage}.
   */
  async readPageJsonPieces(userId: string, query: CommittedBundleRowsQuery): Promise<string[]> {
    const { log, rows } = await this.#read(userId, query, true);
    const page = rows.slice(0, query.maxRows);
    const out = new JsonPieces();
    out.push(`${serializeCommittedBundleHead({ bundle_seq: query.bundleSeq, ...log })},"rows":[`);
    for (const [i, r] of page.entries()) {
      if (r.row_json === null) {
        throw new Error(`bundle ${query.bundleSeq} has a row of a table outside the sync catalog`);
      }
      out.push(i === 0 ? r.row_json : `,${r.row_json}`);
    }
    const next =
      page.length === 0 && query.afterRowOrdinalText
        ? query.afterRowOrdinalText
        : nextRowOrdinal(page, query);
    out.push(`],"next_row_ordinal":${next},"has_more":${rows.length > query.maxRows}}`);
    return out.finish();
  }

  async #read(userId: string, query: CommittedBundleRowsQuery, json: boolean): Promise<PageRows> {
    const { bundleSeq, afterRowOrdinal, maxRows } = query;
    // Storage ordinal = logical + 1, so "after logical N" is "storage > N + 1".
    const afterStorage = afterRowOrdinal === null ? 0 : afterRowOrdinal + 1;
    const fields = json
      ? sql`NULL::integer, NULL::bytea, NULL::smallint, NULL::text, ${bundleRowJsonSql(this.#wireRows())}`
      : sql`r.table_id, r.key_bytes, r.op_code, r.payload_wire::text, NULL::text`;
    // The bundle and its rows are read only above the retained floor (bundle_seq is > 0).
    const { rows } = await sql<MetaRow | BundleRow>`
      WITH u AS (
        SELECT user_pk, retained_bundle_floor FROM sync.user_state WHERE user_id = ${userId}
      ), log AS (
        SELECT b.user_pk, b.source_id, b.source_bundle_id, b.row_count, encode(b.bundle_hash, 'hex') AS bundle_hash
          FROM u JOIN sync.bundle_log b ON b.user_pk = u.user_pk AND b.bundle_seq = ${bundleSeq}
         WHERE ${bundleSeq} > u.retained_bundle_floor
      )
      SELECT 0::bigint AS row_ordinal, u.retained_bundle_floor::text AS floor,
             (SELECT json_build_object('source_id', source_id, 'source_bundle_id', source_bundle_id,
                                       'row_count', row_count, 'bundle_hash', bundle_hash) FROM log) AS log,
             NULL::integer AS table_id, NULL::bytea AS key_bytes, NULL::smallint AS op_code, NULL::text AS payload,
             NULL::text AS row_json
        FROM u
      UNION ALL
      -- The user's key as a value, not a join: a join let the planner probe bundle_log once per
      -- row and sort rows the primary-key scan already returns in order.
      (SELECT r.row_ordinal, NULL, NULL, ${fields}
         FROM sync.bundle_rows r
        WHERE r.user_pk = (SELECT user_pk FROM log) AND r.bundle_seq = ${bundleSeq} AND r.row_ordinal > ${afterStorage}
          -- Storage ordinals are dense (1..N): bound the range so a plan without statistics
          -- cannot fetch and sort the whole bundle for one page.
          AND r.row_ordinal <= ${afterStorage + maxRows + 1}
        ORDER BY r.row_ordinal
        LIMIT ${maxRows + 1})
      ORDER BY row_ordinal`.execute(this.runtime.db);
    // Storage ordinals start at 1, so the metadata row (ordinal 0) comes first; no user, no rows.
    const [meta, ...all] = rows as [MetaRow?, ...BundleRow[]];
    if (!meta) throw new CommittedBundleNotFoundError(bundleSeq);
    const floor = toInt(meta.floor);
    if (floor > 0 && bundleSeq <= floor) throw new HistoryPrunedError(userId, bundleSeq, floor);
    if (!meta.log) throw new CommittedBundleNotFoundError(bundleSeq);
    return { log: meta.log, rows: all };
  }

  #wireRows(): WireRowJson {
    this.#rowJson ??= new WireRowJson(this.runtime.catalog);
    return this.#rowJson;
  }
}

/** The logical ordinal of the page's last row; with no rows, the cursor given (0 when none). */
function nextRowOrdinal(page: readonly BundleRow[], query: CommittedBundleRowsQuery): number {
  const last = page.at(-1);
  return last ? toInt(last.row_ordinal) - 1 : (query.afterRowOrdinal ?? 0);
}
