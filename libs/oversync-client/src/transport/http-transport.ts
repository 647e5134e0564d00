import { isErrorBody, SOURCE_ID_HEADER } from '@oversync/protocol';

import {
  HttpStatusError,
  NetworkError,
  ProtocolViolationError,
  type ServerErrorBody,
} from '../errors/transport.errors.js';
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
}

/**
 * HTTP over an injected `fetch`: adds `Authorization: Bearer …` and `Oversync-Source-ID` to every
 * request, maps failures to typed errors and applies the retry policy where the caller asks.
 */
export class HttpTransport {
  readonly #baseUrl: string;

  constructor(private readonly options: HttpTransportOptions) {
    this.#baseUrl = options.baseUrl.replace(/\/+$/, '');
  }

  /** Runs `fn` under the configured retry policy (transient failures only). */
  retry<T>(operation: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    return withRetry(this.options.retry, operation, fn, signal);
  }

  /** Sends a request and returns the response when its status is 2xx. */
  async send(method: string, path: string, request: RequestOptions = {}): Promise<Response> {
    const url = this.#baseUrl + path + queryString(request.query);
    const headers: Record<string, string> = {
      Authorization: `Bearer ${await this.options.getToken()}`,
      Accept: request.accept ?? 'application/json',
    };
    const sourceId = this.options.sourceId();
    if (sourceId) headers[SOURCE_ID_HEADER] = sourceId;
    const init: RequestInit = { method, headers, signal: request.signal };
    if (request.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(request.body);
    }
    let response: Response;
    try {
      response = await this.options.fetch(url, init);
    } catch (error) {
      if (request.signal?.aborted) throw error;
      throw new NetworkError(method, path, error);
    }
    if (response.ok) return response;
    let text = '';
    try {
      text = await response.text();
    } catch {
      // The status alone is enough to report.
    }
    throw new HttpStatusError(method, path, response.status, parseErrorBody(text), text);
  }

  /** Sends a request and parses a 2xx JSON object body. */
  async json<T extends object>(method: string, path: string, request: RequestOptions = {}): Promise<T> {
    const response = await this.send(method, path, request);
    let text: string;
    try {
      text = await response.text();
    } catch (error) {
      throw new NetworkError(method, path, error);
    }
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

  /** Sends a request whose answer carries no data (e.g. `DELETE`). */
  async empty(method: string, path: string, request: RequestOptions = {}): Promise<void> {
    const response = await this.send(method, path, request);
    await response.arrayBuffer().catch(() => undefined);
  }

  /** Fire-and-forget cleanup (`DELETE` of sessions); failures are ignored by design. */
  async bestEffortDelete(path: string): Promise<void> {
    try {
      await this.empty('DELETE', path);
    } catch {
      // Sessions expire on their own; a failed cleanup must never fail the sync operation.
    }
  }
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
