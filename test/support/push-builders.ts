/**
 * Builders for the write-side HTTP suites: unique actors, push rows of the business schema, and
 * the connect → create → chunk → commit flow driven over real HTTP.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { BundleRow, PushRequestRow } from '@oversync/protocol';
import { execSql } from './business-schema.js';
import { syncClient, type SyncReply } from './sync-http.js';

/** A client bound to one user and source (see `syncClient`). */
export type SyncClient = ReturnType<typeof syncClient>;

/** A fresh user id, unique per test. */
export function newUser(prefix = 'user'): string {
  return `${prefix}-${randomBytes(5).toString('hex')}`;
}

/** Deterministic UUID `00000000-0000-0000-0000-<n as 12 hex digits>`. */
export function uuidN(n: number): string {
  return `00000000-0000-0000-0000-${n.toString(16).padStart(12, '0')}`;
}

/** A fresh random UUID (canonical lower case). */
export const newId = (): string => randomUUID();

/** INSERT of a `users` row. */
export function insertUser(
  schema: string,
  id: string,
  name: string,
  extra: Record<string, unknown> = {},
): PushRequestRow {
  return {
    schema,
    table: 'users',
    key: { id },
    op: 'INSERT',
    base_row_version: 0,
    payload: { id, name, email: `${name.toLowerCase().replace(/\s+/g, '.')}@example.com`, ...extra },
  };
}

/** INSERT of a `posts` row by `authorId` (title "T", content "C" unless `extra` says otherwise). */
export function insertPost(
  schema: string,
  id: string,
  authorId: string | null,
  extra: Record<string, unknown> = {},
): PushRequestRow {
  return {
    schema,
    table: 'posts',
    key: { id },
    op: 'INSERT',
    base_row_version: 0,
    payload: { id, title: 'T', content: 'C', author_id: authorId, ...extra },
  };
}

/** UPDATE of a `users` row at `base`. */
export function updateUser(
  schema: string,
  id: string,
  base: number,
  payload: Record<string, unknown>,
): PushRequestRow {
  return {
    schema,
    table: 'users',
    key: { id },
    op: 'UPDATE',
    base_row_version: base,
    payload: { id, ...payload },
  };
}

/** DELETE of a row of `table` at `base` (no payload, as the wire requires). */
export function deleteRow(
  schema: string,
  table: string,
  id: string,
  base: number,
  keyColumn = 'id',
): PushRequestRow {
  return { schema, table, key: { [keyColumn]: id }, op: 'DELETE', base_row_version: base };
}

/** `POST /sync/connect`. */
export function connect(client: SyncClient, hasLocalPendingRows: boolean): Promise<SyncReply> {
  return client({
    method: 'POST',
    path: '/sync/connect',
    body: { has_local_pending_rows: hasLocalPendingRows },
  });
}

/** Connects with no local rows, leaving the scope INITIALIZED (empty). */
export async function initializeEmpty(client: SyncClient): Promise<void> {
  const reply = await connect(client, false);
  if (reply.status !== 200) throw new Error(`connect failed: ${reply.text}`);
}

/** `POST /sync/push-sessions`. */
export function createSession(
  client: SyncClient,
  sourceBundleId: number,
  plannedRowCount: number,
  initializationId?: string,
): Promise<SyncReply> {
  const body: Record<string, unknown> = {
    source_bundle_id: sourceBundleId,
    planned_row_count: plannedRowCount,
  };
  if (initializationId !== undefined) body.initialization_id = initializationId;
  return client({ method: 'POST', path: '/sync/push-sessions', body });
}

/** `POST /sync/push-sessions/{id}/chunks`. */
export function uploadChunk(
  client: SyncClient,
  pushId: string,
  start: number,
  rows: unknown[],
): Promise<SyncReply> {
  return client({
    method: 'POST',
    path: `/sync/push-sessions/${pushId}/chunks`,
    body: { start_row_ordinal: start, rows },
  });
}

/** `POST /sync/push-sessions/{id}/commit` with no body, as go-oversync clients send it. */
export function commitSession(client: SyncClient, pushId: string): Promise<SyncReply> {
  return client({ method: 'POST', path: `/sync/push-sessions/${pushId}/commit` });
}

/** `DELETE /sync/push-sessions/{id}`. */
export function deleteSession(client: SyncClient, pushId: string): Promise<SyncReply> {
  return client({ method: 'DELETE', path: `/sync/push-sessions/${pushId}` });
}

/** Creates a session and uploads `rows` in one chunk; throws unless both succeed. Returns the push id. */
export async function stageRows(
  client: SyncClient,
  sourceBundleId: number,
  rows: unknown[],
  initializationId?: string,
): Promise<string> {
  const created = await createSession(client, sourceBundleId, rows.length, initializationId);
  if (created.status !== 200 || created.json.status !== 'staging') {
    throw new Error(`create failed: ${created.text}`);
  }
  const pushId = created.json.push_id as string;
  const chunk = await uploadChunk(client, pushId, 0, rows);
  if (chunk.status !== 200) throw new Error(`chunk failed: ${chunk.text}`);
  return pushId;
}

/** Stages `rows` and commits them; returns the commit reply (any status). */
export async function pushRows(
  client: SyncClient,
  sourceBundleId: number,
  rows: unknown[],
  initializationId?: string,
): Promise<SyncReply> {
  return commitSession(client, await stageRows(client, sourceBundleId, rows, initializationId));
}

/** Like {@link pushRows} but throws unless the commit answered 200; returns the commit body. */
export async function pushOk(
  client: SyncClient,
  sourceBundleId: number,
  rows: unknown[],
): Promise<Record<string, unknown>> {
  const reply = await pushRows(client, sourceBundleId, rows);
  if (reply.status !== 200) throw new Error(`commit failed: ${reply.status} ${reply.text}`);
  return reply.json;
}

/** Fetches every row of a committed bundle page by page (default page size of the server). */
export async function fetchCommittedRows(
  client: SyncClient,
  bundleSeq: number,
  maxRows?: number,
): Promise<{ rows: BundleRow[]; pages: Record<string, unknown>[] }> {
  const rows: BundleRow[] = [];
  const pages: Record<string, unknown>[] = [];
  let after: number | undefined;
  for (;;) {
    const params = new URLSearchParams();
    if (after !== undefined) params.set('after_row_ordinal', String(after));
    if (maxRows !== undefined) params.set('max_rows', String(maxRows));
    const reply = await client({ path: `/sync/committed-bundles/${bundleSeq}/rows?${params.toString()}` });
    if (reply.status !== 200) throw new Error(`committed rows failed: ${reply.text}`);
    pages.push(reply.json);
    rows.push(...(reply.json.rows as BundleRow[]));
    if (!reply.json.has_more) return { rows, pages };
    after = reply.json.next_row_ordinal as number;
  }
}

/** Runs SQL against the test database and returns the rows. */
export async function dbRows<T = Record<string, unknown>>(
  url: string,
  text: string,
  values: unknown[] = [],
): Promise<T[]> {
  return (await execSql(url, text, values)).rows as T[];
}

/** Moves a user's initialization lease end to the SQL expression `expr` (e.g. `clock_timestamp()`). */
export async function setScopeLease(url: string, userId: string, expr: string): Promise<void> {
  await dbRows(
    url,
    `UPDATE sync.scope_state SET lease_expires_at = ${expr}
      WHERE user_pk = (SELECT user_pk FROM sync.user_state WHERE user_id = $1)`,
    [userId],
  );
}

/** The `sync.scope_state` row of a user (undefined when none exists). */
export async function scopeState(url: string, userId: string): Promise<Record<string, unknown> | undefined> {
  const rows = await dbRows(
    url,
    `SELECT s.state_code, s.initializer_source_id, s.initialization_id::text AS initialization_id,
            s.lease_expires_at, s.initialized_by_source_id
       FROM sync.scope_state s JOIN sync.user_state u USING (user_pk) WHERE u.user_id = $1`,
    [userId],
  );
  return rows[0];
}

/** Number of committed bundles the server retains for a user. */
export async function bundleCount(url: string, userId: string): Promise<number> {
  const rows = await dbRows<{ n: number }>(
    url,
    'SELECT count(*)::int AS n FROM sync.bundle_log b JOIN sync.user_state u USING (user_pk) WHERE u.user_id = $1',
    [userId],
  );
  return rows[0].n;
}

/** A fresh user whose scope is initialised empty, with a client bound to it. */
export async function readyUser(
  baseUrl: string,
  source = 'writer',
): Promise<{ user: string; c: SyncClient }> {
  const user = newUser();
  const c = syncClient(baseUrl, user, source);
  await initializeEmpty(c);
  return { user, c };
}

/** {@link readyUser} plus a staging session (source bundle 1) of `planned` rows. */
export async function stagingSession(
  baseUrl: string,
  planned = 1,
): Promise<{ user: string; c: SyncClient; pushId: string }> {
  const { user, c } = await readyUser(baseUrl);
  const pushId = (await createSession(c, 1, planned)).json.push_id as string;
  return { user, c, pushId };
}

/** Staged rows of a push session as stored (ordinal, table, key hex, op, base, payload text). */
export function stagedRows(url: string, pushId: string): Promise<Record<string, unknown>[]> {
  return dbRows<Record<string, unknown>>(
    url,
    `SELECT row_ordinal::int AS ord, table_id, encode(key_bytes, 'hex') AS key_hex, op_code, base_bundle_seq::int AS base,
            payload_apply::text AS payload
       FROM sync.push_session_rows WHERE push_id = $1 ORDER BY row_ordinal`,
    [pushId],
  );
}

/** A user's push sessions, with the seconds left before each expires. */
export function userPushSessions(url: string, user: string): Promise<Record<string, unknown>[]> {
  return dbRows<Record<string, unknown>>(
    url,
    `SELECT ps.push_id::text AS push_id, ps.source_id, ps.source_bundle_id::int AS source_bundle_id,
            ps.planned_row_count::int AS planned, ps.next_expected_row_ordinal::int AS next,
            ps.initialization_id::text AS initialization_id,
            extract(epoch FROM ps.expires_at - clock_timestamp())::float AS ttl_left
       FROM sync.push_sessions ps JOIN sync.user_state u USING (user_pk) WHERE u.user_id = $1`,
    [user],
  );
}

/** Moves a push session's `expires_at` one second into the past. */
export async function expirePushSession(url: string, pushId: string): Promise<void> {
  await dbRows(
    url,
    "UPDATE sync.push_sessions SET expires_at = clock_timestamp() - interval '1 second' WHERE push_id = $1",
    [pushId],
  );
}

/** Whether a push session still exists. */
export async function pushSessionExists(url: string, pushId: string): Promise<boolean> {
  return (await dbRows(url, 'SELECT 1 FROM sync.push_sessions WHERE push_id = $1', [pushId])).length === 1;
}

/** The business users of a scope, by name. */
export function scopeUsers(
  url: string,
  schema: string,
  user: string,
): Promise<Array<{ id: string; name: string; email: string }>> {
  return dbRows<{ id: string; name: string; email: string }>(
    url,
    `SELECT id::text, name, email FROM ${schema}.users WHERE _sync_scope_id = $1 ORDER BY name`,
    [user],
  );
}
