import { formatRfc3339Nano, type SnapshotSession } from '@oversync/protocol';
import { sql, type Kysely } from 'kysely';
import { toInt } from '../database/pg-values.util.js';
import { SnapshotMaterializationError, SnapshotSessionLimitExceededError } from '../errors/index.js';
import { WireRowJson } from '../pull/wire-row-json.util.js';
import { unescapedPayloadSql } from '../capture/payload-sql.js';
import { renderSettingsSql } from '../capture/render-settings.js';
import { jitOffSql } from '../database/jit-setting.js';
import { readTableColumns } from '../capture/table-columns.js';
import type { CatalogTable, TableCatalog } from '../schema/table-catalog.js';
import { SNAPSHOT_BLOCK_MAX_BYTES, SNAPSHOT_BLOCK_MAX_ROWS } from './snapshot-block.constants.js';

const SCOPE_COLUMN = '_sync_scope_id';
/** Sort memory for materialising (at least; a larger configured `work_mem` is kept). */
const SORT_MEMORY_BYTES = 64 * 1024 * 1024;

/** The scope and frozen sequence a snapshot is materialised for. */
export interface SnapshotTarget {
  snapshotId: string;
  userId: string;
  userPk: number;
  /** Latest committed `bundle_seq` in the materialising transaction's view. */
  snapshotBundleSeq: number;
}

/** Caps and lifetime of a snapshot session (0 caps = unlimited). */
export interface SnapshotLimits {
  maxRows: number;
  maxBytes: number;
  ttlSeconds: number;
}

interface TableCounts {
  inserted: string;
  bytes: string;
  business_rows: string;
  live_rows: string;
}

/**
 * Transaction-local settings for materialisation: no JIT (see JIT_SETTING); the ones that change
 * how PostgreSQL renders row JSON (time zone, float digits, interval style), matching capture; no
 * nested loops; and enough
 * sort memory (64 MiB) to order a 100k-row scope without spilling to disk (a larger scope spills,
 * so this bounds memory, not size). Freshly written rows often have no statistics yet,
 * and then the planner estimates one row_state entry and picks a nested loop that compares every
 * business row with every entry (quadratic: hours for 100k rows). A hash join is linear whatever
 * the statistics say.
 */
export async function prepareMaterialization(trx: Kysely<unknown>): Promise<void> {
  await sql`SELECT ${sql.raw(renderSettingsSql())}, ${sql.raw(jitOffSql())},
                   set_config('enable_nestloop', 'off', true),
                   set_config('work_mem', CASE WHEN pg_size_bytes(current_setting('work_mem')) < ${SORT_MEMORY_BYTES}
                                               THEN ${`${SORT_MEMORY_BYTES / 1024}kB`} ELSE current_setting('work_mem') END, true)`.execute(
    trx,
  );
}

/**
 * Writes a snapshot session and its rows entirely inside PostgreSQL: one `INSERT … SELECT` per
 * registered table (in `table_id` order) joins the scope's business rows to their live
 * `sync.row_state` entries, numbers them 1…N by `(table_id, key_bytes)`, renders each as its wire
 * `SnapshotRow` JSON and stores them in blocks (`sync.snapshot_session_blocks`). Node never holds
 * the rows, so memory stays flat however large the scope is.
 *
 * Payloads are rendered by the same generated SQL as bundle payloads (`payloadSql`, over the table's
 * columns as they stand now), so a row reaches a device as the same canonical JSON text whether a
 * pull or a snapshot delivered it. Each table is cross-checked: business rows, live row_state
 * entries and materialised rows must all match one to one, or the create fails closed.
 *
 * @param trx - a transaction whose view of the scope is frozen (REPEATABLE READ, or the scope lock).
 * @throws SnapshotSessionLimitExceededError when a row or byte cap is exceeded.
 * @throws SnapshotMaterializationError when business rows and row_state disagree.
 */
export async function materializeSnapshot(
  trx: Kysely<unknown>,
  catalog: TableCatalog,
  target: SnapshotTarget,
  limits: SnapshotLimits,
): Promise<SnapshotSession> {
  await prepareMaterialization(trx);
  if (limits.maxRows > 0) {
    // Fail before writing anything when the live row count alone is over the cap.
    const { rows } = await sql<{ n: string }>`
      SELECT count(*)::text AS n FROM sync.row_state WHERE user_pk = ${target.userPk} AND deleted = false`.execute(
      trx,
    );
    const live = toInt(rows[0]?.n);
    if (live > limits.maxRows) throw new SnapshotSessionLimitExceededError('row_count', live, limits.maxRows);
  }
  const session = await sql<{ expires_at: string }>`
    INSERT INTO sync.snapshot_sessions (snapshot_id, user_pk, snapshot_bundle_seq, expires_at)
    VALUES (${target.snapshotId}::uuid, ${target.userPk}, ${target.snapshotBundleSeq}, clock_timestamp() + make_interval(secs => ${limits.ttlSeconds}))
    RETURNING to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS expires_at`.execute(
    trx,
  );

  const { prefixes } = new WireRowJson(catalog).sqlFragments();
  let rowCount = 0;
  let byteCount = 0;
  for (const table of catalog.tables) {
    const counts = await materializeTable(trx, table, prefixes[table.tableId - 1]!, target, rowCount);
    const inserted = toInt(counts.inserted);
    const business = toInt(counts.business_rows);
    const live = toInt(counts.live_rows);
    if (inserted !== business || inserted !== live) {
      throw new SnapshotMaterializationError(table.qualifiedName, {
        snapshot_rows: inserted,
        business_rows: business,
        live_row_state: live,
      });
    }
    rowCount += inserted;
    byteCount += toInt(counts.bytes);
    if (limits.maxRows > 0 && rowCount > limits.maxRows) {
      throw new SnapshotSessionLimitExceededError('row_count', rowCount, limits.maxRows);
    }
    if (limits.maxBytes > 0 && byteCount > limits.maxBytes) {
      throw new SnapshotSessionLimitExceededError('byte_count', byteCount, limits.maxBytes);
    }
  }
  await sql`UPDATE sync.snapshot_sessions SET row_count = ${rowCount}, byte_count = ${byteCount}
             WHERE snapshot_id = ${target.snapshotId}::uuid`.execute(trx);

  // go-oversync field order; byte_count is omitempty (absent for an empty snapshot).
  return {
    snapshot_id: target.snapshotId,
    snapshot_bundle_seq: target.snapshotBundleSeq,
    row_count: rowCount,
    ...(byteCount > 0 ? { byte_count: byteCount } : {}),
    expires_at: formatRfc3339Nano(session.rows[0].expires_at),
  };
}

/**
 * One table's rows as blocks. The inner query renders each row once (in its window's projection)
 * and numbers it; the outer window keeps a running byte total of the rows and their separators
 * over the same order (so PostgreSQL needs no second sort for it), which gives every row's end
 * offset. A block ends every {@link SNAPSHOT_BLOCK_MAX_ROWS} rows and every
 * {@link SNAPSHOT_BLOCK_MAX_BYTES} bytes, whichever comes first, so it stays far below
 * PostgreSQL's 1 GB value limit even for tables of huge rows. Payload bytes are the wire row's
 * length minus what it adds around the payload (naming the payload twice would render it twice).
 */
async function materializeTable(
  trx: Kysely<unknown>,
  table: CatalogTable,
  prefix: string,
  target: SnapshotTarget,
  offset: number,
): Promise<TableCounts> {
  const relation = sql.id(table.schema, table.table);
  const key = sql.id('t', table.keyColumn);
  const uuidKey = table.keyKind === 'uuid';
  const keyBytes = uuidKey ? sql`uuid_send(${key})` : sql`convert_to(${key}, 'UTF8')`;
  const keyJson = uuidKey ? sql`'"' || ${key}::text || '"'` : sql`pg_catalog.to_json(${key}::text)::text`;
  // A dashed UUID in quotes is always 38 bytes; a text key's JSON length varies.
  const keyJsonBytes = uuidKey ? sql`38` : sql`octet_length(pg_catalog.to_json(${key}::text)::text)`;
  // Rendered exactly as bundle payloads are, over the columns as they stand now (a column added
  // since start-up is in the snapshot, as it is in captured payloads). Go's extra escapes are left
  // to chunkJson, which applies them to whole blocks (text keys need them too).
  const payload = sql.raw(
    unescapedPayloadSql(await readTableColumns(trx, table.schema, table.table), 't', table.qualifiedName),
  );
  const { rows } = await sql<TableCounts>`
    WITH numbered AS (
      SELECT n, wire, envelope_bytes,
             sum(octet_length(wire) + 1) OVER (ORDER BY key_bytes ROWS UNBOUNDED PRECEDING) AS end_offset
        FROM (
          SELECT rs.key_bytes, row_number() OVER (ORDER BY rs.key_bytes) AS n,
                 -- Two halves, so the long payload is copied twice, not once per concatenation.
                 (${prefix}::text || ${keyJson} || '},"row_version":' || rs.bundle_seq::text || ',"payload":')
                   || (${payload} || '}') AS wire,
                 -- prefix, key, '},"row_version":' (16), version, ',"payload":' (11), '}' (1)
                 octet_length(${prefix}::text) + ${keyJsonBytes} + 16 + octet_length(rs.bundle_seq::text) + 11 + 1 AS envelope_bytes
            FROM ${relation} t
            JOIN sync.row_state rs
              ON rs.user_pk = ${target.userPk} AND rs.table_id = ${table.tableId} AND rs.key_bytes = ${keyBytes} AND rs.deleted = false
           WHERE t.${sql.id(SCOPE_COLUMN)} = ${target.userId}
        ) r
    ), ins AS (
      INSERT INTO sync.snapshot_session_blocks
        (snapshot_id, first_row_ordinal, row_count, payload_bytes, start_offset, row_end_offsets, rows_json)
      SELECT ${target.snapshotId}::uuid, ${offset}::bigint + min(n), count(*), sum(octet_length(wire) - envelope_bytes),
             min(end_offset - octet_length(wire) - 1), array_agg(end_offset ORDER BY n), string_agg(wire, ',' ORDER BY n)
        FROM numbered
       GROUP BY (n - 1) / ${SNAPSHOT_BLOCK_MAX_ROWS}, (end_offset - octet_length(wire) - 1) / ${SNAPSHOT_BLOCK_MAX_BYTES}
      RETURNING row_count, payload_bytes
    )
    SELECT (SELECT coalesce(sum(row_count), 0) FROM ins)::text AS inserted,
           (SELECT coalesce(sum(payload_bytes), 0) FROM ins)::text AS bytes,
           (SELECT count(*) FROM ${relation} b WHERE b.${sql.id(SCOPE_COLUMN)} = ${target.userId})::text AS business_rows,
           (SELECT count(*) FROM sync.row_state
             WHERE user_pk = ${target.userPk} AND table_id = ${table.tableId} AND deleted = false)::text AS live_rows`.execute(
    trx,
  );
  return rows[0];
}
