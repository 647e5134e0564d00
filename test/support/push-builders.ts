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
