import {
  type SnapshotChunkResponse,
  type SnapshotRow,
  type SnapshotSession,
  type SnapshotSessionCreateRequest,
} from '@oversync/protocol';

import { WireGuard } from '../transport/wire-guards.js';
import { RowBatch } from './row-batch.js';
import { wireKeyToLocalKey } from './row-codec.js';
import { type SyncContext } from './sync-context.js';

/** A fully downloaded snapshot, already decoded for the bulk writer. */
export interface SnapshotDownload {
  session: SnapshotSession;
  /** Every row in server order, as upsert batches (one per run of rows of one table). */
  batches: RowBatch[];
  /** Rows in `batches`. */
  rowCount: number;
}

/** Chunk requests kept in flight ahead of the one being validated. */
const PREFETCH = 2;

interface Page {
  rows: SnapshotRow[];
  hasMore: boolean;
}

/**
 * Creates a snapshot session and downloads every chunk (1-based ordinals). Each request is retried
 * on transient failures; any other failure (including a row that does not decode) deletes the
 * session best-effort and rethrows. Business tables are untouched until `applySnapshot`.
 *
 * The session's `row_count` tells where every full chunk starts, so up to {@link PREFETCH} later
 * chunks are requested while the current one is awaited: the server works on them in parallel.
 * Pages are still consumed strictly in order and each is validated against the position it was
 * asked for; a short page (a server with a smaller chunk cap) discards the guesses and continues
 * from the real position. Each consumed page is decoded into SQL values while the later chunks are
 * still in flight, so the final apply only writes.
 */
export async function downloadSnapshot(
  ctx: SyncContext,
  body?: SnapshotSessionCreateRequest,
): Promise<SnapshotDownload> {
  const guard = new WireGuard('snapshot session create');
  const raw = guard.object(
    await ctx.transport.retry('snapshot_session_create', () =>
      ctx.transport.json<SnapshotSession>('POST', '/sync/snapshot-sessions', body ? { body } : {}),
    ),
  );
  const session: SnapshotSession = {
    snapshot_id: guard.string(raw, 'snapshot_id'),
    snapshot_bundle_seq: guard.int(raw, 'snapshot_bundle_seq'),
    row_count: guard.int(raw, 'row_count'),
    expires_at: guard.string(raw, 'expires_at'),
  };
  if (session.row_count > 0 && session.snapshot_bundle_seq === 0)
    guard.fail('row_count > 0 needs snapshot_bundle_seq > 0');
  const path = `/sync/snapshot-sessions/${encodeURIComponent(session.snapshot_id)}`;
  const chunkRows = ctx.limits.snapshotChunkRows;
  const inFlight = new Map<number, Promise<Page>>();
  const request = (after: number): Promise<Page> => {
    let page = inFlight.get(after);
    if (!page) {
      page = fetchPage(ctx, session, path, after);
      // Guesses that are never consumed must not surface as unhandled rejections.
      page.catch(() => undefined);
      inFlight.set(after, page);
    }
    return page;
  };
  try {
    const batches: RowBatch[] = [];
    let after = 0;
    for (;;) {
      for (let ahead = 1; ahead <= PREFETCH; ahead++) {
        const next = after + ahead * chunkRows;
        if (next < session.row_count) void request(next);
      }
      const page = await request(after);
      inFlight.delete(after);
      decodeRows(ctx, page.rows, batches);
      if (page.rows.length !== chunkRows && page.hasMore) inFlight.clear();
      after += page.rows.length;
      if (!page.hasMore) break;
    }
    if (after !== session.row_count) {
      guard.fail(`downloaded ${after} rows, session row_count is ${session.row_count}`);
    }
    return { session, batches, rowCount: after };
  } catch (error) {
    await Promise.allSettled(inFlight.values());
    await ctx.transport.bestEffortDelete(path);
    throw error;
  }
}

async function fetchPage(
  ctx: SyncContext,
  session: SnapshotSession,
  path: string,
  after: number,
): Promise<Page> {
  const guard = new WireGuard('snapshot chunk fetch');
  const page = guard.object(
    await ctx.transport.retry('snapshot_chunk_fetch', () =>
      ctx.transport.json<SnapshotChunkResponse>('GET', path, {
        query: { after_row_ordinal: after, max_rows: ctx.limits.snapshotChunkRows },
      }),
    ),
  );
  if (guard.string(page, 'snapshot_id') !== session.snapshot_id) guard.fail('snapshot_id echo differs');
  if (guard.int(page, 'snapshot_bundle_seq') !== session.snapshot_bundle_seq) {
    guard.fail('snapshot_bundle_seq differs from the session');
  }
  const rows = guard.array(page, 'rows').map((r) => guard.snapshotRow(r));
  if (guard.int(page, 'next_row_ordinal') !== after + rows.length) {
    guard.fail(`next_row_ordinal must be ${after + rows.length}`);
  }
  const hasMore = guard.bool(page, 'has_more');
  if (hasMore && rows.length === 0) guard.fail('has_more without rows');
  for (const row of rows)
    if (row.schema !== ctx.schema) guard.fail(`row schema ${row.schema} is not ${ctx.schema}`);
  return { rows, hasMore };
}

/** Appends snapshot rows, in order, to the last batch while the table stays the same. */
function decodeRows(ctx: SyncContext, rows: readonly SnapshotRow[], batches: RowBatch[]): void {
  let batch = batches.at(-1);
  for (const row of rows) {
    const table = ctx.tables.get(row.table);
    if (batch?.table !== table) {
      batch = new RowBatch('upsert', table);
      batches.push(batch);
    }
    batch.addWire(row.payload, wireKeyToLocalKey(table, row.key), row.row_version);
  }
}
