import { type ConflictResolution, type ConflictResolver, type SyncConflict } from '@oversync/client';
import { type JsonObject, type JsonValue } from '@oversync/protocol';

/** How the page resolves a push conflict. */
export type ConflictPolicy = 'merge' | 'server-wins' | 'client-wins';

/** One resolved conflict, as the Conflicts panel shows it. */
export interface ConflictEntry {
  readonly at: Date;
  readonly table: string;
  readonly key: string;
  /** What this device pushed: `INSERT`, `UPDATE` or `DELETE`. */
  readonly op: string;
  /** Local and server titles (posts), or `null` when that side has no row. */
  readonly localTitle: string | null;
  readonly serverTitle: string | null;
  /** The title the row ends up with, or `null` when it ends up deleted. */
  readonly resultTitle: string | null;
  readonly resolution: 'merged' | 'server-wins' | 'client-wins';
  /** A sentence for the panel. */
  readonly summary: string;
}

const text = (row: JsonObject | null, column: string): string | null => {
  const value: JsonValue | undefined = row?.[column];
  return typeof value === 'string' ? value : null;
};

/** Both values when they differ, else the one value. */
function mergeText(server: string, local: string, separator: string): string {
  if (server === local || local === '') return server;
  if (server === '') return local;
  return `${server}${separator}${local}`;
}

/**
 * Records every push conflict and resolves it by the current policy. `merge` keeps both sides of
 * a post edit (title and content that differ are joined); when one side deleted the post, or for
 * other tables, it lets the server win.
 */
export class ConflictLog {
  readonly #entries: ConflictEntry[] = [];
  readonly #listeners = new Set<() => void>();

  /** @param policy - read at every conflict, so the page can change it at any time. */
  constructor(private readonly policy: () => ConflictPolicy) {}

  /** Resolved conflicts, newest first. */
  get entries(): readonly ConflictEntry[] {
    return this.#entries;
  }

  /** Calls `listener` after each recorded conflict; returns an unsubscribe function. */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The resolver to hand to `OversyncClient`. */
  readonly resolver: ConflictResolver = (conflict) => {
    const { resolution, result } = this.#decide(conflict);
    const localTitle = text(conflict.localRow, 'title');
    const serverTitle = text(conflict.serverRow, 'title');
    const resultTitle = text(result, 'title');
    const label =
      resolution.action === 'keep_merged'
        ? 'merged'
        : resolution.action === 'keep_local'
          ? 'client-wins'
          : 'server-wins';
    this.#entries.unshift({
      at: new Date(),
      table: conflict.table,
      key: Object.values(conflict.key).map(String).join('/'),
      op: conflict.op,
      localTitle,
      serverTitle,
      resultTitle,
      resolution: label,
      summary: describe(conflict, label, resultTitle),
    });
    for (const listener of [...this.#listeners]) listener();
    return resolution;
  };

  #decide(conflict: SyncConflict): { resolution: ConflictResolution; result: JsonObject | null } {
    const policy = this.policy();
    if (policy === 'client-wins') return { resolution: { action: 'keep_local' }, result: conflict.localRow };
    const { localRow, serverRow } = conflict;
    if (policy === 'server-wins' || conflict.table !== 'posts' || !localRow || !serverRow) {
      return { resolution: { action: 'accept_server' }, result: serverRow };
    }
    const merged: JsonObject = {
      ...serverRow,
      title: mergeText(text(serverRow, 'title') ?? '', text(localRow, 'title') ?? '', ' / '),
      content: mergeText(text(serverRow, 'content') ?? '', text(localRow, 'content') ?? '', '\n'),
      updated_at: new Date().toISOString(),
    };
    return { resolution: { action: 'keep_merged', row: merged }, result: merged };
  }
}

function describe(
  conflict: SyncConflict,
  label: ConflictEntry['resolution'],
  resultTitle: string | null,
): string {
  const mine = conflict.op === 'DELETE' ? 'deleted it' : 'edited it';
  const theirs =
    conflict.serverRowDeleted || !conflict.serverRow
      ? 'it was deleted on the server'
      : 'it was changed on the server';
  const outcome =
    resultTitle === null
      ? 'it stays deleted'
      : label === 'merged'
        ? `both edits were kept: “${resultTitle}”`
        : label === 'client-wins'
          ? `this device's version was kept: “${resultTitle}”`
          : `the server's version was kept: “${resultTitle}”`;
  return `This device ${mine} while ${theirs}; ${outcome}.`;
}
