import { AsyncResource } from 'node:async_hooks';
import { type CallHandler, type ExecutionContext } from '@nestjs/common';
import { defer, lastValueFrom, timeout } from 'rxjs';
import { SyncLifecycleInterceptor } from '../http/sync-lifecycle.interceptor.js';
import { LifecycleService } from './lifecycle.service.js';

/** Nest's `next.handle()`: the handler runs in the async context of the `handle()` call. */
function nestHandle<T>(fn: () => Promise<T>): CallHandler<T> {
  return { handle: () => defer(AsyncResource.bind(fn)) };
}

/** An execution context for a sync request (the guard has set its actor). */
function syncRequest(): ExecutionContext {
  const req = { oversyncActor: { userId: 'u', sourceId: 's' } };
  return { switchToHttp: () => ({ getRequest: () => req }) } as unknown as ExecutionContext;
}

describe('lifecycle in-flight counting edges', () => {
  it('counts a request once while its handler runs a tracked operation', async () => {
    const lifecycle = new LifecycleService();
    const interceptor = new SyncLifecycleInterceptor(lifecycle);
    let during = -1;
    const handler = nestHandle(() =>
      lifecycle.track(async () => {
        during = lifecycle.inflight;
        return 'ok';
      }),
    );
    await expect(lastValueFrom(interceptor.intercept(syncRequest(), handler))).resolves.toBe('ok');
    expect(during).toBe(1);
    expect(lifecycle.inflight).toBe(0);
  });

  it('keeps counting an operation that outlives its request (a host timeout interceptor gave up on it)', async () => {
    const lifecycle = new LifecycleService();
    const interceptor = new SyncLifecycleInterceptor(lifecycle);
    let finish!: () => void;
    let operation!: Promise<string>;
    const handler = nestHandle(() => {
      // A push commit waiting for the scope lock, say: the handler's promise goes on after the
      // response observable was unsubscribed.
      operation = lifecycle.track(() => new Promise<string>((resolve) => (finish = () => resolve('done'))));
      return operation;
    });
    // A host's global interceptor (Nest's documented timeout recipe) wraps the module's one.
    const answered = lastValueFrom(interceptor.intercept(syncRequest(), handler).pipe(timeout(20)));
    await expect(answered).rejects.toThrow();
    // The commit still runs: shutdown must wait for it.
    expect(lifecycle.inflight).toBe(1);
    let drained = false;
    const drain = lifecycle.drain().then(() => (drained = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(drained).toBe(false);
    finish();
    await expect(operation).resolves.toBe('done');
    await drain;
    expect(lifecycle.inflight).toBe(0);
  });

  it('counts an operation begun from a request context after the request ended', async () => {
    const lifecycle = new LifecycleService();
    const interceptor = new SyncLifecycleInterceptor(lifecycle);
    let later!: () => Promise<number>;
    const handler = nestHandle(async () => {
      // A timer or callback the handler left behind inherits the request's async context.
      later = AsyncResource.bind(() => lifecycle.track(async () => lifecycle.inflight));
      return 'ok';
    });
    await lastValueFrom(interceptor.intercept(syncRequest(), handler));
    expect(lifecycle.inflight).toBe(0);
    await expect(later()).resolves.toBe(1);
    expect(lifecycle.inflight).toBe(0);
  });
});
