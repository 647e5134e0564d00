/**
 * A `fetch` wrapper for the client suites: records every request and fails a chosen one, either
 * before it reaches the server or after the server processed it (the answer is lost). When a
 * fault fires it can capture the persisted image of the device at that instant, which is exactly
 * what would survive a crash there.
 */
import type { FetchLike, OversyncPersister } from '@oversync/client';

/** One recorded request. */
export interface RecordedCall {
  method: string;
  /** Path without the query string, e.g. `/sync/push-sessions/…/commit`. */
  path: string;
  query: string;
  /** Parsed JSON request body, when there is one. */
  body?: unknown;
  /** Failed locally because the device was offline (never reached the server). */
  blocked?: boolean;
}

/** A planned failure. */
export interface FaultPlan {
  /** Which requests count, e.g. `(c) => c.path.endsWith('/commit')`. */
  match: (call: RecordedCall) => boolean;
  /** Fail the n-th matching request (1-based). @default 1 */
  nth?: number;
  /**
   * `before`: the request never reaches the server; `after`: it is processed, the answer is lost;
   * `pass`: nothing fails (use with `run` to act at that moment).
   */
  when?: 'before' | 'after' | 'pass';
  /** Runs when the fault fires, before the request is sent (e.g. a local write mid-push). */
  run?: () => void | Promise<void>;
  /** After firing, every later request fails too: the device is dead until restarted. */
  crash?: boolean;
  /** With `pass`: rewrites the server's JSON answer before the client sees it. */
  transform?: (body: Record<string, unknown>) => unknown;
  /** Answer with this HTTP status and JSON body instead of a network error (only `before`). */
  respond?: { status: number; body: unknown };
  /** How many consecutive matching requests fail from `nth` on. @default 1 */
  times?: number;
}

/** Route name of a sync path, for counting (`push-create`, `chunk`, `commit`, `pull`, …). */
export function routeOf(call: RecordedCall): string {
  const p = call.path;
  if (p === '/sync/push-sessions') return 'push-create';
  if (p.endsWith('/chunks')) return 'chunk';
  if (p.endsWith('/commit')) return 'commit';
  if (p.startsWith('/sync/push-sessions/')) return call.method === 'DELETE' ? 'push-delete' : 'push-other';
  if (p.startsWith('/sync/committed-bundles/')) return 'committed-rows';
  if (p === '/sync/snapshot-sessions') return 'snapshot-create';
  if (p.startsWith('/sync/snapshot-sessions/'))
    return call.method === 'DELETE' ? 'snapshot-delete' : 'snapshot-chunk';
  return p.replace('/sync/', '');
}

/** The wrapper: pass `fetch` to the client, inspect `calls`, arm faults with `fail`. */
export class FaultyFetch {
  readonly calls: RecordedCall[] = [];
  /** Images captured when faults fired (oldest first). */
  readonly crashImages: Uint8Array[] = [];
  #plans: Array<FaultPlan & { seen: number }> = [];
  #persister: OversyncPersister | undefined;
  /** When true every request fails with a network error (offline). */
  offline = false;

  /** Capture this persister's image whenever a fault fires. */
  captureFrom(persister: OversyncPersister): this {
    this.#persister = persister;
    return this;
  }

  /** Arms a failure. */
  fail(plan: FaultPlan): this {
    this.#plans.push({ ...plan, seen: 0 });
    return this;
  }

  /** Recorded requests of one route name that were not blocked by `offline`. */
  of(route: string): RecordedCall[] {
    return this.calls.filter((c) => !c.blocked && routeOf(c) === route);
  }

  /** Requests per route name. */
  count(route: string): number {
    return this.of(route).length;
  }

  readonly fetch: FetchLike = async (input, init) => {
    const url = new URL(input);
    const call: RecordedCall = { method: init.method ?? 'GET', path: url.pathname, query: url.search };
    if (typeof init.body === 'string') call.body = JSON.parse(init.body) as unknown;
    this.calls.push(call);
    if (this.offline) {
      call.blocked = true;
      throw new TypeError('fetch failed (offline)');
    }
    const firing = this.#plans.filter((p) => p.match(call)).filter((p) => this.#fires(p));
    const plan = firing[0];
    if (!plan) return fetch(input, init);
    await plan.run?.();
    if (plan.when === 'pass') {
      const response = await fetch(input, init);
      if (!plan.transform) return response;
      const body = plan.transform((await response.json()) as Record<string, unknown>);
      const headers = new Headers(response.headers);
      headers.delete('content-length');
      return new Response(JSON.stringify(body), { status: response.status, headers });
    }
    await this.#capture();
    if (plan.crash) this.offline = true;
    if (plan.when === 'after') {
      const response = await fetch(input, init);
      await response.arrayBuffer();
      throw new TypeError('fetch failed (answer lost after the server processed the request)');
    }
    if (plan.respond) {
      return new Response(JSON.stringify(plan.respond.body), {
        status: plan.respond.status,
        headers: { 'content-type': 'application/json' },
      });
    }
    throw new TypeError('fetch failed (injected network error)');
  };

  #fires(plan: FaultPlan & { seen: number }): boolean {
    plan.seen += 1;
    const first = plan.nth ?? 1;
    return plan.seen >= first && plan.seen < first + (plan.times ?? 1);
  }

  async #capture(): Promise<void> {
    if (!this.#persister) return;
    const image = await this.#persister.load();
    if (image) this.crashImages.push(image);
  }
}
