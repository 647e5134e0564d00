import { BackgroundSync, type BackgroundSyncDeps } from './background-sync.js';

async function waitFor(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Loop dependencies without a client: `sync` is a request that only ends when its signal aborts
 * (or `answer` says otherwise); the watch loop is off unless a test asks for it.
 */
function fakeDeps(sync: (signal: AbortSignal) => Promise<unknown>, onError: (error: unknown) => void) {
  let active = 0;
  let peak = 0;
  const signals: AbortSignal[] = [];
  const deps: BackgroundSyncDeps = {
    sync: async (signal) => {
      signals.push(signal);
      active++;
      peak = Math.max(peak, active);
      try {
        return await sync(signal);
      } finally {
        active--;
      }
    },
    isConnected: () => true,
    watchSupported: () => Promise.resolve(false),
    openWatch: () => Promise.reject(new Error('no watch')),
    lastBundleSeqSeen: () => 0,
    onError,
  };
  return { deps, signals, calls: () => signals.length, peak: () => peak, active: () => active };
}

/** A request that never answers on its own: it ends only when the loop's signal aborts. */
function hangs(signal: AbortSignal): Promise<never> {
  return new Promise((_resolve, reject) =>
    signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true }),
  );
}

const fast = { minBackoffMs: 2, maxBackoffMs: 4, pollIntervalMs: 2, watch: 'off' } as const;

describe('BackgroundSync start/stop', () => {
  it('aborts the running sync on stop() and resolves once the loop returned', async () => {
    const f = fakeDeps(hangs, () => undefined);
    const background = new BackgroundSync(f.deps, fast);
    background.start();
    await waitFor(() => f.calls() === 1);
    await background.stop();
    expect(f.signals[0].aborted).toBe(true);
    expect(f.active()).toBe(0);
    await tick(20);
    expect(f.calls()).toBe(1);
  });

  it('runs one generation at a time when start() follows an un-awaited stop()', async () => {
    let release: (() => void) | undefined;
    // The first sync ignores the abort for a while (a fetch that does not observe its signal).
    const f = fakeDeps(
      (signal) => (f.calls() === 1 ? new Promise<void>((resolve) => (release = resolve)) : hangs(signal)),
      () => undefined,
    );
    const background = new BackgroundSync(f.deps, fast);
    background.start();
    await waitFor(() => f.calls() === 1);
    const firstStop = background.stop();
    background.start();
    await tick(20);
    // The new loop waits for the old one instead of running beside it.
    expect(f.calls()).toBe(1);
    release?.();
    await firstStop;
    await waitFor(() => f.calls() === 2);
    expect(f.signals[1].aborted).toBe(false);
    await background.stop();
    expect(f.peak()).toBe(1);
    expect(f.signals.every((s) => s.aborted)).toBe(true);
    await tick(20);
    expect(f.calls()).toBe(2);
  });

  it('gives a second stop() the promise of the stop in progress', async () => {
    let release: (() => void) | undefined;
    const f = fakeDeps(
      () => new Promise<void>((resolve) => (release = resolve)),
      () => undefined,
    );
    const background = new BackgroundSync(f.deps, fast);
    background.start();
    await waitFor(() => f.calls() === 1);
    const first = background.stop();
    let secondSettled = false;
    const second = background.stop().then(() => (secondSettled = true));
    await tick(20);
    expect(secondSettled).toBe(false);
    release?.();
    await Promise.all([first, second]);
    expect(f.active()).toBe(0);
    await background.stop();
  });

  it('keeps syncing when onError throws or rejects', async () => {
    const reported: unknown[] = [];
    let reporterCall = 0;
    const f = fakeDeps(
      () => Promise.reject(new Error('offline')),
      (error) => {
        reported.push(error);
        // A reporter that throws, then an async one that rejects.
        if (++reporterCall % 2 === 1) throw new Error('reporter failed');
        return Promise.reject(new Error('async reporter failed')) as unknown as void;
      },
    );
    const background = new BackgroundSync(f.deps, fast);
    background.start();
    await waitFor(() => reported.length >= 4);
    expect(background.running).toBe(true);
    await background.stop();
  });
});
