import { canonicalJson, type SnapshotRow } from '@oversync/protocol';

import { fail, intParam, type FakeRequest } from './fake-server.http.js';
import { type FakeScope } from './fake-server.state.js';
import { type FakeOversyncServer } from './fake-oversync-server.js';

function requireInitialized(scope: FakeScope): void {
  if (scope.scope === 'initializing') fail(409, 'scope_initializing', 'scope is initializing');
  if (scope.scope !== 'initialized') fail(409, 'scope_uninitialized', 'scope is not initialized');
}

const pruned = (scope: FakeScope, v: number) => v > 0 && v <= scope.floor;

/** `GET /sync/pull` (§3.8): complete bundles, stable target frozen by `target_bundle_seq`. */
export function pull(scope: FakeScope, req: FakeRequest): object {
  const after = intParam(req.query, 'after_bundle_seq', 0, 'invalid_request');
  const maxBundles = intParam(req.query, 'max_bundles', 1000, 'invalid_request');
  const target = intParam(req.query, 'target_bundle_seq', 0, 'invalid_request');
  if (after < 0 || target < 0) fail(400, 'invalid_request', 'after_bundle_seq must be >= 0');
  if (maxBundles < 1 || maxBundles > 5000)
    fail(400, 'invalid_request', 'max_bundles must be between 1 and 5000');
  requireInitialized(scope);
  if (pruned(scope, after) || pruned(scope, target))
    fail(409, 'history_pruned', `checkpoint ${after} is older than the floor`);
  const stable = target > 0 ? target : scope.latestSeq;
  if (pruned(scope, stable)) fail(409, 'history_pruned', 'stable bundle seq is pruned');
  if (after >= stable) return { stable_bundle_seq: stable, bundles: [], has_more: false };
  const eligible = scope.bundles.filter(
    (b) => b.bundleSeq > after && b.bundleSeq <= stable && b.bundleSeq > scope.floor,
  );
  const page = eligible.slice(0, maxBundles);
  return {
    stable_bundle_seq: stable,
    bundles: page.map((b) => ({
      bundle_seq: b.bundleSeq,
      source_id: b.sourceId,
      source_bundle_id: b.sourceBundleId,
      row_count: b.rows.length,
      bundle_hash: b.hash,
      rows: b.rows,
    })),
    has_more: eligible.length > page.length,
  };
}

/** `POST /sync/snapshot-sessions` (§3.10 and rotation §6.3). */
export function createSnapshot(
  server: FakeOversyncServer,
  scope: FakeScope,
  req: FakeRequest,
  sourceId: string,
): object {
  requireInitialized(scope);
  const body = (req.body ?? {}) as Record<string, unknown>;
  const unknown = Object.keys(body).filter((k) => k !== 'source_replacement');
  if (unknown.length > 0) fail(400, 'snapshot_session_invalid', 'Failed to parse snapshot session request');
  const replacement = body['source_replacement'] as Record<string, string> | undefined;
  if (replacement) {
    const { previous_source_id: previous, new_source_id: next, reason } = replacement;
    if (previous !== sourceId)
      fail(400, 'snapshot_session_invalid', 'previous_source_id must match authenticated source_id');
    if (!next || next === previous) fail(400, 'snapshot_session_invalid', 'new_source_id is invalid');
    const allowed = [
      'history_pruned',
      'source_sequence_out_of_order',
      'source_sequence_changed',
      'source_retired',
    ];
    if (!allowed.includes(reason ?? ''))
      fail(400, 'snapshot_session_invalid', 'source replacement reason is unsupported');
    const prev = scope.source(previous);
    if (prev.state === 'retired' && prev.replacedBy !== next) {
      fail(409, 'source_retired', `source ${previous} was retired`, {
        source_id: previous,
        replaced_by_source_id: prev.replacedBy,
      });
    }
    if (prev.state !== 'retired') {
      if (scope.sources.has(next))
        fail(409, 'source_replacement_invalid', `replacement source ${next} is already known`);
      scope.sources.set(next, { state: 'reserved', maxCommitted: 0, replacedBy: '' });
      prev.state = 'retired';
      prev.replacedBy = next;
    }
  }
  const rows: SnapshotRow[] = [...scope.rows.values()]
    .filter((r) => r.payload !== null)
    .sort((a, b) => (a.table === b.table ? (a.key < b.key ? -1 : 1) : a.table < b.table ? -1 : 1))
    .map((r) => ({
      schema: scope.schema,
      table: r.table,
      key: { [server.tables.get(r.table)!.keyColumn]: r.key },
      row_version: r.rowVersion,
      payload: r.payload!,
    }));
  const id = crypto.randomUUID();
  server.snapshots.set(id, { id, userId: scope.userId, bundleSeq: scope.latestSeq, rows });
  const byteCount = rows.reduce((n, r) => n + canonicalJson(r.payload).length, 0);
  return {
    snapshot_id: id,
    snapshot_bundle_seq: scope.latestSeq,
    row_count: rows.length,
    ...(byteCount > 0 && { byte_count: byteCount }),
    expires_at: new Date(Date.now() + 900_000).toISOString(),
  };
}

/** `GET /sync/snapshot-sessions/{id}` (§3.11, 1-based ordinals). */
export function snapshotChunk(
  server: FakeOversyncServer,
  scope: FakeScope,
  req: FakeRequest,
  id: string,
): object {
  const after = intParam(req.query, 'after_row_ordinal', 0, 'snapshot_chunk_invalid');
  const maxRows = Math.min(intParam(req.query, 'max_rows', 1000, 'snapshot_chunk_invalid'), 5000);
  if (after < 0) fail(400, 'snapshot_chunk_invalid', 'after_row_ordinal must be >= 0');
  if (maxRows <= 0) fail(400, 'snapshot_chunk_invalid', 'max_rows must be > 0');
  const snapshot = server.snapshots.get(id);
  if (!snapshot) fail(404, 'snapshot_session_not_found', `snapshot ${id} not found`);
  if (snapshot.userId !== scope.userId)
    fail(403, 'snapshot_session_forbidden', 'snapshot belongs to another user');
  const rows = snapshot.rows.slice(after, after + maxRows);
  return {
    snapshot_id: id,
    snapshot_bundle_seq: snapshot.bundleSeq,
    rows,
    next_row_ordinal: after + rows.length,
    has_more: after + rows.length < snapshot.rows.length,
  };
}

/** `POST /sync/connect` (§5 decision table; lease expiry is not simulated). */
export function connect(scope: FakeScope, req: FakeRequest, sourceId: string): object {
  const pending = (req.body as { has_local_pending_rows?: boolean } | null)?.has_local_pending_rows === true;
  const lease = new Date(Date.now() + 900_000).toISOString();
  if (scope.scope === 'initialized') return { resolution: 'remote_authoritative' };
  if (scope.scope === 'initializing' && scope.initializer !== sourceId) {
    return { resolution: 'retry_later', lease_expires_at: lease, retry_after_seconds: 7 };
  }
  if (!pending) {
    scope.scope = 'initialized';
    scope.initializer = sourceId;
    scope.initializationId = '';
    return { resolution: 'initialize_empty' };
  }
  if (scope.scope === 'uninitialized') {
    scope.scope = 'initializing';
    scope.initializer = sourceId;
    scope.initializationId = crypto.randomUUID();
  }
  return {
    resolution: 'initialize_local',
    initialization_id: scope.initializationId,
    lease_expires_at: lease,
  };
}
