import { Injectable, Logger } from '@nestjs/common';
import {
  canonicalJsonString,
  DEFAULT_MAX_BUNDLES_PER_PULL,
  MAX_BUNDLES_PER_PULL,
  type PullResponse,
} from '@oversync/protocol';
import { sql, type Transaction } from 'kysely';
import { toInt } from '../database/pg-values.util.js';
import { HistoryPrunedError } from '../errors/index.js';
import { OversyncRuntime } from '../runtime/oversync-runtime.service.js';
import { assertRetained, readInitializedScope } from './scope-read.util.js';
import { INT64_MAX } from './query-int.util.js';
import { JsonPieces } from './json-pieces.util.js';
import { bundleRowJsonSql, WireRowJson } from './wire-row-json.util.js';

/** Parameters of one pull page (wire query names in camelCase). */
export interface PullPageRequest {
  /** Checkpoint: bundles with a greater `bundle_seq` are returned (int64: a bigint keeps it exact). */
  afterBundleSeq: number | bigint;
  /** Page size in bundles; clamped to 1…5000 (≤ 0 means the default 1000). */
  maxBundles: number;
  /** Frozen ceiling from the first page; 0 = the latest committed bundle. Echoed exactly. */
  targetBundleSeq: number | bigint;
}

interface BundleHead {
  bundle_seq: string;
  source_id: string;
  source_bundle_id: string;
  row_count: string;
  bundle_hash: string;
}

interface BundleRowText {
  bundle_seq: string;
  /** The complete BundleRow JSON; null only if a row names a table outside the catalog. */
  row_json: string | null;
}

/**
 * `GET /sync/pull`: complete committed bundles after a checkpoint, read in one REPEATABLE READ,
 * READ ONLY transaction so a page never contains part of a bundle and `stable_bundle_seq` is
 * always fully readable. The response JSON is assembled from the stored canonical payload text;
 * payloads are never parsed on the way out.
 */
@Injectable()
export class PullService {
  readonly #logger = new Logger('OversyncPull');
  #rows: WireRowJson | undefined;

  constructor(private readonly runtime: OversyncRuntime) {}

  /**
   * One pull page as a `PullResponse` object (parses {@link pullJson}; for programmatic callers).
   * @throws see {@link pullJson}.
   */
  async pull(userId: string, request: PullPageRequest): Promise<PullResponse> {
    return JSON.parse(await this.pullJson(userId, request)) as PullResponse;
  }

  /**
   * One pull page as `PullResponse` JSON text, escaped like Go's encoder (no trailing newline).
   * A page larger than V8's longest string (about 512 MiB) cannot be one string: serve it with
   * {@link pullJsonPieces}.
   * @throws see {@link pullJsonPieces}.
   */
  async pullJson(userId: string, request: PullPageRequest): Promise<string> {
    return (await this.pullJsonPieces(userId, request)).join('');
  }

  /**
   * One pull page as `PullResponse` JSON text in pieces to be written in order, escaped like Go's
   * encoder (no trailing newline). Pages are whole bundles, so one can be far larger than a string
   * may be.
   *
   * @param userId - the scope (user) id.
   * @param request - checkpoint, page size and optional frozen target.
   * @throws ScopeUninitializedError | ScopeInitializingError when the scope is not INITIALIZED.
   * @throws HistoryPrunedError when the checkpoint, the target or the resolved stable seq is at
   *   or below the retained floor (the status counter `history_pruned_error_count` is incremented).
   */
  async pullJsonPieces(userId: string, request: PullPageRequest): Promise<string[]> {
    const after = nonNegativeInt64(request.afterBundleSeq);
    const target = nonNegativeInt64(request.targetBundleSeq);
    const max =
      request.maxBundles > 0
        ? Math.min(Math.trunc(request.maxBundles), MAX_BUNDLES_PER_PULL)
        : DEFAULT_MAX_BUNDLES_PER_PULL;
    try {
      return await this.runtime.db
        .transaction()
        .setIsolationLevel('repeatable read')
        .setAccessMode('read only')
        .execute((trx) => this.#page(trx, userId, after, max, target));
    } catch (error) {
      // A sequence survives the failed transaction; count outside it, as go-oversync does.
      if (error instanceof HistoryPrunedError) await this.#countHistoryPruned();
      throw error;
    }
  }

  async #page(
    trx: Transaction<unknown>,
    userId: string,
    after: bigint,
    max: number,
    target: bigint,
  ): Promise<string[]> {
    const scope = await readInitializedScope(trx, userId);
    assertRetained(scope, after);
    assertRetained(scope, target);
    const stable = target > 0n ? target : BigInt(scope.latestBundleSeq);
    assertRetained(scope, stable);
    if (after >= stable) return [`{"stable_bundle_seq":${stable},"bundles":[],"has_more":false}`];

    // Bound parameters travel as decimal text: an int64 beyond 2^53 must reach PostgreSQL exactly.
    const floor = BigInt(scope.retainedFloor);
    const lower = String(after > floor ? after : floor);
    const upper = String(stable);
    const heads = await sql<BundleHead>`
      SELECT l.bundle_seq::text AS bundle_seq, l.source_id, l.source_bundle_id::text AS source_bundle_id,
             l.row_count::text AS row_count, encode(l.bundle_hash, 'hex') AS bundle_hash
        FROM sync.bundle_log l
       WHERE l.user_pk = ${scope.userPk} AND l.bundle_seq > ${lower}::bigint AND l.bundle_seq <= ${upper}::bigint
       ORDER BY l.bundle_seq -- qualified: the bigint column, not the text output alias
       LIMIT ${max + 1}`.execute(trx);
    const hasMore = heads.rows.length > max;
    const page = hasMore ? heads.rows.slice(0, max) : heads.rows;
    if (page.length === 0) return [`{"stable_bundle_seq":${stable},"bundles":[],"has_more":false}`];

    // All rows of the page in one ordered range scan of the primary key (no N+1). PostgreSQL
    // renders each BundleRow's JSON around the stored canonical payload text, so Node only joins.
    const rows = await sql<BundleRowText>`
      SELECT r.bundle_seq::text AS bundle_seq, ${bundleRowJsonSql(this.#rowJson())} AS row_json
        FROM sync.bundle_rows r
       WHERE r.user_pk = ${scope.userPk} AND r.bundle_seq > ${lower}::bigint
         AND r.bundle_seq <= ${page[page.length - 1].bundle_seq}::bigint
       ORDER BY r.bundle_seq, r.row_ordinal`.execute(trx);
    return this.#render(stable, page, rows.rows, hasMore);
  }

  #render(stable: bigint, page: BundleHead[], rows: BundleRowText[], hasMore: boolean): string[] {
    // Payloads are stored Go-escaped already; text keys rendered by to_json may still hold <, >, &.
    const out = new JsonPieces();
    out.push(`{"stable_bundle_seq":${stable},"bundles":[`);
    let r = 0;
    for (let b = 0; b < page.length; b++) {
      const head = page[b];
      let text = `${b === 0 ? '' : ','}{"bundle_seq":${head.bundle_seq},"source_id":${canonicalJsonString(head.source_id)},"source_bundle_id":${head.source_bundle_id}`;
      if (toInt(head.row_count) !== 0) text += `,"row_count":${head.row_count}`;
      if (head.bundle_hash) text += `,"bundle_hash":"${head.bundle_hash}"`;
      out.push(`${text},"rows":[`);
      let first = true;
      // Rows arrive in (bundle_seq, row_ordinal) order, so a merge walk groups them.
      while (r < rows.length && rows[r].bundle_seq === head.bundle_seq) {
        const rendered = rows[r++].row_json;
        if (rendered === null)
          throw new Error(`bundle ${head.bundle_seq} has a row of a table outside the sync catalog`);
        out.push(first ? rendered : `,${rendered}`);
        first = false;
      }
      out.push(']}');
    }
    out.push(`],"has_more":${hasMore}}`);
    return out.finish();
  }

  #rowJson(): WireRowJson {
    this.#rows ??= new WireRowJson(this.runtime.catalog);
    return this.#rows;
  }

  async #countHistoryPruned(): Promise<void> {
    try {
      await sql`SELECT nextval('sync.history_pruned_error_seq')`.execute(this.runtime.db);
    } catch (error) {
      this.#logger.warn(`could not count a history_pruned pull: ${(error as Error).message}`);
    }
  }
}

/** An int64 request value as a bigint, negatives and fractions clamped like the old number path. */
function nonNegativeInt64(value: number | bigint): bigint {
  if (typeof value === 'number') {
    if (!(value > 0)) return 0n;
    value = value >= 2 ** 63 ? INT64_MAX : BigInt(Math.trunc(value));
  }
  if (value <= 0n) return 0n;
  return value > INT64_MAX ? INT64_MAX : value;
}
