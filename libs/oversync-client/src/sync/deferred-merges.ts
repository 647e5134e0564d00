import { canonicalJson, type PushConflict } from '@oversync/protocol';

import { type ConflictResolution } from './conflict.types.js';
import { type OutboxRow } from './sync-state.store.js';

/**
 * What a push hands back instead of an outcome when a `keep_merged` row references a parent row
 * this device has not pulled yet: the resolution cannot be written before a pull brings the
 * parent. Every frozen change is back in the dirty set (so the pull is allowed) and the
 * resolution is kept in {@link DeferredMerges} for the push after that pull.
 */
export interface PullRequired {
  readonly kind: 'pull_required';
  readonly conflict: PushConflict;
  /** The missing reference, as `table.column -> parent.column`. */
  readonly reference: string;
}

/** True for the {@link PullRequired} signal (as opposed to a push outcome). */
export function isPullRequired(value: unknown): value is PullRequired {
  return typeof value === 'object' && value !== null && (value as PullRequired).kind === 'pull_required';
}

interface DeferredMerge {
  readonly serverRowVersion: number;
  /** Canonical JSON of the pushed local row the resolver saw. */
  readonly localRow: string;
  readonly resolution: ConflictResolution;
}

/**
 * Merge resolutions waiting for a pull, by table and key (in memory only).
 *
 * The pull keeps a key with a pending intent as it is and only advances its row version, so the
 * push after it meets the same conflict again. Re-applying the kept resolution then (instead of
 * asking the resolver again) keeps the values the app or its user already chose. It is reused only
 * while the conflict is the same one: the same server row version and the same local row. A newer
 * server row or a later local edit asks the resolver afresh; so does a restart, which loses this
 * state but nothing durable (the intent is dirty with its original base).
 */
export class DeferredMerges {
  readonly #byKey = new Map<string, DeferredMerge>();

  /** Remembers `resolution` for the conflict of `row`. */
  keep(row: OutboxRow, conflict: PushConflict, resolution: ConflictResolution): void {
    this.#byKey.set(keyOf(row), {
      serverRowVersion: conflict.server_row_version,
      localRow: canonicalJson(row.wirePayload),
      resolution,
    });
  }

  /**
   * The kept resolution for this exact conflict of `row`, removed from the store; `undefined`
   * (and the stale entry dropped) when none matches.
   */
  take(row: OutboxRow, conflict: PushConflict): ConflictResolution | undefined {
    const key = keyOf(row);
    const kept = this.#byKey.get(key);
    if (!kept) return undefined;
    this.#byKey.delete(key);
    const same =
      kept.serverRowVersion === conflict.server_row_version &&
      kept.localRow === canonicalJson(row.wirePayload);
    return same ? kept.resolution : undefined;
  }

  /** Forgets everything, e.g. once no local change is pending. */
  clear(): void {
    this.#byKey.clear();
  }

  get size(): number {
    return this.#byKey.size;
  }
}

function keyOf(row: OutboxRow): string {
  return `${row.table}\u0000${row.keyJson}`;
}
