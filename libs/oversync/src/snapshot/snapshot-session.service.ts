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
import { OversyncRuntime } from '../runtime/oversync-runtime.service.js';
import { lockScope, ScopeStateCode } from '../scope/locked-scope.js';
import { goEscapeBlock } from './snapshot-block-json.util.js';
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

interface PageRow {
  snapshot_bundle_seq: string;
  row_count: string;
  user_id: string;
  expired: boolean;
  first_row_ordinal: string | null;
  /** One overlapping block's rows of the page, comma-joined; null when the page has none. */
  rows_json: string | null;
  rows_n: number | null;
}

/**
 * Snapshot sessions (`/sync/snapshot-sessions`): a frozen after-image of a scope's live rows,
 * materialised in PostgreSQL and paged with 1-based ordinals; optionally rotating the caller's
 * source (rotated rebuild). Sessions keep their own copy, so later pruning never affects them.
 */
@Injectable()
export class SnapshotSessionService {
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
    // so the scope cannot change underneath the rotation and the materialisation. Set explicitly:
    // the lock is taken inside the first statement, so under a host's REPEATABLE READ default the
    // snapshot would predate the wait and the lock's FOR UPDATE would fail with 40001.
    return this.runtime.db
      .transaction()
      .setIsolationLevel('read committed')
      .execute(async (trx) => {
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
   * One page of a snapshot as `SnapshotChunkResponse` JSON text, in pieces to be written in order
   * (a page is megabytes; joining it first would only copy it once more): rows with ordinal
   * `> afterRowOrdinal`, at most `maxRows` (capped), `next_row_ordinal = after + rows`. Reading
   * never extends the session's expiry. One statement, so the page is consistent.
   *
   * The rows were rendered at create, so a page is the stored blocks that overlap it, sliced in
   * PostgreSQL: no payload is parsed or re-serialised here.
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
    afterRowOrdinalText?: string,
  ): Promise<string[]> {
    const snapshotId = normalizeSnapshotId(rawSnapshotId);
    const limit = Math.min(maxRows, this.runtime.options.limits.maxRowsPerSnapshotChunk);
    // Ordinals never come near 2^53; clamping keeps an absurd cursor from overflowing bigint.
    const from = Math.min(afterRowOrdinal + 1, Number.MAX_SAFE_INTEGER);
    const to = Math.min(afterRowOrdinal + limit, Number.MAX_SAFE_INTEGER);
    const { rows } = await sql<PageRow>`
      SELECT s.snapshot_bundle_seq::text AS snapshot_bundle_seq, s.row_count::text AS row_count, u.user_id,
             now() > s.expires_at AS expired, b.first_row_ordinal::text AS first_row_ordinal, b.rows_json, b.rows_n
        FROM sync.snapshot_sessions s
        JOIN sync.user_state u ON u.user_pk = s.user_pk
        LEFT JOIN LATERAL (
          SELECT b.first_row_ordinal, r.hi - r.lo + 1 AS rows_n,
                 CASE WHEN r.lo = 1 AND r.hi = b.row_count THEN b.rows_json
                      -- A page edge inside the block: cut rows lo..hi out by byte offset.
                      ELSE convert_from(substring(convert_to(b.rows_json, getdatabaseencoding())
                                        FROM (r.start_at + 1)::int FOR (b.row_end_offsets[r.hi] - 1 - b.start_offset - r.start_at)::int),
                                        getdatabaseencoding()) END AS rows_json
            FROM sync.snapshot_session_blocks b
           CROSS JOIN LATERAL (SELECT greatest(${from} - b.first_row_ordinal + 1, 1)::int AS lo,
                                      least(${to} - b.first_row_ordinal + 1, b.row_count)::int AS hi) r0
           CROSS JOIN LATERAL (SELECT r0.lo, r0.hi,
                                      CASE WHEN r0.lo = 1 THEN 0 ELSE b.row_end_offsets[r0.lo - 1] - b.start_offset END AS start_at) r
           -- From the block holding ordinal "from" (the last one starting at or before it) to the one
           -- holding "to": a short range scan of the primary key.
           WHERE b.snapshot_id = ${snapshotId}::uuid
             AND b.first_row_ordinal >= (SELECT max(f.first_row_ordinal) FROM sync.snapshot_session_blocks f
                                          WHERE f.snapshot_id = ${snapshotId}::uuid AND f.first_row_ordinal <= ${from})
             AND b.first_row_ordinal <= ${to}
             AND b.first_row_ordinal + b.row_count > ${from}
        ) b ON u.user_id = ${userId} AND now() <= s.expires_at
       WHERE s.snapshot_id = ${snapshotId}::uuid`.execute(this.runtime.db);
    const head = rows[0];
    if (!head) throw new SnapshotSessionNotFoundError(snapshotId);
    if (head.user_id !== userId) throw new SnapshotSessionForbiddenError(snapshotId);
    if (head.expired) throw new SnapshotSessionExpiredError(snapshotId);

    const rowCount = toInt(head.row_count);
    const expected = Math.max(0, Math.min(limit, rowCount - afterRowOrdinal));
    const parts = [
      `{"snapshot_id":"${snapshotId}","snapshot_bundle_seq":${head.snapshot_bundle_seq},"rows":[`,
    ];
    let served = 0;
    // Ordered here rather than by an ORDER BY, which would copy megabytes of block text into a sort.
    const blocks = rows.filter((r) => r.rows_json !== null);
    blocks.sort((a, b) => toInt(a.first_row_ordinal) - toInt(b.first_row_ordinal));
    for (const r of blocks) {
      if (served > 0) parts.push(',');
      parts.push(goEscapeBlock(r.rows_json!));
      served += r.rows_n!;
    }
    // Blocks are written with their session in one transaction, so a gap means damage: fail closed
    // (500) rather than serve a page the client would take for a complete snapshot.
    if (served !== expected) {
      throw new Error(
        `snapshot session ${snapshotId} holds ${served} of the ${expected} rows after ordinal ${afterRowOrdinal}`,
      );
    }
    // A cursor beyond 2^53 is past every row: echo its exact digits (the number is approximate).
    const next = expected === 0 && afterRowOrdinalText ? afterRowOrdinalText : afterRowOrdinal + expected;
    parts.push(`],"next_row_ordinal":${next},"has_more":${afterRowOrdinal + expected < rowCount}}`);
    return parts;
  }

  /**
   * Deletes a snapshot session and its blocks. Expiry is not checked (an expired session that was not
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
