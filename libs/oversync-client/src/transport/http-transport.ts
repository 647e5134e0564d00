import { isErrorBody, SOURCE_ID_HEADER } from '@oversync/protocol';

import {
  HttpStatusError,
  NetworkError,
  ProtocolViolationError,
  type ServerErrorBody,
} from '../errors/transport.errors.js';
import { InvalidConfigError } from '../errors/lifecycle.errors.js';
import { isOversyncClientError } from '../errors/oversync-client.error.js';
import { RequestScope } from './request-scope.js';
import { type ResolvedRetryPolicy, withRetry } from './retry-policy.js';

/** A `fetch`-compatible function. */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

/** Query values; `undefined` entries are left out. */
export type Query = Record<string, string | number | undefined>;

/** Options of one request. */
export interface RequestOptions {
  query?: Query;
  /** JSON body; when absent the request has no body and no Content-Type. */
  body?: unknown;
  /** Aborts this request (in addition to the transport's own signal, see {@link HttpTransport.withSignal}). */
  signal?: AbortSignal;
  accept?: string;
}

/** Construction options of {@link HttpTransport}. */
export interface HttpTransportOptions {
  baseUrl: string;
  fetch: FetchLike;
  getToken: () => string | Promise<string>;
  /** Current source id (read per request, so the header follows source rotation). */
  sourceId: () => string;
  retry: ResolvedRetryPolicy;
  /** Time one request may take, from asking for the token until its body is read. */
  requestTimeoutMs: number;
}

/**
 * HTTP over an injected `fetch`: adds `Authorization: Bearer …` and `Oversync-Source-ID` to every
 * request, maps failures to typed errors and applies the retry policy where the caller asks.
 *
 * Every request runs in a {@link RequestScope}: it is aborted after `requestTimeoutMs` (surfacing a
 * `network_error` with `details.timeoutMs`, which the retry policy treats like any lost answer) or
 * when the caller's or the transport's signal aborts (surfacing the abort reason as is). A
 * `fetch` that ignores its signal is abandoned rather than awaited.
 */
export class HttpTransport {
  readonly #baseUrl: string;

  /**
   * @param options - endpoint, credentials and limits.
   * @param signal - aborts every request of this transport (see {@link HttpTransport.withSignal}).
   */
  constructor(
    private readonly options: HttpTransportOptions,
    private readonly signal?: AbortSignal,
  ) {
    this.#baseUrl = options.baseUrl.replace(/\/+$/, '');
    assertUsableBaseUrl(this.#baseUrl);
  }

  /** The same transport, with every request (and retry backoff) also aborted by `signal`. */
  withSignal(signal: AbortSignal): HttpTransport {
    return new HttpTransport(this.options, signal);
  }

  /** Runs `fn` under the configured retry policy (transient failures only). */
  retry<T>(operation: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    return withRetry(this.options.retry, operation, fn, signal ?? this.signal);
  }

  /**
   * Sends a request and returns the response when its status is 2xx. The timeout covers the
   * request until the response headers arrive; reading the body (a watch stream may stay open for
   * hours) is up to the caller.
   */
  send(method: string, path: string, request: RequestOptions = {}): Promise<Response> {
    return this.#exchange(method, path, request, (response) => Promise.resolve(response));
  }

  /** Sends a request and parses a 2xx JSON object body (the timeout covers reading the body). */
  json<T extends object>(method: string, path: string, request: RequestOptions = {}): Promise<T> {
    return this.#exchange(method, path, request, async (response) => {
      let text: string;
      try {
        text = await response.text();
      } catch (error) {
        throw new NetworkError(method, path, error);
      }
      return parseJsonObject<T>(method, path, text);
    });
  }

  /** Sends a request whose answer carries no data (e.g. `DELETE`). */
  empty(method: string, path: string, request: RequestOptions = {}): Promise<void> {
    return this.#exchange(method, path, request, async (response) => {
      await response.arrayBuffer().catch(() => undefined);
    });
  }

  /** Fire-and-forget cleanup (`DELETE` of sessions); failures are ignored by design. */
  async bestEffortDelete(path: string): Promise<void> {
    try {
      await this.empty('DELETE', path);
    } catch {
      // Sessions expire on their own; a failed cleanup must never fail the sync operation.
    }
  }

  /** One request in its own {@link RequestScope}; `read` consumes a 2xx response inside the scope. */
  async #exchange<T>(
    method: string,
    path: string,
    request: RequestOptions,
    read: (response: Response) => Promise<T>,
  ): Promise<T> {
    const scope = new RequestScope([request.signal, this.signal], this.options.requestTimeoutMs);
    try {
      const url = this.#baseUrl + path + queryString(request.query);
      const token = await scope.race(Promise.resolve().then(() => this.options.getToken()));
      const headers: Record<string, string> = {
        Authorization: `Bearer ${token}`,
        Accept: request.accept ?? 'application/json',
      };
      const sourceId = this.options.sourceId();
      if (sourceId) headers[SOURCE_ID_HEADER] = sourceId;
      const init: RequestInit = { method, headers, signal: scope.signal };
      if (request.body !== undefined) {
        headers['Content-Type'] = 'application/json';
        init.body = JSON.stringify(request.body);
      }
      // Called unbound: a browser's own `fetch` (`fetch: window.fetch`) refuses to run as a method
      // of another object ("Illegal invocation").
      const fetchImpl = this.options.fetch;
      let response: Response;
      try {
        response = await scope.race(fetchImpl(url, init));
      } catch (error) {
        throw new NetworkError(method, path, error);
      }
      if (!response.ok) {
        // The status alone is enough to report when the body cannot be read.
        const text = await scope.race(response.text()).catch(() => '');
        throw new HttpStatusError(method, path, response.status, parseErrorBody(text), text);
      }
      return await scope.race(read(response));
    } catch (error) {
      if (scope.timedOut && !isOversyncClientError(error, 'http_status')) {
        throw new NetworkError(method, path, error, scope.timeoutMs);
      }
      // Cancelled by the caller (stop(), a closed watch stream): not a failure of the request.
      if (scope.signal.aborted && !scope.timedOut) throw scope.signal.reason;
      throw error;
    } finally {
      scope.dispose();
    }
  }
}

/**
 * A `baseUrl` that cannot be a URL (`api.example.com` without its scheme) would make every request
 * fail before it is sent, which looks exactly like being offline: `network_error`, retried, and
 * retried again by background sync forever. A relative one is fine where the page's address
 * resolves it (browsers, workers).
 *
 * @throws InvalidConfigError
 */
function assertUsableBaseUrl(baseUrl: string): void {
  const page = (globalThis as { location?: { href?: unknown } }).location?.href;
  try {
    new URL(`${baseUrl}/sync/capabilities`, typeof page === 'string' ? page : undefined);
  } catch {
    throw new InvalidConfigError(`baseUrl "${baseUrl}" is not a URL (e.g. https://api.example.com)`);
  }
}

function parseJsonObject<T extends object>(method: string, path: string, text: string): T {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ProtocolViolationError(`${method} ${path}`, `body is not JSON: ${text.slice(0, 120)}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ProtocolViolationError(`${method} ${path}`, 'body is not a JSON object');
  }
  return value as T;
}

function queryString(query: Query | undefined): string {
  if (!query) return '';
  const parts = Object.entries(query)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`);
  return parts.length === 0 ? '' : `?${parts.join('&')}`;
}

function parseErrorBody(text: string): ServerErrorBody | null {
  try {
    const value: unknown = JSON.parse(text);
    if (!isErrorBody(value)) return null;
    return {
      ...(value as unknown as Record<string, unknown>),
      error: value.error,
      message: String(value.message ?? ''),
    };
  } catch {
    return null;
  }
}
