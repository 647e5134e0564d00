import { type JsonObject, type PushConflict, type RowOp, type SyncKey } from '@oversync/protocol';

/**
 * A push conflict as handed to a {@link ConflictResolver}.
 *
 * Rows are in **wire form**, the same form the server uses: every column under its lowercased
 * name, UUID BLOBs as dashed UUID text, other BLOBs as standard base64. A `keep_merged` row must
 * use the same form.
 */
export interface SyncConflict {
  /** Server schema name. */
  readonly schema: string;
  readonly table: string;
  /** Wire key, e.g. `{ id: '…' }`. */
  readonly key: SyncKey;
  /** The op this client pushed. */
  readonly op: RowOp;
  /** The `row_version` the push was based on. */
  readonly baseRowVersion: number;
  /** The server's current version (0 when it never had the row). */
  readonly serverRowVersion: number;
  /** True when the server row is a tombstone. */
  readonly serverRowDeleted: boolean;
  /** The server's live row, or `null` for a tombstone / missing row. */
  readonly serverRow: JsonObject | null;
  /** The local row that was pushed, or `null` for a pushed delete. */
  readonly localRow: JsonObject | null;
  /** The conflict exactly as the server reported it. */
  readonly serverConflict: PushConflict;
}

/** What to do with a conflicting row. */
export type ConflictResolution =
  /** Take the server's row (or tombstone) locally and drop the local change. */
  | { readonly action: 'accept_server' }
  /**
   * Keep the local change and push it again on top of the server version. Against a tombstone an
   * UPDATE re-creates the row (an INSERT based on the tombstone's version).
   */
  | { readonly action: 'keep_local' }
  /** Write `row` (wire form, every column) locally and push it on top of the server version. */
  | { readonly action: 'keep_merged'; readonly row: JsonObject };

/**
 * Decides a push conflict. Called once per conflicting row (the server reports the first one per
 * commit); may be async.
 */
export type ConflictResolver = (conflict: SyncConflict) => ConflictResolution | Promise<ConflictResolution>;

/** The default resolver: the server's row wins. */
export const serverWins: ConflictResolver = () => ({ action: 'accept_server' });

/**
 * The local change wins and is pushed again on top of the server version; a row a peer deleted
 * while this device edited it is re-created.
 */
export const clientWins: ConflictResolver = () => ({ action: 'keep_local' });
