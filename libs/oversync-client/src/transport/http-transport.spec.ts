import { isOversyncClientError } from '../errors/oversync-client.error.js';
import { HttpTransport, type FetchLike } from './http-transport.js';
import { isRetryableError, resolveRetryPolicy } from './retry-policy.js';

/** The `init` of every request, for looking at the signal `fetch` was given. */
type Seen = RequestInit[];

function transport(
  fetch: FetchLike,
  requestTimeoutMs = 30,
  retry = resolveRetryPolicy(false),
): HttpTransport {
  return new HttpTransport({
    baseUrl: 'http://oversync.test/',
    fetch,
    getToken: () => 'user-1',
    sourceId: () => 'source-1',
    retry,
    requestTimeoutMs,
  });
}

/** A half-open connection: the request is sent and no answer ever comes, whatever the signal says. */
function silent(seen: Seen): FetchLike {
  return (_input, init) => {
    seen.push(init);
    return new Promise<Response>(() => undefined);
  };
}

/** Answers 200 at once with a body that never ends. */
function endlessBody(seen: Seen): FetchLike {
  return (_input, init) => {
    seen.push(init);
    return Promise.resolve(new Response(new ReadableStream<Uint8Array>({ start: () => undefined })));
  };
}

const json = (body: unknown) => () => Promise.resolve(new Response(JSON.stringify(body), { status: 200 }));

describe('HttpTransport request timeout and abort', () => {
  it('aborts a request that gets no answer within requestTimeoutMs with a network_error naming the limit', async () => {
    const seen: Seen = [];
    const started = Date.now();
    const error = await transport(silent(seen), 30)
      .json('GET', '/sync/pull')
      .catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(isOversyncClientError(error, 'network_error')).toBe(true);
    expect(error).toMatchObject({
      name: 'NetworkError',
      details: { method: 'GET', path: '/sync/pull', timeoutMs: 30 },
      message: expect.stringContaining('no answer within 30 ms') as string,
    });
    expect(seen[0].signal?.aborted).toBe(true);
    // A timeout is transient, like any lost answer: the retry policy and background sync retry it.
    expect(isRetryableError(error)).toBe(true);
  });

  it('counts reading a JSON body against the timeout', async () => {
    const seen: Seen = [];
    await expect(transport(endlessBody(seen), 30).json('GET', '/sync/pull')).rejects.toMatchObject({
      code: 'network_error',
      details: { timeoutMs: 30 },
    });
  });

  it('stops timing a watch request once its headers arrived (the stream stays open)', async () => {
    const seen: Seen = [];
    const response = await transport(endlessBody(seen), 20).send('GET', '/sync/watch');
    await new Promise((r) => setTimeout(r, 60));
    expect(response.ok).toBe(true);
    expect(seen[0].signal?.aborted).toBe(false);
    await response.body?.cancel();
  });

  it('rejects at once with the abort reason when the transport signal aborts, even if fetch ignores it', async () => {
    const seen: Seen = [];
    const stop = new AbortController();
    const pending = transport(silent(seen), 60_000).withSignal(stop.signal).json('GET', '/sync/pull');
    await new Promise((r) => setTimeout(r, 5));
    stop.abort();
    const error = await pending.catch((e: unknown) => e);
    // Cancelled on purpose: not a network failure to report or retry.
    expect(error).toBe(stop.signal.reason);
    expect(isOversyncClientError(error)).toBe(false);
    expect(seen[0].signal?.aborted).toBe(true);
  });

  it('sends nothing when the signal has already aborted', async () => {
    const seen: Seen = [];
    const stop = new AbortController();
    stop.abort();
    await expect(transport(silent(seen)).withSignal(stop.signal).empty('DELETE', '/x')).rejects.toBe(
      stop.signal.reason,
    );
    expect(seen).toHaveLength(0);
  });

  it('leaves no listener on a long-lived signal after its requests finished', async () => {
    const stop = new AbortController();
    const listeners = new Set<unknown>();
    const { signal } = stop;
    const add = signal.addEventListener.bind(signal);
    const remove = signal.removeEventListener.bind(signal);
    signal.addEventListener = (type: 'abort', listener: EventListener, options?: AddEventListenerOptions) => {
      listeners.add(listener);
      add(type, listener, options);
    };
    signal.removeEventListener = (type: 'abort', listener: EventListener) => {
      listeners.delete(listener);
      remove(type, listener);
    };
    let peak = 0;
    const answer = json({ ok: true });
    const bound = transport(() => {
      peak = Math.max(peak, listeners.size);
      return answer();
    }).withSignal(signal);
    await Promise.all(Array.from({ length: 5 }, () => bound.json('GET', '/sync/capabilities')));
    await bound.json('GET', '/x', { signal: new AbortController().signal });
    expect(peak).toBe(5);
    expect(listeners.size).toBe(0);
  });

  it('maps a fetch failure to network_error without timeoutMs, and keeps HTTP errors as they are', async () => {
    const offline = transport(() => Promise.reject(new TypeError('fetch failed')));
    const error = await offline.json('GET', '/sync/pull').catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'network_error', details: { method: 'GET', path: '/sync/pull' } });
    expect((error as { details: object }).details).not.toHaveProperty('timeoutMs');
    const refused = transport(() =>
      Promise.resolve(new Response('{"error":"history_pruned","message":"gone"}', { status: 409 })),
    );
    await expect(refused.json('GET', '/sync/pull')).rejects.toMatchObject({
      code: 'http_status',
      details: { status: 409, error: 'history_pruned' },
    });
  });

  it('calls fetch unbound, as a browser requires of its own fetch (`fetch: window.fetch`)', async () => {
    const receivers: unknown[] = [];
    // A browser's fetch throws "Illegal invocation" when called as a method of another object.
    const browserLike = function (this: unknown): Promise<Response> {
      receivers.push(this);
      if (this !== undefined && this !== globalThis) throw new TypeError('Illegal invocation');
      return Promise.resolve(new Response('{"ok":true}', { status: 200 }));
    };
    await expect(transport(browserLike).json('GET', '/sync/capabilities')).resolves.toEqual({ ok: true });
    expect(receivers).toEqual([undefined]);
  });

  it('ends a retry backoff when the transport signal aborts', async () => {
    const stop = new AbortController();
    const retry = resolveRetryPolicy({ maxAttempts: 5, initialBackoffMs: 60_000, maxBackoffMs: 60_000 });
    const bound = transport(() => Promise.reject(new TypeError('offline')), 30, retry).withSignal(
      stop.signal,
    );
    const pending = bound.retry('pull_request', () => bound.json('GET', '/sync/pull'));
    await new Promise((r) => setTimeout(r, 10));
    stop.abort();
    // The next attempt starts aborted and ends the retry loop with the abort reason.
    await expect(pending).rejects.toBe(stop.signal.reason);
  });
});
