/**
 * Builders and waiters for the read-side suites (pull, snapshots, watch, status): committing
 * bundles through the engine, forcing scope states with SQL, and reading SSE streams.
 */
import { randomUUID } from 'node:crypto';
import { ScopeManager, SnapshotSessionService, type CommittedBundle } from '@oversync/nestjs';
import { WatchStreamParser, type JsonObject, type WatchEvent } from '@oversync/protocol';
import { sql } from 'kysely';
import { execSql } from './business-schema.js';
import type { OversyncTestApp } from './oversync-app.js';

/** Runs SQL against the app's database. */
export function q(t: OversyncTestApp, text: string, values: unknown[] = []) {
  return execSql(t.db.url, text, values);
}

/** One row of a snapshot page, as a client receives it. */
export interface SnapshotRowJson {
  table: string;
  key: Record<string, string>;
  payload: JsonObject;
}

/** A fresh snapshot of `scope` as the JSON text a client receives (first page, up to 1,000 rows). */
export async function snapshotTextOf(t: OversyncTestApp, scope: string): Promise<string> {
  const snapshots = t.get(SnapshotSessionService);
  const session = await snapshots.create({ userId: scope, sourceId: 'reader' });
  return (await snapshots.chunkJson(scope, session.snapshot_id, 0, 1000)).join('');
}

/** Every row of a fresh snapshot of `scope` (first page, up to 1,000 rows). */
export async function snapshotRowsOf(t: OversyncTestApp, scope: string): Promise<SnapshotRowJson[]> {
  return (JSON.parse(await snapshotTextOf(t, scope)) as { rows: SnapshotRowJson[] }).rows;
}

/** Commits one server-originated bundle inserting `count` users into `user`'s scope. */
export async function commitUsers(
  t: OversyncTestApp,
  user: string,
  count = 1,
  opts: { writerId?: string; names?: string[] } = {},
): Promise<{ bundle: CommittedBundle; ids: string[] }> {
  const ids = Array.from({ length: count }, () => randomUUID());
  const { bundle } = await t
    .get(ScopeManager)
    .execWrite(user, { writerId: opts.writerId ?? 'server-writer' }, async (trx) => {
      for (const [i, id] of ids.entries()) {
        const name = opts.names?.[i] ?? `user-${i}`;
        await sql`INSERT INTO business.users (id, name, email) VALUES (${id}, ${name}, ${`${name}@example.test`})`.execute(
          trx,
        );
      }
    });
  return { bundle, ids };
}

/** Commits `n` bundles of one user row each; returns them in order. */
export async function commitBundles(
  t: OversyncTestApp,
  user: string,
  n: number,
  writerId = 'server-writer',
): Promise<CommittedBundle[]> {
  const out: CommittedBundle[] = [];
  for (let i = 0; i < n; i++) out.push((await commitUsers(t, user, 1, { writerId })).bundle);
  return out;
}

/** Makes `user`'s scope INITIALIZED and empty (as `initialize_empty` would). */
export async function initEmptyScope(
  t: OversyncTestApp,
  user: string,
  source = 'device-init',
): Promise<number> {
  const { rows } = await q(
    t,
    `WITH u AS (INSERT INTO sync.user_state (user_id) VALUES ($1) RETURNING user_pk)
     INSERT INTO sync.scope_state (user_pk, state_code, initialized_at, initialized_by_source_id)
     SELECT user_pk, 2, now(), $2 FROM u RETURNING user_pk::int AS user_pk`,
    [user, source],
  );
  return rows[0].user_pk as number;
}

/** Makes `user`'s scope INITIALIZING, with a live lease or one that already lapsed. */
export async function initializingScope(
  t: OversyncTestApp,
  user: string,
  leaseLapsed = false,
): Promise<void> {
  await q(
    t,
    `WITH u AS (INSERT INTO sync.user_state (user_id) VALUES ($1) RETURNING user_pk)
     INSERT INTO sync.scope_state (user_pk, state_code, initializer_source_id, initialization_id, lease_expires_at)
     SELECT user_pk, 1, 'device-init', gen_random_uuid(), now() + ($2 || ' seconds')::interval FROM u`,
    [user, leaseLapsed ? '-60' : '600'],
  );
}

/** Makes `user`'s scope exist but UNINITIALIZED. */
export async function uninitializedScope(t: OversyncTestApp, user: string): Promise<void> {
  await q(
    t,
    `WITH u AS (INSERT INTO sync.user_state (user_id) VALUES ($1) RETURNING user_pk)
     INSERT INTO sync.scope_state (user_pk, state_code) SELECT user_pk, 0 FROM u`,
    [user],
  );
}

/** Sets the retained floor (and, with `prune`, deletes the history at or below it). */
export async function setFloor(
  t: OversyncTestApp,
  user: string,
  floor: number,
  prune = false,
): Promise<void> {
  await q(t, `UPDATE sync.user_state SET retained_bundle_floor = $2 WHERE user_id = $1`, [user, floor]);
  if (prune) {
    await q(
      t,
      `WITH u AS (SELECT user_pk FROM sync.user_state WHERE user_id = $1),
            r AS (DELETE FROM sync.bundle_rows WHERE user_pk = (SELECT user_pk FROM u) AND bundle_seq <= $2)
       DELETE FROM sync.bundle_log WHERE user_pk = (SELECT user_pk FROM u) AND bundle_seq <= $2`,
      [user, floor],
    );
  }
}

/** The status counter of pull-side `history_pruned` answers. */
export async function historyPrunedCount(t: OversyncTestApp): Promise<number> {
  const { rows } = await q(
    t,
    `SELECT CASE WHEN is_called THEN last_value ELSE 0 END::int AS n FROM sync.history_pruned_error_seq`,
  );
  return rows[0].n as number;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns true or `timeoutMs` passes. */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 3000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

/** An open `GET /sync/watch` stream read with the protocol's own parser. */
export interface WatchStream {
  status: number;
  headers: Headers;
  /** Error body when the request was refused (status ≠ 200). */
  errorBody?: Record<string, unknown>;
  /** Every raw byte received so far, as text. */
  readonly text: string;
  readonly events: WatchEvent[];
  /** True once the server ended the stream. */
  readonly ended: boolean;
  /** Resolves with the first event (from `fromIndex` on) matching `predicate`. */
  waitForEvent(
    predicate?: (e: WatchEvent) => boolean,
    timeoutMs?: number,
    fromIndex?: number,
  ): Promise<WatchEvent>;
  waitForText(fragment: string, timeoutMs?: number): Promise<void>;
  close(): void;
}

/** Opens a watch stream; always `close()` it (tests do that in `finally`/`afterAll`). */
export async function openWatch(
  baseUrl: string,
  call: { user?: string; source?: string; query?: string },
): Promise<WatchStream> {
  const controller = new AbortController();
  const headers: Record<string, string> = {};
  if (call.user !== undefined) headers.authorization = `Bearer ${call.user}`;
  if (call.source !== undefined) headers['oversync-source-id'] = call.source;
  const res = await fetch(`${baseUrl}/sync/watch${call.query ?? ''}`, { headers, signal: controller.signal });
  const parser = new WatchStreamParser();
  const decoder = new TextDecoder();
  const state = { text: '', events: [] as WatchEvent[], ended: false };
  const stream: WatchStream = {
    status: res.status,
    headers: res.headers,
    get text() {
      return state.text;
    },
    get events() {
      return state.events;
    },
    get ended() {
      return state.ended;
    },
    async waitForEvent(predicate = () => true, timeoutMs = 3000, fromIndex = 0) {
      let found: WatchEvent | undefined;
      await waitFor(
        () => (found = state.events.slice(fromIndex).find(predicate)) !== undefined,
        timeoutMs,
        'a watch event',
      );
      return found!;
    },
    async waitForText(fragment, timeoutMs = 3000) {
      await waitFor(() => state.text.includes(fragment), timeoutMs, JSON.stringify(fragment));
    },
    close: () => controller.abort(),
  };
  if (res.status !== 200) {
    stream.errorBody = (await res.json()) as Record<string, unknown>;
    state.ended = true;
    return stream;
  }
  void (async () => {
    const reader = res.body!.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        const chunk = decoder.decode(value, { stream: true });
        state.text += chunk;
        state.events.push(...parser.push(chunk));
      }
    } catch {
      // aborted by close()
    } finally {
      state.ended = true;
    }
  })();
  return stream;
}
