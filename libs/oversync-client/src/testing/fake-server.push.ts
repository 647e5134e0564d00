import { isCanonicalUuid, type JsonObject, type PushRequestRow } from '@oversync/protocol';

import { fail, intParam, type FakeRequest } from './fake-server.http.js';
import { FakeScope, type FakePushSession } from './fake-server.state.js';
import { type FakeOversyncServer } from './fake-oversync-server.js';

type Raw = Record<string, unknown>;

function asObject(value: unknown, code: string): Raw {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    fail(400, code, 'body must be an object');
  return value as Raw;
}

/** `POST /sync/push-sessions` (wire-protocol §3.2, §6). */
export function createPushSession(
  server: FakeOversyncServer,
  scope: FakeScope,
  req: FakeRequest,
  sourceId: string,
): object {
  const body = asObject(req.body, 'invalid_request');
  const sourceBundleId = Number(body['source_bundle_id']);
  const planned = Number(body['planned_row_count']);
  const initializationId =
    typeof body['initialization_id'] === 'string' ? body['initialization_id'].trim() : '';
  if (!(sourceBundleId > 0)) fail(400, 'push_session_invalid', 'source_bundle_id must be > 0');
  if (!(planned > 0)) fail(400, 'push_session_invalid', 'planned_row_count must be > 0');
  if (scope.scope === 'uninitialized') {
    if (initializationId) fail(410, 'initialization_expired', 'initialization lease is no longer active');
    fail(409, 'scope_uninitialized', 'scope is not initialized');
  }
  if (scope.scope === 'initializing') {
    if (!initializationId)
      fail(400, 'push_session_invalid', 'initialization_id is required while the scope is initializing');
    if (scope.initializer !== sourceId || scope.initializationId !== initializationId) {
      fail(409, 'initialization_stale', 'initialization is stale');
    }
  } else if (initializationId) {
    fail(400, 'push_session_invalid', 'initialization_id must be absent once the scope is initialized');
  }
  const replay = scope.bundles.find((b) => b.sourceId === sourceId && b.sourceBundleId === sourceBundleId);
  if (replay && replay.bundleSeq > scope.floor) {
    return {
      status: 'already_committed',
      bundle_seq: replay.bundleSeq,
      source_id: sourceId,
      source_bundle_id: sourceBundleId,
      row_count: replay.rows.length,
      bundle_hash: replay.hash,
    };
  }
  const source = scope.source(sourceId);
  if (source.state === 'retired') {
    fail(409, 'source_retired', `source ${sourceId} was retired`, {
      source_id: sourceId,
      ...(source.replacedBy && { replaced_by_source_id: source.replacedBy }),
    });
  }
  const expected = source.maxCommitted + 1;
  if (sourceBundleId < expected)
    fail(409, 'history_pruned', `source tuple (${sourceId}, ${sourceBundleId}) is pruned`);
  if (sourceBundleId > expected) {
    fail(
      409,
      'source_sequence_out_of_order',
      `expected next source_bundle_id ${expected}, got ${sourceBundleId}`,
    );
  }
  for (const [id, s] of server.sessions) {
    if (s.userId === scope.userId && s.sourceId === sourceId && s.sourceBundleId === sourceBundleId)
      server.sessions.delete(id);
  }
  const pushId = crypto.randomUUID();
  server.sessions.set(pushId, {
    pushId,
    userId: scope.userId,
    sourceId,
    sourceBundleId,
    planned,
    initializationId,
    staged: [],
  });
  return { push_id: pushId, status: 'staging', planned_row_count: planned };
}

function validateRow(server: FakeOversyncServer, value: unknown): PushRequestRow {
  const row = asObject(value, 'push_chunk_invalid');
  const text = (field: string) => (typeof row[field] === 'string' ? row[field] : '');
  const table = text('table').toLowerCase();
  const spec = server.tables.get(table);
  if (!spec) fail(400, 'push_chunk_invalid', `table ${table} is not registered`);
  const op = text('op').toUpperCase();
  if (op !== 'INSERT' && op !== 'UPDATE' && op !== 'DELETE') fail(400, 'push_chunk_invalid', `bad op ${op}`);
  const key = asObject(row['key'], 'push_chunk_invalid');
  const keyValue = key[spec.keyColumn];
  if (typeof keyValue !== 'string')
    fail(400, 'push_chunk_invalid', 'key must hold the key column as a string');
  if (server.uuidKeys.has(table) && !isCanonicalUuid(keyValue)) {
    fail(400, 'push_chunk_invalid', 'key must use canonical dashed lowercase UUID text');
  }
  if (op === 'DELETE' && 'payload' in row) fail(400, 'push_chunk_invalid', 'DELETE must not carry a payload');
  if (op !== 'DELETE' && (typeof row['payload'] !== 'object' || row['payload'] === null)) {
    fail(400, 'push_chunk_invalid', `${op} needs a payload object`);
  }
  const out: PushRequestRow = {
    schema: text('schema'),
    table,
    key: { [spec.keyColumn]: keyValue },
    op,
    base_row_version: Number(row['base_row_version'] ?? 0),
  };
  if (op !== 'DELETE') out.payload = { ...(row['payload'] as JsonObject), [spec.keyColumn]: keyValue };
  return out;
}

function session(server: FakeOversyncServer, scope: FakeScope, pushId: string): FakePushSession {
  const s = server.sessions.get(pushId);
  if (!s) fail(404, 'push_session_not_found', `push session ${pushId} not found`);
  if (s.userId !== scope.userId) fail(403, 'push_session_forbidden', 'push session belongs to another user');
  return s;
}

/** `POST /sync/push-sessions/{id}/chunks` (§3.3). */
export function uploadChunk(
  server: FakeOversyncServer,
  scope: FakeScope,
  req: FakeRequest,
  pushId: string,
): object {
  const body = asObject(req.body, 'invalid_request');
  const start = Number(body['start_row_ordinal']);
  if (!Array.isArray(body['rows']) || body['rows'].length === 0)
    fail(400, 'push_chunk_invalid', 'rows must not be empty');
  if (body['rows'].length > server.maxRowsPerPushChunk)
    fail(400, 'push_chunk_invalid', 'rows length exceeds max');
  const rows = body['rows'].map((r) => validateRow(server, r));
  const s = session(server, scope, pushId);
  if (start !== s.staged.length) {
    fail(
      409,
      'push_chunk_out_of_order',
      `push session ${pushId} expected start_row_ordinal ${s.staged.length}, got ${start}`,
    );
  }
  if (start + rows.length > s.planned) fail(400, 'push_chunk_invalid', 'chunk exceeds planned_row_count');
  s.staged.push(...rows);
  return { push_id: pushId, next_expected_row_ordinal: s.staged.length };
}

/** `POST /sync/push-sessions/{id}/commit` (§3.4, conflict rules §7). */
export function commitSession(server: FakeOversyncServer, scope: FakeScope, pushId: string): object {
  const s = session(server, scope, pushId);
  if (s.staged.length !== s.planned)
    fail(400, 'push_commit_invalid', 'staged row count does not match planned_row_count');
  const source = scope.source(s.sourceId);
  if (source.state === 'retired') {
    fail(409, 'source_retired', `source ${s.sourceId} was retired`, {
      source_id: s.sourceId,
      ...(source.replacedBy && { replaced_by_source_id: source.replacedBy }),
    });
  }
  if (source.maxCommitted + 1 !== s.sourceBundleId) {
    fail(
      409,
      'source_sequence_changed',
      `expected next source_bundle_id changed to ${source.maxCommitted + 1}`,
    );
  }
  for (const row of s.staged) {
    const keyValue = Object.values(row.key)[0];
    const current = scope.rows.get(FakeScope.rowId(row.table, keyValue));
    const conflict = (message: string) =>
      fail(409, 'push_conflict', message, {
        conflict: {
          schema: scope.schema,
          table: row.table,
          key: row.key,
          op: row.op,
          base_row_version: row.base_row_version,
          server_row_version: current?.rowVersion ?? 0,
          server_row_deleted: current !== undefined && current.payload === null,
          server_row: current?.payload ?? null,
        },
      });
    if (row.op === 'INSERT') {
      if (!current && row.base_row_version !== 0)
        conflict('insert conflict: expected missing row at version 0');
      if (current && (current.payload !== null || current.rowVersion !== row.base_row_version)) {
        conflict('insert conflict: row already exists');
      }
    } else if (!current || current.payload === null) {
      conflict(`${row.op.toLowerCase()} conflict: row does not exist`);
    } else if (current.rowVersion !== row.base_row_version) {
      conflict(
        `${row.op.toLowerCase()} conflict: expected version ${current.rowVersion}, got ${row.base_row_version}`,
      );
    }
  }
  const bundle = scope.commit(
    s.sourceId,
    s.sourceBundleId,
    s.staged.map((row) => ({
      table: row.table,
      key: row.key,
      keyValue: Object.values(row.key)[0],
      op: row.op,
      payload: row.payload ?? null,
    })),
  );
  source.state = 'active';
  source.maxCommitted = s.sourceBundleId;
  server.sessions.delete(pushId);
  if (s.initializationId) scope.initializationId = '';
  server.notifyWatchers(scope, bundle);
  return {
    bundle_seq: bundle.bundleSeq,
    source_id: s.sourceId,
    source_bundle_id: s.sourceBundleId,
    row_count: bundle.rows.length,
    bundle_hash: bundle.hash,
  };
}

/** `GET /sync/committed-bundles/{seq}/rows` (§3.6, 0-based ordinals). */
export function committedRows(scope: FakeScope, req: FakeRequest, seqText: string): object {
  if (!/^\d+$/.test(seqText)) fail(400, 'committed_bundle_chunk_invalid', 'bundle_seq must be an integer');
  const seq = Number(seqText);
  const after = req.query.has('after_row_ordinal')
    ? intParam(req.query, 'after_row_ordinal', 0, 'committed_bundle_chunk_invalid')
    : -1;
  const maxRows = Math.min(intParam(req.query, 'max_rows', 1000, 'committed_bundle_chunk_invalid'), 5000);
  if (seq <= 0 || maxRows <= 0) fail(400, 'committed_bundle_chunk_invalid', 'invalid paging');
  if (scope.floor > 0 && seq <= scope.floor)
    fail(409, 'history_pruned', `bundle ${seq} is below the retained floor`);
  const bundle = scope.bundle(seq);
  if (!bundle) fail(404, 'committed_bundle_not_found', `bundle ${seq} not found`);
  const rows = bundle.rows.slice(after + 1, after + 1 + maxRows);
  return {
    bundle_seq: bundle.bundleSeq,
    source_id: bundle.sourceId,
    source_bundle_id: bundle.sourceBundleId,
    row_count: bundle.rows.length,
    bundle_hash: bundle.hash,
    rows,
    next_row_ordinal: rows.length === 0 ? Math.max(after, 0) : after + rows.length,
    has_more: after + 1 + rows.length < bundle.rows.length,
  };
}
