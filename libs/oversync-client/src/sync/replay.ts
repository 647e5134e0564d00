import { canonicalJson, type BundleRow, type JsonObject } from '@oversync/protocol';

import { ProtocolViolationError } from '../errors/transport.errors.js';
import { authoritativeApply, deleteLocal, livePayload, upsertWire } from './local-rows.js';
import { replayEquivalent } from './replay-equivalence.js';
import { parseObject, wireKeyToLocalKey } from './row-codec.js';
import { type CommittedBundleInfo } from './push-transfer.js';
import { type SyncContext } from './sync-context.js';
import { type OutboxBundle, type OutboxRow } from './sync-state.store.js';

/** Payload equality on canonical JSON (so `1.0` and `1`, or key order, never cause requeues). */
export function samePayload(a: string | JsonObject | null, b: string | JsonObject | null): boolean {
  if (a === null || b === null) return a === b;
  const ca = canonicalJson(typeof a === 'string' ? parseObject(a) : a);
  const cb = canonicalJson(typeof b === 'string' ? parseObject(b) : b);
  return ca === cb;
}

function identity(table: string, key: Record<string, string>): string {
  return `${table}\u0000${canonicalJson(key)}`;
}

/**
 * For an `already_committed` replay: every outbox row must appear in the committed rows with the
 * same table, key and kind (delete vs upsert). Extra committed rows (server cascades or triggers)
 * are allowed. Anything else means the tuple was committed with other content: fail closed.
 */
function assertMatchesOutbox(outbox: readonly OutboxRow[], rows: readonly BundleRow[]): void {
  const committed = new Map(rows.map((r) => [identity(r.table, r.key), r.op === 'DELETE']));
  for (const row of outbox) {
    const deleted = committed.get(identity(row.table, row.wireKey));
    if (deleted === undefined || deleted !== (row.op === 'DELETE')) {
      throw new ProtocolViolationError(
        'push replay',
        `already_committed bundle does not contain the frozen ${row.op} of ${row.table} ${JSON.stringify(row.wireKey)}`,
      );
    }
  }
}

/**
 * Replays the verified committed bundle locally in one transaction and clears the outbox.
 *
 * Keys this client uploaded are rebased when the app changed them after the freeze: the local
 * row is kept, `_sync_row_state` takes the committed version and the live row is requeued on top
 * of it, so edits made while the push was in flight are never lost. An `already_committed` bundle
 * whose value of a frozen key differs from what this client froze (client-spec §4.3's replay
 * equivalence) is treated the same way: that tuple may have been committed by another copy of this
 * device (a restored backup), so the device's value is requeued instead of replaced. go-oversync
 * fails closed there, which leaves the outbox frozen for good; when the difference only came from
 * the server's own normalisation (a trigger, a rounded numeric), the requeued value costs one more
 * bundle and converges.
 *
 * Unchanged keys and rows the server added (cascades, triggers) are applied authoritatively; a
 * server-added row whose key has a pending local intent keeps the local value and intent (it will
 * conflict and be resolved).
 */
export function replayCommittedBundle(
  ctx: SyncContext,
  bundle: OutboxBundle,
  info: CommittedBundleInfo,
  rows: readonly BundleRow[],
): void {
  const outbox = ctx.store.outboxRows();
  if (info.alreadyCommitted) assertMatchesOutbox(outbox, rows);
  const uploaded = new Map(outbox.map((r) => [identity(r.table, r.wireKey), r]));
  authoritativeApply(ctx, () => {
    for (const row of rows) {
      const table = ctx.tables.get(row.table);
      const keyText = wireKeyToLocalKey(table, row.key);
      const keyJson = ctx.store.localKeyJson(table.keyColumn.wireName, keyText);
      const version = row.row_version;
      const serverDeleted = row.op === 'DELETE';
      const mine = uploaded.get(identity(row.table, row.key));
      const live = livePayload(ctx, table, keyText);
      const applyServer = () => {
        if (serverDeleted) deleteLocal(ctx, table, keyText);
        else upsertWire(ctx, table, row.payload ?? {});
        ctx.store.setRowState(table.name, keyText, version, serverDeleted);
      };
      if (!mine) {
        const state = ctx.store.rowState(table.name, keyText);
        if (state && state.rowVersion >= version) continue;
        if (ctx.store.dirty(table.name, keyJson))
          ctx.store.setRowState(table.name, keyText, version, serverDeleted);
        else applyServer();
        continue;
      }
      const committedAsFrozen = !info.alreadyCommitted || replayEquivalent(row.payload, mine.wirePayload);
      if (committedAsFrozen && samePayload(live, mine.localPayload)) {
        applyServer();
        ctx.store.deleteDirty(table.name, keyJson);
        continue;
      }
      // Changed after the freeze (or committed with other values): keep the local row, rebase its
      // intent onto the committed version.
      ctx.store.setRowState(table.name, keyText, version, serverDeleted);
      if (live === null) ctx.store.putDirty(table.name, keyJson, 'DELETE', version, null);
      else ctx.store.putDirty(table.name, keyJson, serverDeleted ? 'INSERT' : 'UPDATE', version, live);
    }
    const attachment = ctx.store.attachment();
    if (info.bundleSeq === attachment.lastBundleSeqSeen + 1) {
      ctx.store.setAttachment({ lastBundleSeqSeen: info.bundleSeq });
    }
    ctx.store.raiseNextSourceBundleId(bundle.sourceId, info.sourceBundleId + 1);
    ctx.store.clearOutbox();
  });
}
