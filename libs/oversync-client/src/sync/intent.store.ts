import { type RowOp } from '@oversync/protocol';

import { type SqlJsAdapter, type SqlValue } from '../db/sql-js.adapter.js';
import { NOW_SQL } from '../schema/metadata-tables.js';
import { keyTextOfKeyJsonSql } from '../schema/row-sql.js';

// Printable text that JSON renders verbatim: no quote, backslash, control character or surrogate.
const PLAIN_JSON_TEXT = /^[^"\\\u0000-\u001f\u007f\ud800-\udfff]*$/;

/** One merged local intent. `payload` is the local JSON text, `null` for a delete. */
export interface DirtyRow {
  table: string;
  keyJson: string;
  op: RowOp;
  baseRowVersion: number;
  payload: string | null;
  dirtyOrdinal: number;
}

/** Last authoritative version of a key. */
export interface RowState {
  rowVersion: number;
  deleted: boolean;
}

/** Typed access to local intents (`_sync_dirty_rows`) and authoritative versions (`_sync_row_state`). */
export class IntentStore {
  constructor(
    protected readonly db: SqlJsAdapter,
    readonly schema: string,
  ) {}

  dirtyCount(): number {
    return this.db.count('SELECT COUNT(*) FROM _sync_dirty_rows');
  }

  dirtyRows(): DirtyRow[] {
    return this.db
      .all('SELECT * FROM _sync_dirty_rows WHERE schema_name = ? ORDER BY dirty_ordinal', [this.schema])
      .map(toDirty);
  }

  dirty(table: string, keyJson: string): DirtyRow | undefined {
    const r = this.db.get(
      'SELECT * FROM _sync_dirty_rows WHERE schema_name = ? AND table_name = ? AND key_json = ?',
      [this.schema, table, keyJson],
    );
    return r && toDirty(r);
  }

  /**
   * Writes a dirty intent. An existing row keeps its `dirty_ordinal` (requeue semantics); a new
   * one gets the next ordinal.
   */
  putDirty(table: string, keyJson: string, op: RowOp, baseRowVersion: number, payload: string | null): void {
    this.db.run(
      'INSERT INTO _sync_dirty_rows (schema_name, table_name, key_json, op, base_row_version, payload, dirty_ordinal, updated_at) ' +
        `VALUES (?, ?, ?, ?, ?, ?, (SELECT COALESCE(MAX(dirty_ordinal), 0) + 1 FROM _sync_dirty_rows), ${NOW_SQL}) ` +
        'ON CONFLICT (schema_name, table_name, key_json) DO UPDATE SET op = excluded.op, ' +
        'base_row_version = excluded.base_row_version, payload = excluded.payload, updated_at = excluded.updated_at',
      [this.schema, table, keyJson, op, baseRowVersion, payload],
    );
  }

  /** Writes a dirty intent only when the key has none (a newer local intent always wins). */
  putDirtyIfAbsent(
    table: string,
    keyJson: string,
    op: RowOp,
    baseRowVersion: number,
    payload: string | null,
  ): void {
    if (!this.dirty(table, keyJson)) this.putDirty(table, keyJson, op, baseRowVersion, payload);
  }

  deleteDirty(table: string, keyJson: string): void {
    this.db.run('DELETE FROM _sync_dirty_rows WHERE schema_name = ? AND table_name = ? AND key_json = ?', [
      this.schema,
      table,
      keyJson,
    ]);
  }

  /** The authoritative version of one key (`keyText` as `keyTextSql` renders it), if any. */
  rowState(table: string, keyText: string): RowState | undefined {
    const r = this.db.get(
      'SELECT row_version, deleted FROM _sync_row_state WHERE table_name = ? AND key_text = ?',
      [table, keyText],
    );
    return r && { rowVersion: Number(r['row_version']), deleted: Number(r['deleted']) === 1 };
  }

  setRowState(table: string, keyText: string, rowVersion: number, deleted: boolean): void {
    this.db.run(
      'INSERT INTO _sync_row_state (table_name, key_text, row_version, deleted) VALUES (?, ?, ?, ?) ' +
        'ON CONFLICT (table_name, key_text) DO UPDATE SET row_version = excluded.row_version, deleted = excluded.deleted',
      [table, keyText, rowVersion, deleted ? 1 : 0],
    );
  }

  deleteRowState(table: string, keyText: string): void {
    this.db.run('DELETE FROM _sync_row_state WHERE table_name = ? AND key_text = ?', [table, keyText]);
  }

  /**
   * The local `key_json` for a key text, byte-identical to the triggers' `json_object`. Text
   * without quotes, backslashes, control characters or surrogates is rendered verbatim by both
   * SQLite and `JSON.stringify`; anything else is rendered by SQLite itself.
   */
  localKeyJson(keyColumn: string, keyText: string): string {
    if (PLAIN_JSON_TEXT.test(keyColumn) && PLAIN_JSON_TEXT.test(keyText))
      return `{"${keyColumn}":"${keyText}"}`;
    return String(this.db.scalar('SELECT json_object(?, ?)', [keyColumn, keyText]));
  }

  /**
   * Keys (`table\0key text`) of every dirty row of this schema, in the form the row-state paths
   * use (the one member of each `key_json`).
   */
  dirtyKeyTexts(): Set<string> {
    const rows = this.db.all<{ table_name: string; key_text: string }>(
      `SELECT d.table_name, ${keyTextOfKeyJsonSql('d.key_json')} AS key_text ` +
        'FROM _sync_dirty_rows AS d WHERE d.schema_name = ?',
      [this.schema],
    );
    return new Set(rows.map((r) => `${r.table_name}\u0000${r.key_text}`));
  }

  /** Row versions of the given key texts of one table (keys without row state are absent). */
  rowVersions(table: string, keyTexts: readonly string[]): Map<string, number> {
    const out = new Map<string, number>();
    if (
      keyTexts.length === 0 ||
      !this.db.get('SELECT 1 FROM _sync_row_state WHERE table_name = ? LIMIT 1', [table])
    ) {
      return out;
    }
    const rows = this.db.all<{ key_text: string; row_version: number }>(
      'SELECT key_text, row_version FROM _sync_row_state WHERE table_name = ? AND key_text IN (SELECT value FROM json_each(?))',
      [table, JSON.stringify(keyTexts)],
    );
    for (const r of rows) out.set(r.key_text, Number(r.row_version));
    return out;
  }
}

function toDirty(r: Record<string, SqlValue>): DirtyRow {
  return {
    table: String(r['table_name']),
    keyJson: String(r['key_json']),
    op: r['op'] as RowOp,
    baseRowVersion: Number(r['base_row_version']),
    payload: r['payload'] === null ? null : String(r['payload']),
    dirtyOrdinal: Number(r['dirty_ordinal']),
  };
}
