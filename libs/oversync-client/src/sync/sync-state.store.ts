import { type JsonObject, type RowOp, type SyncKey } from '@oversync/protocol';

import { type SqlValue } from '../db/sql-js.adapter.js';
import { IntentStore } from './intent.store.js';
import { parseObject } from './row-codec.js';

export type { DirtyRow, RowState } from './intent.store.js';

/** The durable binding, checkpoint and rebuild gate (`_sync_attachment_state`). */
export interface AttachmentState {
  currentSourceId: string;
  bindingState: 'anonymous' | 'attached';
  attachedUserId: string;
  lastBundleSeqSeen: number;
  rebuildRequired: boolean;
  pendingInitializationId: string;
}

/** The durable lifecycle operation (`_sync_operation_state`). */
export interface OperationState {
  kind: 'none' | 'remote_replace' | 'source_recovery';
  targetUserId: string;
  reason: string;
  replacementSourceId: string;
}

/** The single frozen push bundle (`_sync_outbox_bundle`). */
export interface OutboxBundle {
  state: 'none' | 'prepared' | 'committed_remote';
  sourceId: string;
  sourceBundleId: number;
  rowCount: number;
  initializationId: string;
  remoteBundleHash: string;
  remoteBundleSeq: number;
  /**
   * The server answered `already_committed` for this tuple (ours alone: not in go-oversync's
   * layout). Durable so that the content check of such a replay also runs when the committed rows
   * are fetched after a retry or a restart.
   */
  remoteAlreadyCommitted: boolean;
}

/** One frozen row, in local and wire form. */
export interface OutboxRow {
  rowOrdinal: number;
  table: string;
  keyJson: string;
  wireKey: SyncKey;
  op: RowOp;
  baseRowVersion: number;
  localPayload: JsonObject | null;
  wirePayload: JsonObject | null;
}

const ATTACHMENT_COLUMNS: Record<keyof AttachmentState, string> = {
  currentSourceId: 'current_source_id',
  bindingState: 'binding_state',
  attachedUserId: 'attached_user_id',
  lastBundleSeqSeen: 'last_bundle_seq_seen',
  rebuildRequired: 'rebuild_required',
  pendingInitializationId: 'pending_initialization_id',
};
const OPERATION_COLUMNS: Record<keyof OperationState, string> = {
  kind: 'kind',
  targetUserId: 'target_user_id',
  reason: 'reason',
  replacementSourceId: 'replacement_source_id',
};
const OUTBOX_COLUMNS: Record<keyof OutboxBundle, string> = {
  state: 'state',
  sourceId: 'source_id',
  sourceBundleId: 'source_bundle_id',
  rowCount: 'row_count',
  initializationId: 'initialization_id',
  remoteBundleHash: 'remote_bundle_hash',
  remoteBundleSeq: 'remote_bundle_seq',
  remoteAlreadyCommitted: 'remote_already_committed',
};

function toSql(value: string | number | boolean): SqlValue {
  return typeof value === 'boolean' ? (value ? 1 : 0) : value;
}

/** Typed access to the `_sync_*` metadata tables. Every method is synchronous. */
export class SyncStateStore extends IntentStore {
  #patch<T extends object>(table: string, columns: Record<keyof T, string>, patch: Partial<T>): void {
    const entries = Object.entries(patch).filter(([, v]) => v !== undefined) as [
      keyof T,
      string | number | boolean,
    ][];
    if (entries.length === 0) return;
    const sets = entries.map(([k]) => `${columns[k]} = ?`).join(', ');
    this.db.run(
      `UPDATE ${table} SET ${sets} WHERE singleton_key = 1`,
      entries.map(([, v]) => toSql(v)),
    );
  }

  attachment(): AttachmentState {
    const r = this.db.get('SELECT * FROM _sync_attachment_state WHERE singleton_key = 1')!;
    return {
      currentSourceId: String(r['current_source_id']),
      bindingState: r['binding_state'] === 'attached' ? 'attached' : 'anonymous',
      attachedUserId: String(r['attached_user_id']),
      lastBundleSeqSeen: Number(r['last_bundle_seq_seen']),
      rebuildRequired: Number(r['rebuild_required']) === 1,
      pendingInitializationId: String(r['pending_initialization_id']),
    };
  }

  setAttachment(patch: Partial<AttachmentState>): void {
    this.#patch('_sync_attachment_state', ATTACHMENT_COLUMNS, patch);
  }

  operation(): OperationState {
    const r = this.db.get('SELECT * FROM _sync_operation_state WHERE singleton_key = 1')!;
    return {
      kind: r['kind'] as OperationState['kind'],
      targetUserId: String(r['target_user_id']),
      reason: String(r['reason']),
      replacementSourceId: String(r['replacement_source_id']),
    };
  }

  setOperation(patch: Partial<OperationState>): void {
    this.#patch('_sync_operation_state', OPERATION_COLUMNS, patch);
  }

  /** Resets the operation to `none` with every detail cleared. */
  clearOperation(): void {
    this.setOperation({ kind: 'none', targetUserId: '', reason: '', replacementSourceId: '' });
  }

  /** Sets the flag that makes capture triggers skip (authoritative writes). */
  setApplyMode(on: boolean): void {
    this.db.run('UPDATE _sync_apply_state SET apply_mode = ? WHERE singleton_key = 1', [on ? 1 : 0]);
  }

  sourceExists(sourceId: string): boolean {
    return this.db.count('SELECT COUNT(*) FROM _sync_source_state WHERE source_id = ?', [sourceId]) > 0;
  }

  ensureSource(sourceId: string): void {
    this.db.run('INSERT OR IGNORE INTO _sync_source_state (source_id) VALUES (?)', [sourceId]);
  }

  source(sourceId: string): { nextSourceBundleId: number; replacedBySourceId: string } | undefined {
    const r = this.db.get('SELECT * FROM _sync_source_state WHERE source_id = ?', [sourceId]);
    return (
      r && {
        nextSourceBundleId: Number(r['next_source_bundle_id']),
        replacedBySourceId: String(r['replaced_by_source_id']),
      }
    );
  }

  nextSourceBundleId(sourceId: string): number {
    return this.source(sourceId)?.nextSourceBundleId ?? 1;
  }

  /** Raises (never lowers) the next source bundle id. */
  raiseNextSourceBundleId(sourceId: string, atLeast: number): void {
    this.ensureSource(sourceId);
    this.db.run(
      'UPDATE _sync_source_state SET next_source_bundle_id = max(next_source_bundle_id, ?) WHERE source_id = ?',
      [atLeast, sourceId],
    );
  }

  markReplaced(oldSourceId: string, newSourceId: string): void {
    this.db.run('UPDATE _sync_source_state SET replaced_by_source_id = ? WHERE source_id = ?', [
      newSourceId,
      oldSourceId,
    ]);
  }

  outbox(): OutboxBundle {
    const r = this.db.get('SELECT * FROM _sync_outbox_bundle WHERE singleton_key = 1')!;
    return {
      state: r['state'] as OutboxBundle['state'],
      sourceId: String(r['source_id']),
      sourceBundleId: Number(r['source_bundle_id']),
      rowCount: Number(r['row_count']),
      initializationId: String(r['initialization_id']),
      remoteBundleHash: String(r['remote_bundle_hash']),
      remoteBundleSeq: Number(r['remote_bundle_seq']),
      remoteAlreadyCommitted: Number(r['remote_already_committed']) === 1,
    };
  }

  setOutbox(patch: Partial<OutboxBundle>): void {
    this.#patch('_sync_outbox_bundle', OUTBOX_COLUMNS, patch);
  }

  outboxRows(): OutboxRow[] {
    return this.db.all('SELECT * FROM _sync_outbox_rows ORDER BY row_ordinal').map((r) => ({
      rowOrdinal: Number(r['row_ordinal']),
      table: String(r['table_name']),
      keyJson: String(r['key_json']),
      wireKey: JSON.parse(String(r['wire_key_json'])) as SyncKey,
      op: r['op'] as RowOp,
      baseRowVersion: Number(r['base_row_version']),
      localPayload: r['local_payload'] === null ? null : parseObject(String(r['local_payload'])),
      wirePayload: r['wire_payload'] === null ? null : parseObject(String(r['wire_payload'])),
    }));
  }

  insertOutboxRow(sourceBundleId: number, row: OutboxRow): void {
    this.db.run(
      'INSERT INTO _sync_outbox_rows (source_bundle_id, row_ordinal, schema_name, table_name, key_json, wire_key_json, op, base_row_version, local_payload, wire_payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      [
        sourceBundleId,
        row.rowOrdinal,
        this.schema,
        row.table,
        row.keyJson,
        JSON.stringify(row.wireKey),
        row.op,
        row.baseRowVersion,
        row.localPayload === null ? null : JSON.stringify(row.localPayload),
        row.wirePayload === null ? null : JSON.stringify(row.wirePayload),
      ],
    );
  }

  /** Deletes every outbox row and resets the bundle to `none`. */
  clearOutbox(): void {
    this.db.run('DELETE FROM _sync_outbox_rows');
    this.setOutbox({
      state: 'none',
      sourceId: '',
      sourceBundleId: 0,
      rowCount: 0,
      initializationId: '',
      remoteBundleHash: '',
      remoteBundleSeq: 0,
      remoteAlreadyCommitted: false,
    });
  }

  outboxRowCount(): number {
    return this.db.count('SELECT COUNT(*) FROM _sync_outbox_rows');
  }
}
