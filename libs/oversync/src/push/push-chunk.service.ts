import { Injectable } from '@nestjs/common';
import type { PushSessionChunkResponse } from '@oversync/protocol';
import { sql } from 'kysely';
import { ScopeTransactionRunner } from '../capture/scope-transaction.runner.js';
import { registeredColumnsSignatureSql } from '../capture/table-columns.js';
import { assertLeaseOwner, refreshInitializationLease } from '../connect/scope-lease.util.js';
import { PushChunkInvalidError, PushChunkOutOfOrderError } from '../errors/index.js';
import type { PushChunkDto } from '../http/dto/push-chunk.dto.js';
import type { SyncRequestActor } from '../http/sync-request.types.js';
import { OversyncRuntime } from '../runtime/oversync-runtime.service.js';
import { ScopeStateCode } from '../scope/locked-scope.js';
import { LiveColumnsCache, type LiveColumnsSnapshot } from './live-columns.util.js';
import { validatePushChunk, type ValidatedChunk } from './push-chunk-validation.util.js';
import {
  lockedSessionQuery,
  requirePushId,
  usableSession,
  type SessionRow,
} from './push-session-lookup.util.js';
import { withTransactionRetries } from './transaction-retry.util.js';

/** The staging statement's one row: the session's columns are all null when there is none. */
type ChunkStatementRow = { accepted: boolean; columns_current: boolean } & (
  SessionRow | { [K in keyof SessionRow]: null }
);

/** Reads of the live columns one chunk may take before giving up on a table being altered. */
const LIVE_COLUMN_READS = 3;

/** Stages one ordered chunk of rows into a push session (`POST /sync/push-sessions/{id}/chunks`). */
@Injectable()
export class PushChunkService {
  readonly #liveColumns = new LiveColumnsCache();

  constructor(
    private readonly runner: ScopeTransactionRunner,
    private readonly runtime: OversyncRuntime,
  ) {}

  /**
   * Validates the rows (before any lookup), then, under the scope lock: checks the session, the
   * seeding lease and the chunk position, stores the rows and refreshes the TTL.
   * @throws PushChunkInvalidError, PushSessionNotFoundError, PushSessionForbiddenError,
   *   PushSessionExpiredError, InitializationStaleError, PushChunkOutOfOrderError.
   */
  async upload(
    actor: SyncRequestActor,
    rawPushId: string,
    body: PushChunkDto,
  ): Promise<PushSessionChunkResponse> {
    let live = await this.#liveColumns.current(this.runtime.db);
    for (let reads = 1; ; reads++) {
      const validated = await this.#validate(body, live);
      live = validated.live;
      const answer = await this.#stage(actor, rawPushId, validated.chunk, live.signature);
      if (answer) return answer;
      // A column of a registered table changed since `live` was read, and nothing was stored:
      // validate against a fresh read. A read can only lose to a DDL committed right after it.
      if (reads >= LIVE_COLUMN_READS) {
        throw new Error(
          `the registered tables' columns changed during each of ${reads} reads; retry the chunk`,
        );
      }
      live = await this.#liveColumns.refresh(this.runtime.db);
    }
  }

  /**
   * Runs the stateless checks against `live`; a chunk they refuse is checked again against a
   * fresh read when `live` was reused, so a column added since is accepted.
   */
  async #validate(
    body: PushChunkDto,
    live: LiveColumnsSnapshot,
  ): Promise<{ chunk: ValidatedChunk; live: LiveColumnsSnapshot }> {
    const { catalog, options } = this.runtime;
    try {
      return {
        chunk: validatePushChunk(body, catalog, options.limits.maxRowsPerPushChunk, live.columns),
        live,
      };
    } catch (error) {
      if (!(error instanceof PushChunkInvalidError) || !live.reused) throw error;
      const fresh = await this.#liveColumns.refresh(this.runtime.db);
      return {
        chunk: validatePushChunk(body, catalog, options.limits.maxRowsPerPushChunk, fresh.columns),
        live: fresh,
      };
    }
  }

  /**
   * Stores a validated chunk under the scope lock. Returns null, having stored nothing, when the
   * registered tables' columns no longer match `signature`.
   */
  async #stage(
    actor: SyncRequestActor,
    rawPushId: string,
    chunk: ValidatedChunk,
    signature: string,
  ): Promise<PushSessionChunkResponse | null> {
    const { limits } = this.runtime.options;
    const start = chunk.startRowOrdinal;
    const end = start + chunk.rows.length;
    // One JSON document carries the chunk: payloads are JSON text already and are spliced in
    // as they are, instead of being escaped one by one into array parameters.
    // Every field but the payload is a number, hex or a list of validated column names (`[a-z0-9_]`)
    // produced here; String(Number(…)) keeps a value that somehow is not a number from ever
    // becoming JSON syntax.
    const document = chunk.rows
      .map(
        (r, i) =>
          `{"n":${start + i},"t":${r.tableId},"k":"${r.keyHex}","o":${r.opCode},"b":${String(Number(r.baseRowVersion))},"c":${r.columnList === null ? 'null' : `"${r.columnList}"`},"p":${r.payloadApply ?? 'null'}}`,
      )
      .join(',');
    return withTransactionRetries(() =>
      this.runner.run(actor.userId, actor.sourceId, async (trx, scope) => {
        const pushId = requirePushId(rawPushId);
        const lease = scope.stateCode === ScopeStateCode.initializing ? scope : null;
        // One statement locks the session, re-checks in SQL what is checked below and, only when
        // every check passes, stores the rows with one INSERT, advances the session and refreshes
        // its TTL. The checks below then pick the error in their usual order.
        const { rows } = await sql<ChunkStatementRow>`
          WITH s AS (${lockedSessionQuery(pushId)}
          ), cols AS (
            SELECT ${registeredColumnsSignatureSql()} = ${signature}::text AS current
          ), ok AS (
            SELECT s.push_id FROM s
             WHERE (SELECT current FROM cols)
               AND s.user_id = ${actor.userId} AND NOT s.expired
               AND (s.initialization_id IS NULL
                    OR (s.source_id = ${lease?.initializerSourceId ?? null}::text
                        AND s.initialization_id = ${lease?.initializationId ?? null}::text))
               AND s.next_expected_row_ordinal = ${start} AND s.planned_row_count >= ${end}
          ), staged AS (
            INSERT INTO sync.push_session_rows
                   (push_id, row_ordinal, table_id, key_bytes, op_code, base_bundle_seq, column_list, payload_apply)
            SELECT ok.push_id::uuid, t.n, t.t, decode(t.k, 'hex'), t.o, t.b, t.c, t.p
              FROM ok, json_to_recordset(${`[${document}]`}::json)
                   AS t(n bigint, t integer, k text, o smallint, b bigint, c text, p json)
          ), advanced AS (
            UPDATE sync.push_sessions ps
               SET next_expected_row_ordinal = ${end},
                   expires_at = clock_timestamp() + make_interval(secs => ${limits.pushSessionTtlSeconds})
              FROM ok
             WHERE ps.push_id = ok.push_id::uuid
          )
          SELECT s.*, EXISTS (SELECT 1 FROM ok) AS accepted, (SELECT current FROM cols) AS columns_current,
                 -- A chunk before the last need not wait for its WAL flush: staging is not yet
                 -- data. A crash of PostgreSQL can then lose chunks acknowledged in its last moments,
                 -- with the session position that counts them, so the client's next chunk fails
                 -- (409 push_chunk_out_of_order) and it pushes the bundle again from its outbox. The
                 -- last chunk flushes as configured, and with it all WAL before it, so a commit never
                 -- finds a staging shorter than the chunks it was told were taken.
                 CASE WHEN s.planned_row_count > ${end} THEN set_config('synchronous_commit', 'off', true) END AS relaxed_commit
            FROM (SELECT 1) AS one LEFT JOIN s ON true`.execute(trx);
        // Before any session check: the chunk's own validity (against the columns as they are
        // now) decides first, as go-oversync checks a chunk before looking up its session.
        const row = rows[0];
        if (!row.columns_current) return null;
        // The LEFT JOIN answers one row even without a session; its columns are then null.
        const session = usableSession(row.push_id === null ? undefined : row, rawPushId, actor.userId);
        if (session.initializationId) {
          assertLeaseOwner(scope, session.sourceId, session.initializationId);
          await refreshInitializationLease(trx, scope.userPk, limits.initializationLeaseTtlSeconds);
        }
        if (start !== session.nextExpectedRowOrdinal) {
          throw new PushChunkOutOfOrderError(rawPushId, session.nextExpectedRowOrdinal, start);
        }
        if (end > session.plannedRowCount) throw new PushChunkInvalidError('chunk exceeds planned_row_count');
        if (!row.accepted) {
          throw new Error(`push chunk checks disagree for session ${session.pushId}; report this as a bug`);
        }
        // go-oversync echoes the path's push id as sent (uuid.Parse also takes upper case, braces
        // and urn:uuid:), not its canonical form.
        return { push_id: rawPushId, next_expected_row_ordinal: end };
      }),
    );
  }
}
