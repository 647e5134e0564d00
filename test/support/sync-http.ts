/**
 * A tiny HTTP client for the sync routes, used by the end-to-end suites: real `fetch` against
 * the real Nest app on a random port.
 */
export interface SyncCall {
  method?: 'GET' | 'POST' | 'DELETE';
  path: string;
  /** Authenticated user (sent as `Authorization: Bearer <user>`); omit for an anonymous call. */
  user?: string;
  /** `Oversync-Source-ID` header; omit to leave it out. */
  source?: string;
  /** JSON body (stringified) or a raw string. */
  body?: unknown;
  headers?: Record<string, string>;
}

export interface SyncReply<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  text: string;
  /** Parsed JSON, or undefined when the body is empty or not JSON. */
  json: T;
}

export async function syncCall<T = Record<string, unknown>>(
  baseUrl: string,
  call: SyncCall,
): Promise<SyncReply<T>> {
  const headers: Record<string, string> = { ...(call.headers ?? {}) };
  if (call.user !== undefined) headers.authorization = `Bearer ${call.user}`;
  if (call.source !== undefined) headers['oversync-source-id'] = call.source;
  let body: string | undefined;
  if (call.body !== undefined) {
    body = typeof call.body === 'string' ? call.body : JSON.stringify(call.body);
    headers['content-type'] ??= 'application/json';
  }
  const res = await fetch(`${baseUrl}${call.path}`, {
    method: call.method ?? (body === undefined ? 'GET' : 'POST'),
    headers,
    body,
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json: json as T };
}

/** A client bound to one user and source. */
export function syncClient(baseUrl: string, user: string, source: string) {
  return <T = Record<string, unknown>>(call: Omit<SyncCall, 'user' | 'source'>) =>
    syncCall<T>(baseUrl, { user, source, ...call });
}
