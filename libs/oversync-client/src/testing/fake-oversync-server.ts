import {
  formatWatchEventFrame,
  SOURCE_ID_HEADER,
  V1_FEATURE_DEFAULTS,
  type JsonObject,
} from '@oversync/protocol';

import { type FetchLike } from '../transport/http-transport.js';
import {
  errorResponse,
  FakeHttpError,
  fail,
  headerRecord,
  jsonResponse,
  type FakeRequest,
} from './fake-server.http.js';
import { commitSession, committedRows, createPushSession, uploadChunk } from './fake-server.push.js';
import { connect, createSnapshot, pull, snapshotChunk } from './fake-server.read.js';
import {
  FakeScope,
  type FakeBundle,
  type FakePushSession,
  type FakeSnapshot,
  type FakeTable,
} from './fake-server.state.js';

/** Returns a response to short-circuit a request, throws to simulate a network failure, or `undefined`. */
export type FakeInterceptor = (req: FakeRequest) => Response | undefined | Promise<Response | undefined>;

/** Options of {@link FakeOversyncServer}. */
export interface FakeServerOptions {
  schema: string;
  tables: readonly FakeTable[];
  /** Tables whose key is a UUID (canonical dashed text required). */
  uuidKeyTables?: readonly string[];
  /** Advertise and serve `/sync/watch`. */
  watch?: boolean;
  maxRowsPerPushChunk?: number;
}

interface Watcher {
  userId: string;
  controller: ReadableStreamDefaultController<Uint8Array>;
}

/**
 * An in-memory go-oversync v1 server for client tests, faithful to the wire protocol: push
 * sessions with chunk arithmetic, commit with the §7 conflict rules, 0-based committed-row paging,
 * pull with a frozen stable target, 1-based snapshot paging, source sequencing and rotation,
 * connect lifecycle, SSE watch. The bearer token is the user id.
 */
export class FakeOversyncServer {
  readonly schema: string;
  readonly tables = new Map<string, FakeTable>();
  readonly uuidKeys: Set<string>;
  readonly scopes = new Map<string, FakeScope>();
  readonly sessions = new Map<string, FakePushSession>();
  readonly snapshots = new Map<string, FakeSnapshot>();
  readonly requests: FakeRequest[] = [];
  readonly maxRowsPerPushChunk: number;
  watchEnabled: boolean;
  #interceptors: FakeInterceptor[] = [];
  #watchers = new Set<Watcher>();

  constructor(options: FakeServerOptions) {
    this.schema = options.schema;
    for (const t of options.tables) this.tables.set(t.table, t);
    this.uuidKeys = new Set(options.uuidKeyTables ?? []);
    this.watchEnabled = options.watch ?? false;
    this.maxRowsPerPushChunk = options.maxRowsPerPushChunk ?? 5000;
  }

  /** The `fetch` to inject into clients. */
  readonly fetch: FetchLike = async (input, init) => {
    const url = new URL(input);
    const text = typeof init.body === 'string' ? init.body : undefined;
    const req: FakeRequest = {
      method: (init.method ?? 'GET').toUpperCase(),
      path: url.pathname,
      query: url.searchParams,
      headers: headerRecord(init.headers),
      body: text === undefined ? undefined : (JSON.parse(text) as unknown),
      signal: init.signal ?? undefined,
    };
    this.requests.push(req);
    for (const interceptor of this.#interceptors) {
      const response = await interceptor(req);
      if (response) return response;
    }
    return this.handle(req);
  };

  /** Routes a request without interceptors or logging (for interceptors that alter real answers). */
  handle(req: FakeRequest): Response {
    try {
      return this.#route(req);
    } catch (error) {
      if (error instanceof FakeHttpError)
        return errorResponse(error.status, error.code, error.message, error.extra);
      throw error;
    }
  }

  /** Rewrites the JSON body of real answers to requests matching `method path-prefix`. */
  rewrite(match: string, fn: (body: Record<string, unknown>) => void): () => void {
    const [method, prefix] = match.split(' ');
    return this.intercept(async (req) => {
      if (req.method !== method || !req.path.startsWith(prefix)) return undefined;
      const real = this.handle(req);
      if (!real.ok) return real;
      const body = (await real.json()) as Record<string, unknown>;
      fn(body);
      return jsonResponse(real.status, body);
    });
  }

  /** Adds an interceptor; returns a function that removes it. */
  intercept(interceptor: FakeInterceptor): () => void {
    this.#interceptors.push(interceptor);
    return () => (this.#interceptors = this.#interceptors.filter((i) => i !== interceptor));
  }

  /** Requests matching `method path-prefix` (e.g. `'POST /sync/push-sessions'`). */
  count(match: string): number {
    const [method, prefix] = match.split(' ');
    return this.requests.filter((r) => r.method === method && r.path.startsWith(prefix)).length;
  }

  scope(userId: string): FakeScope {
    let scope = this.scopes.get(userId);
    if (!scope) {
      scope = new FakeScope(userId, this.schema);
      this.scopes.set(userId, scope);
    }
    return scope;
  }

  /** Commits a bundle as another device would (rows: payload, or `null` to delete). */
  serverWrite(
    userId: string,
    changes: { table: string; key: string; payload: JsonObject | null }[],
  ): FakeBundle {
    const scope = this.scope(userId);
    const bundle = scope.commit(
      'server-writer',
      scope.source('server-writer').maxCommitted + 1,
      changes.map((c) => {
        const current = scope.rows.get(FakeScope.rowId(c.table, c.key));
        const keyColumn = this.tables.get(c.table)!.keyColumn;
        const op = c.payload === null ? 'DELETE' : current && current.payload !== null ? 'UPDATE' : 'INSERT';
        return { table: c.table, key: { [keyColumn]: c.key }, keyValue: c.key, op, payload: c.payload };
      }),
    );
    scope.source('server-writer').maxCommitted += 1;
    this.notifyWatchers(scope, bundle);
    return bundle;
  }

  /** Pushes every open watch stream of the user a bundle event. */
  notifyWatchers(scope: FakeScope, bundle: FakeBundle): void {
    const frame = new TextEncoder().encode(
      formatWatchEventFrame({
        bundle_seq: bundle.bundleSeq,
        source_id: bundle.sourceId,
        source_bundle_id: bundle.sourceBundleId,
      }),
    );
    for (const w of this.#watchers) if (w.userId === scope.userId) w.controller.enqueue(frame);
  }

  /** Ends every open watch stream (as a server restart would). */
  closeWatchers(): void {
    for (const w of this.#watchers) w.controller.close();
    this.#watchers.clear();
  }

  get watcherCount(): number {
    return this.#watchers.size;
  }

  #route(req: FakeRequest): Response {
    const userId = (/^Bearer\s+(.+)$/i.exec(req.headers['authorization'] ?? '')?.[1] ?? '').trim();
    if (!userId)
      return errorResponse(
        401,
        'authentication_failed',
        'authenticated user_id not found in request context',
      );
    const sourceId = (req.headers[SOURCE_ID_HEADER.toLowerCase()] ?? '').trim();
    if (!sourceId) return errorResponse(400, 'invalid_request', 'Oversync-Source-ID header is required');
    const scope = this.scope(userId);
    const { method, path } = req;
    const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
    const key = `${method} /${parts.slice(0, 2).join('/')}`;
    if (key === 'GET /sync/capabilities') {
      return jsonResponse(200, {
        protocol_version: 'v1',
        schema_version: 1,
        features: { ...V1_FEATURE_DEFAULTS, bundle_change_watch: this.watchEnabled },
        bundle_limits: { max_rows_per_push_chunk: this.maxRowsPerPushChunk },
      });
    }
    if (key === 'POST /sync/connect') return jsonResponse(200, connect(scope, req, sourceId));
    if (key === 'GET /sync/pull') return jsonResponse(200, pull(scope, req));
    if (key === 'GET /sync/watch') return this.#watch(scope, req);
    if (key === 'POST /sync/push-sessions' && parts.length === 2) {
      return jsonResponse(200, createPushSession(this, scope, req, sourceId));
    }
    if (key === 'POST /sync/push-sessions' && parts[3] === 'chunks')
      return jsonResponse(200, uploadChunk(this, scope, req, parts[2]));
    if (key === 'POST /sync/push-sessions' && parts[3] === 'commit')
      return jsonResponse(200, commitSession(this, scope, parts[2]));
    if (key === 'DELETE /sync/push-sessions') {
      const session = this.sessions.get(parts[2]);
      if (!session || session.userId !== userId)
        fail(404, 'push_session_not_found', 'push session not found');
      this.sessions.delete(parts[2]);
      return new Response(null, { status: 204 });
    }
    if (key === 'GET /sync/committed-bundles') return jsonResponse(200, committedRows(scope, req, parts[2]));
    if (key === 'POST /sync/snapshot-sessions')
      return jsonResponse(200, createSnapshot(this, scope, req, sourceId));
    if (key === 'GET /sync/snapshot-sessions')
      return jsonResponse(200, snapshotChunk(this, scope, req, parts[2]));
    if (key === 'DELETE /sync/snapshot-sessions') {
      if (!this.snapshots.delete(parts[2])) fail(404, 'snapshot_session_not_found', 'snapshot not found');
      return new Response(null, { status: 204 });
    }
    return new Response('404 page not found', { status: 404 });
  }

  #watch(scope: FakeScope, req: FakeRequest): Response {
    if (!this.watchEnabled) fail(503, 'bundle_change_watch_disabled', 'watch is disabled');
    const after = Number(req.query.get('after_bundle_seq') ?? '0');
    let watcher: Watcher | undefined;
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        watcher = { userId: scope.userId, controller };
        this.#watchers.add(watcher);
        if (scope.latestSeq > after) {
          controller.enqueue(
            new TextEncoder().encode(formatWatchEventFrame({ bundle_seq: scope.latestSeq })),
          );
        }
        controller.enqueue(new TextEncoder().encode(': heartbeat\n\n'));
      },
      cancel: () => {
        if (watcher) this.#watchers.delete(watcher);
      },
    });
    req.signal?.addEventListener('abort', () => {
      if (watcher && this.#watchers.delete(watcher)) watcher.controller.error(new Error('aborted'));
    });
    return new Response(body, { status: 200, headers: { 'Content-Type': 'text/event-stream' } });
  }
}
