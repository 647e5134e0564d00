import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import type { SnapshotSession } from '@oversync/protocol';
import { sql } from 'kysely';
import { toInt } from '../database/pg-values.util.js';
import {
  ScopeInitializingError,
  ScopeUninitializedError,
  SnapshotChunkInvalidError,
  SnapshotSessionExpiredError,
  SnapshotSessionForbiddenError,
  SnapshotSessionNotFoundError,
} from '../errors/index.js';
import { readInitializedScope } from '../pull/scope-read.util.js';
import { WireRowJson } from '../pull/wire-row-json.util.js';
import { OversyncRuntime } from '../runtime/oversync-runtime.service.js';
import { lockScope, ScopeStateCode } from '../scope/locked-scope.js';
import { materializeSnapshot, type SnapshotLimits } from './snapshot-materialize.util.js';
import {
  rotateSource,
  validateSourceReplacement,
  type SourceReplacementRequest,
} from './source-rotation.util.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Who asks for a snapshot: the scope (user) and the request's source. */
export interface SnapshotActor {
  userId: string;
  sourceId: string;
}

interface ChunkRow {
  snapshot_bundle_seq: string;
  user_id: string;
  expired: boolean;
  row_ordinal: string | null;
  table_id: number | null;
  bundle_seq: string | null;
  key_text: string | null;
  payload: string | null;
}

/**
 * Snapshot sessions (`/sync/snapshot-sessions`): a frozen after-image of a scope's live rows,
 * materialised in PostgreSQL and paged with 1-based ordinals; optionally rotating the caller's
 * source (rotated rebuild). Sessions keep their own copy, so later pruning never affects them.
 */
@Injectable()
export class SnapshotSessionService {
  #rows: WireRowJson | undefined;
  #uuidTables: number[] | undefined;

  constructor(private readonly runtime: OversyncRuntime) {}

  /**
   * Creates a snapshot at the scope's latest bundle. Expired sessions of every user are purged
   * first. A keep-source snapshot reads under REPEATABLE READ without locks; a rotation takes the
   * scope lock (so it cannot race a commit of either source) and applies §6.3 atomically.
   *
   * @throws ScopeUninitializedError | ScopeInitializingError (checked before the replacement).
   * @throws SnapshotSessionInvalidError | SourceReplacementInvalidError | SourceRetiredError
   * @throws SnapshotSessionLimitExceededError | SnapshotMaterializationError (nothing persisted).
   */
  async create(actor: SnapshotActor, replacement?: SourceReplacementRequest): Promise<SnapshotSession> {
    await this.#purgeExpired();
    const { catalog } = this.runtime;
    const snapshotId = randomUUID();
    if (!replacement) {
      return this.runtime.db
        .transaction()
        .setIsolationLevel('repeatable read')
        .execute(async (trx) => {
          const scope = await readInitializedScope(trx, actor.userId);
          const target = {
            snapshotId,
            userId: actor.userId,
            userPk: scope.userPk,
            snapshotBundleSeq: scope.latestBundleSeq,
          };
          return materializeSnapshot(trx, catalog, target, this.#limits());
        });
    }
    // READ COMMITTED under the scope's advisory lock: every writer of the scope takes the same lock,
    // so the scope cannot change underneath the rotation and the materialisation.
    return this.runtime.db.transaction().execute(async (trx) => {
      const scope = await lockScope(trx, actor.userId, actor.sourceId);
      if (scope.stateCode === ScopeStateCode.initializing)
        throw new ScopeInitializingError(actor.userId, scope.leaseExpiresAt);
      if (scope.stateCode !== ScopeStateCode.initialized) throw new ScopeUninitializedError(actor.userId);
      const valid = validateSourceReplacement(actor.sourceId, replacement);
      await rotateSource(trx, { userId: actor.userId, userPk: scope.userPk }, valid);
      const target = {
        snapshotId,
        userId: actor.userId,
        userPk: scope.userPk,
        snapshotBundleSeq: scope.nextBundleSeq - 1,
      };
      return materializeSnapshot(trx, catalog, target, this.#limits());
    });
  }

  /**
   * One page of a snapshot as `SnapshotChunkResponse` JSON text: rows with ordinal
   * `> afterRowOrdinal`, at most `maxRows` (capped), `next_row_ordinal = after + rows`. Reading
   * never extends the session's expiry. One statement, so the page is consistent.
   *
   * @throws SnapshotChunkInvalidError for a blank id.
   * @throws SnapshotSessionNotFoundError (also for a non-UUID id) | SnapshotSessionForbiddenError |
   *   SnapshotSessionExpiredError
   */
  async chunkJson(
    userId: string,
    rawSnapshotId: string,
    afterRowOrdinal: number,
    maxRows: number,
  ): Promise<string> {
    const snapshotId = normalizeSnapshotId(rawSnapshotId);
    const limit = Math.min(maxRows, this.runtime.options.limits.maxRowsPerSnapshotChunk);
    const { rows } = await sql<ChunkRow>`
      SELECT s.snapshot_bundle_seq::text AS snapshot_bundle_seq, u.user_id, now() > s.expires_at AS expired,
             r.row_ordinal::text AS row_ordinal, r.table_id, r.bundle_seq::text AS bundle_seq, r.key_text, r.payload
        FROM sync.snapshot_sessions s
        JOIN sync.user_state u ON u.user_pk = s.user_pk
        LEFT JOIN LATERAL (
          SELECT r.row_ordinal, r.table_id, r.bundle_seq, r.payload_wire::text AS payload,
                 CASE WHEN r.table_id = ANY(${this.#uuidTableIds()}::int[]) THEN encode(r.key_bytes, 'hex')::uuid::text
                      ELSE convert_from(r.key_bytes, 'UTF8') END AS key_text
            FROM sync.snapshot_session_rows r
           -- Ordinals are dense (1..N), so the upper bound caps the scan at one page whatever plan
           -- the planner picks for rows it has no statistics on yet (it chose "fetch all, sort on disk").
           WHERE r.snapshot_id = s.snapshot_id AND r.row_ordinal > ${afterRowOrdinal}
             AND r.row_ordinal <= ${afterRowOrdinal + limit + 1}
           ORDER BY r.row_ordinal
           LIMIT ${limit + 1}
        ) r ON u.user_id = ${userId} AND now() <= s.expires_at
       WHERE s.snapshot_id = ${snapshotId}::uuid
       ORDER BY r.row_ordinal`.execute(this.runtime.db);
    const head = rows[0];
    if (!head) throw new SnapshotSessionNotFoundError(snapshotId);
    if (head.user_id !== userId) throw new SnapshotSessionForbiddenError(snapshotId);
    if (head.expired) throw new SnapshotSessionExpiredError(snapshotId);

    const page = rows.filter((r) => r.row_ordinal !== null);
    const hasMore = page.length > limit;
    if (hasMore) page.length = limit;
    const json = this.#rowJson();
    const rendered = page.map((r) => json.snapshotRow(r.table_id!, r.key_text!, r.bundle_seq!, r.payload!));
    return (
      `{"snapshot_id":"${snapshotId}","snapshot_bundle_seq":${head.snapshot_bundle_seq},"rows":[${rendered.join(',')}],` +
      `"next_row_ordinal":${afterRowOrdinal + page.length},"has_more":${hasMore}}`
    );
  }

  /**
   * Deletes a snapshot session and its rows. Expiry is not checked (an expired session that was not
   * purged yet is deleted normally).
   *
   * @throws SnapshotChunkInvalidError | SnapshotSessionNotFoundError | SnapshotSessionForbiddenError
   */
  async delete(userId: string, rawSnapshotId: string): Promise<void> {
    const snapshotId = normalizeSnapshotId(rawSnapshotId);
    const { rows } = await sql<{ user_id: string; deleted: string }>`
      WITH s AS (
        SELECT s.snapshot_id, u.user_id FROM sync.snapshot_sessions s JOIN sync.user_state u ON u.user_pk = s.user_pk
         WHERE s.snapshot_id = ${snapshotId}::uuid
      ), d AS (
        DELETE FROM sync.snapshot_sessions x USING s
         WHERE x.snapshot_id = s.snapshot_id AND s.user_id = ${userId}
        RETURNING 1
      )
      SELECT s.user_id, (SELECT count(*) FROM d)::text AS deleted FROM s`.execute(this.runtime.db);
    const row = rows[0];
    if (!row) throw new SnapshotSessionNotFoundError(snapshotId);
    if (row.user_id !== userId) throw new SnapshotSessionForbiddenError(snapshotId);
    // Deleted concurrently between our read and our delete: it is gone either way.
    if (toInt(row.deleted) === 0) throw new SnapshotSessionNotFoundError(snapshotId);
  }

  /**
   * Purges expired sessions of all users. Its own statement (not part of the create transaction)
   * with SKIP LOCKED, so concurrent creates never fail on each other's purge.
   */
  async #purgeExpired(): Promise<void> {
    await sql`
      DELETE FROM sync.snapshot_sessions WHERE snapshot_id IN (
        SELECT snapshot_id FROM sync.snapshot_sessions WHERE expires_at < now() FOR UPDATE SKIP LOCKED)`.execute(
      this.runtime.db,
    );
  }

  #limits(): SnapshotLimits {
    const l = this.runtime.options.limits;
    return {
      maxRows: l.maxRowsPerSnapshotSession,
      maxBytes: l.maxBytesPerSnapshotSession,
      ttlSeconds: l.snapshotSessionTtlSeconds,
    };
  }

  #rowJson(): WireRowJson {
    this.#rows ??= new WireRowJson(this.runtime.catalog);
    return this.#rows;
  }

  #uuidTableIds(): number[] {
    this.#uuidTables ??= WireRowJson.uuidTableIds(this.runtime.catalog);
    return this.#uuidTables;
  }
}

/**
 * Trims a path id; blank is 400 `snapshot_chunk_invalid`, anything that is not a UUID cannot name
 * a session and is 404 (go-oversync answers 500 after a failed SQL cast).
 */
function normalizeSnapshotId(raw: string): string {
  const id = (raw ?? '').trim();
  if (id === '') throw new SnapshotChunkInvalidError('snapshot_id is required');
  if (!UUID.test(id)) throw new SnapshotSessionNotFoundError(id);
  return id.toLowerCase();
}
