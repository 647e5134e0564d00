import { type Bundle, type PullResponse } from '@oversync/protocol';

import { isOversyncClientError } from '../errors/oversync-client.error.js';
import { type TableSpec } from '../schema/table-spec.js';
import { WireGuard } from '../transport/wire-guards.js';
import { BulkWriter } from './bulk-writer.js';
import { authoritativeApply } from './local-rows.js';
import { keepSourceRebuild, type RestoreInfo } from './rebuild.js';
import { localKeyToSql, wireKeyToLocalKey } from './row-codec.js';
import { type SyncContext } from './sync-context.js';

/** Outcome of `pullToStable()` / `rebuild()`, with go-oversync's strings. */
export type RemoteOutcome =
  'already_at_target' | 'applied_incremental' | 'applied_snapshot' | 'skipped_paused';

/** Result of a pull or rebuild. */
export interface RemoteSyncReport {
  outcome: RemoteOutcome;
  /** Present when a snapshot was applied. */
  restore?: RestoreInfo;
}

function validatePage(
  ctx: SyncContext,
  raw: Record<string, unknown>,
  after: number,
  stable: number | undefined,
) {
  const guard = new WireGuard('pull');
  const stableSeq = guard.int(raw, 'stable_bundle_seq', 0);
  if (stableSeq < after) guard.fail(`stable_bundle_seq ${stableSeq} is below after_bundle_seq ${after}`);
  if (stable !== undefined && stableSeq !== stable)
    guard.fail(`stable bundle seq changed from ${stable} to ${stableSeq}`);
  const bundles = guard.array(raw, 'bundles').map((value): Bundle => {
    const b = guard.object(value, 'bundle');
    return {
      bundle_seq: guard.int(b, 'bundle_seq', 1),
      source_id: guard.string(b, 'source_id'),
      source_bundle_id: guard.int(b, 'source_bundle_id', 1),
      rows: guard.array(b, 'rows').map((r) => guard.checkedBundleRow(r)),
    };
  });
  if (bundles.length > 0 && stableSeq === 0) guard.fail('missing stable_bundle_seq');
  // Bundle seqs are contiguous per scope. A page that starts above `after + 1` skipped history:
  // go-oversync (and this server) answer `after_bundle_seq=0` below a retention floor with the
  // retained bundles only, which would silently lose the pruned ones. Treat it as history_pruned.
  const skipsHistory = bundles.length > 0 && bundles[0].bundle_seq > after + 1;
  let previous = skipsHistory ? bundles[0].bundle_seq - 1 : after;
  for (const bundle of bundles) {
    if (bundle.bundle_seq !== previous + 1)
      guard.fail(`bundle_seq ${bundle.bundle_seq} does not follow ${previous} (bundle seqs are contiguous)`);
    if (bundle.bundle_seq > stableSeq)
      guard.fail(`bundle_seq ${bundle.bundle_seq} exceeds stable ${stableSeq}`);
    for (const row of bundle.rows)
      if (row.schema !== ctx.schema) guard.fail(`row schema ${row.schema} is not ${ctx.schema}`);
    previous = bundle.bundle_seq;
  }
  return { stable: stableSeq, bundles, hasMore: guard.bool(raw, 'has_more'), skipsHistory, guard };
}

/**
 * Applies one complete bundle in its own transaction. Rows at or below the known row version are
 * skipped (idempotent; own bundles arrive already applied). A key with a pending local intent
 * (written while the pull was in flight) keeps its local value and intent; only its row version
 * advances, so the next push conflicts and the resolver decides. Row versions and dirty keys are
 * read once per bundle (a bundle names each key once) and rows are written in order with
 * multi-row statements.
 */
function applyBundle(ctx: SyncContext, bundle: Bundle): void {
  authoritativeApply(ctx, () => {
    const rows = bundle.rows;
    const tables: TableSpec[] = [];
    const keyTexts: string[] = [];
    const keysByTable = new Map<TableSpec, string[]>();
    for (const row of rows) {
      const table = ctx.tables.get(row.table);
      const keyText = wireKeyToLocalKey(table, row.key);
      tables.push(table);
      keyTexts.push(keyText);
      let keys = keysByTable.get(table);
      if (!keys) keysByTable.set(table, (keys = []));
      keys.push(keyText);
    }
    const versions = new Map<TableSpec, Map<string, number>>();
    for (const [table, keys] of keysByTable) {
      const known = ctx.store.rowVersions(table.name, keys);
      if (known.size > 0) versions.set(table, known);
    }
    const dirty = ctx.store.dirtyKeyTexts();
    const writer = new BulkWriter(ctx);
    try {
      for (let i = 0; i < rows.length; i++) {
        const row = rows[i];
        const table = tables[i];
        const keyText = keyTexts[i];
        const known = versions.get(table)?.get(keyText);
        if (known !== undefined && known >= row.row_version) continue;
        const deleted = row.op === 'DELETE';
        if (dirty.size > 0 && dirty.has(`${table.name}\u0000${keyText}`))
          writer.rowState(table.name, keyText, row.row_version, deleted);
        else if (deleted) writer.delete(table, localKeyToSql(table, keyText), keyText, row.row_version);
        else writer.upsertWire(table, row.payload ?? {}, keyText, row.row_version);
      }
      writer.flush();
    } finally {
      writer.free();
    }
    const seen = ctx.store.attachment().lastBundleSeqSeen;
    ctx.store.setAttachment({ lastBundleSeqSeen: Math.max(seen, bundle.bundle_seq) });
  });
}

/**
 * Pulls complete bundles up to a `stable_bundle_seq` frozen by the first response, applying each
 * bundle atomically and persisting after every page, so the checkpoint only moves after a durable
 * apply. `history_pruned`, or a first page that skips bundle seqs (history below the server's
 * retention floor), falls back to a keep-source snapshot rebuild.
 *
 * Preconditions (connected, no dirty rows or outbox, …) are checked by the caller.
 */
export async function pullToStable(ctx: SyncContext): Promise<RemoteSyncReport> {
  // While this device holds the seed lease the scope is INITIALIZING: it has no bundles yet and
  // the server answers every read with scope_initializing until the seed push commits.
  if (ctx.store.attachment().pendingInitializationId) return { outcome: 'already_at_target' };
  let after = ctx.store.attachment().lastBundleSeqSeen;
  let stable: number | undefined;
  let applied = false;
  for (;;) {
    let raw: PullResponse;
    try {
      raw = await ctx.transport.retry('pull_request', () =>
        ctx.transport.json<PullResponse>('GET', '/sync/pull', {
          query: {
            after_bundle_seq: after,
            max_bundles: ctx.limits.downloadLimit,
            target_bundle_seq: stable,
          },
        }),
      );
    } catch (error) {
      if (isOversyncClientError(error, 'http_status') && error.details['error'] === 'history_pruned') {
        return { outcome: 'applied_snapshot', restore: await keepSourceRebuild(ctx) };
      }
      throw error;
    }
    const page = validatePage(ctx, raw as unknown as Record<string, unknown>, after, stable);
    if (page.skipsHistory) return { outcome: 'applied_snapshot', restore: await keepSourceRebuild(ctx) };
    stable = page.stable;
    try {
      for (const bundle of page.bundles) {
        applyBundle(ctx, bundle);
        after = bundle.bundle_seq;
        applied = true;
      }
    } finally {
      await ctx.persist();
    }
    if (after >= stable) break;
    if (!page.hasMore) {
      page.guard.fail(
        page.bundles.length === 0 ? 'pull ended before reaching stable bundle seq' : 'pull ended early',
      );
    }
  }
  return { outcome: applied ? 'applied_incremental' : 'already_at_target' };
}
