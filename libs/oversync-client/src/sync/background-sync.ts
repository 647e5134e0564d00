import { isOversyncClientError } from '../errors/oversync-client.error.js';
import { reportSafely } from '../errors/report-safely.util.js';
import { readWatchStream } from '../transport/watch-stream.js';

/** Background sync tuning. */
export interface BackgroundSyncOptions {
  /**
   * Delay after a precondition failure and the first error backoff.
   * @default 1000
   */
  minBackoffMs?: number;
  /**
   * Cap of the doubling error backoff.
   * @default 60000
   */
  maxBackoffMs?: number;
  /**
   * Sync interval when no watch stream is open (polling).
   * @default 10000
   */
  pollIntervalMs?: number;
  /**
   * `'auto'` opens `GET /sync/watch` when capabilities advertise `bundle_change_watch`; `'off'` polls.
   * @default 'auto'
   */
  watch?: 'auto' | 'off';
  /**
   * Safety sync interval while a watch stream is open.
   * @default 60000
   */
  watchFallbackIntervalMs?: number;
  /**
   * Longest silence on an open watch stream (no event, no `: heartbeat`) before it counts as dead
   * and is reopened, with one pull in case an event was lost. Servers send a heartbeat every 25 s
   * by default; a half-open connection would otherwise pass for a quiet stream indefinitely.
   * @default 90000
   */
  watchIdleTimeoutMs?: number;
  /**
   * Delay between a local write and the push it triggers (coalesces bursts).
   * @default 200
   */
  localChangeDebounceMs?: number;
}

/** What the loops need from the client. */
export interface BackgroundSyncDeps {
  /**
   * One full sync (push, then pull) through the client's locked entry point; `signal` aborts its
   * requests when the loops stop.
   */
  sync(signal: AbortSignal): Promise<unknown>;
  /** True when attached and connected (checked without network). */
  isConnected(): boolean;
  /**
   * True when a watch stream can be opened: connected, and the scope initialized. While this device
   * holds the seed lease (`seeded_from_local`, seed not pushed yet) the server answers
   * `409 scope_initializing` to `/sync/watch`. Defaults to {@link BackgroundSyncDeps.isConnected}.
   */
  canWatch?(): boolean;
  /** Whether to use watch (capabilities, cached). */
  watchSupported(signal: AbortSignal): Promise<boolean>;
  /** Opens the SSE response for the current checkpoint and source. */
  openWatch(signal: AbortSignal): Promise<Response>;
  lastBundleSeqSeen(): number;
  onError(error: unknown): void;
}

const LIFECYCLE_CODES = new Set(['open_required', 'attach_required', 'destructive_transition_in_progress']);

/** The longest delay `setTimeout` honours; longer ones (and `Infinity`) fire after 1 ms. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A delay option as a timer can take it: unset, `NaN` or not positive (0 allowed with
 * `zeroAllowed`) → the default; above the timer limit (e.g. `Infinity`, meaning "never") → the
 * limit, about 24.8 days. Timers turn both into 1 ms, which would make a loop spin.
 */
function timerMs(value: number | undefined, fallback: number, zeroAllowed = false): number {
  if (value === undefined || Number.isNaN(value) || value < 0 || (value === 0 && !zeroAllowed))
    return fallback;
  return Math.min(value, MAX_TIMER_MS);
}

/** Watch answers that mean "poll instead" (README: 403 forbidden, 503 disabled), not "retry later". */
const POLLING_CODES: ReadonlySet<string> = new Set([
  'bundle_change_watch_forbidden',
  'bundle_change_watch_disabled',
]);

/**
 * What can end a sleep early: `sync` (the sync loop's idle sleeps) wakes on `kick()`; `watchIdle`
 * (the watch loop waiting for a session it can watch) wakes after every successful sync; the sync
 * loop's error backoff and the watch loop's error backoff wake only on `sessionChanged()`. Every
 * channel wakes on `sessionChanged()` and `stop()`.
 */
type WakeChannel = 'sync' | 'syncBackoff' | 'watch' | 'watchIdle';

/** The loops of one `start()`, ended by the `stop()` that aborts `abort`. */
interface Generation {
  readonly abort: AbortController;
  /** Settles once the loops (and those of every earlier generation) have returned. */
  readonly loops: Promise<void>;
}

/**
 * Two cooperating loops: a sync loop (push + pull on a timer, on local writes and on watch events,
 * with doubling backoff on errors) and, when the server supports it, a watch loop that keeps an SSE
 * stream open and wakes the sync loop for every new bundle. Watch events never write to SQLite.
 *
 * Each `start()` begins a generation whose loops check only their own signal, so loops that a
 * `stop()` ended can never be revived by a later `start()`. A `start()` while a `stop()` is still
 * settling runs its loops after the old ones returned: two generations never overlap (they would
 * hold two watch streams and race for the client lock).
 */
export class BackgroundSync {
  readonly #o: Required<BackgroundSyncOptions>;
  readonly #report: (error: unknown) => void;
  #current: Generation | undefined;
  /** The latest `stop()` still settling; it settles after every earlier generation too. */
  #stopping: Promise<void> | undefined;
  #kicked = false;
  #watching = false;
  /** One waker per channel; each channel has at most one sleeper (its loop). */
  readonly #wakers = new Map<WakeChannel, () => void>();
  /** Aborts the current watch connection only (a session change), not the loops. */
  #stream: AbortController | undefined;
  /** Counts session changes, so an error backoff that one interrupted starts over. */
  #sessionEpoch = 0;
  #debounce: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly deps: BackgroundSyncDeps,
    options: BackgroundSyncOptions = {},
  ) {
    this.#report = reportSafely((error) => deps.onError(error));
    const minBackoffMs = timerMs(options.minBackoffMs, 1000);
    this.#o = {
      minBackoffMs,
      maxBackoffMs: Math.max(timerMs(options.maxBackoffMs, 60_000), minBackoffMs),
      pollIntervalMs: timerMs(options.pollIntervalMs, 10_000),
      watch: options.watch ?? 'auto',
      watchFallbackIntervalMs: timerMs(options.watchFallbackIntervalMs, 60_000),
      watchIdleTimeoutMs: timerMs(options.watchIdleTimeoutMs, 90_000),
      localChangeDebounceMs: timerMs(options.localChangeDebounceMs, 200, true),
    };
  }

  get running(): boolean {
    return this.#current !== undefined;
  }

  /** True while a watch stream is open. */
  get watching(): boolean {
    return this.#watching;
  }

  /** Starts the loops (after a `stop()` still in progress has settled). Idempotent while running. */
  start(): void {
    if (this.#current) return;
    const abort = new AbortController();
    const previous = this.#stopping ?? Promise.resolve();
    this.#current = { abort, loops: previous.then(() => this.#run(abort.signal)) };
  }

  /**
   * Ends the loops: aborts their requests and sleeps, and resolves once they (and the loops of any
   * earlier `start()`) have returned. A call while a stop is settling returns that stop's promise.
   */
  stop(): Promise<void> {
    const current = this.#current;
    if (!current) return this.#stopping ?? Promise.resolve();
    this.#current = undefined;
    current.abort.abort();
    if (this.#debounce !== undefined) clearTimeout(this.#debounce);
    this.#debounce = undefined;
    for (const wake of [...this.#wakers.values()]) wake();
    const stopping: Promise<void> = current.loops.then(() => {
      if (this.#stopping === stopping) this.#stopping = undefined;
    });
    this.#stopping = stopping;
    return stopping;
  }

  /** Runs a sync cycle as soon as possible. */
  kick(): void {
    this.#kicked = true;
    this.#wakers.get('sync')?.();
  }

  /**
   * The attached user changed (`attach` or `detach`). The open watch stream carries the previous
   * user's token and checkpoint, so it is closed and reopened for the new session (or not at all
   * while detached), and a sync cycle runs at once instead of after the post-sync interval.
   */
  sessionChanged(): void {
    if (!this.#current) return;
    this.#sessionEpoch++;
    this.#kicked = true;
    this.#stream?.abort();
    // The previous session's error backoffs do not apply to the new one either.
    for (const wake of [...this.#wakers.values()]) wake();
  }

  /** A local write happened: sync after the debounce delay. */
  notifyLocalChange(): void {
    if (!this.#current || this.#debounce !== undefined) return;
    this.#debounce = setTimeout(() => {
      this.#debounce = undefined;
      this.kick();
    }, this.#o.localChangeDebounceMs);
  }

  async #run(signal: AbortSignal): Promise<void> {
    if (signal.aborted) return;
    const loops = [this.#syncLoop(signal)];
    if (this.#o.watch === 'auto') loops.push(this.#watchLoop(signal));
    await Promise.allSettled(loops);
  }

  /** Sleeps; a sleep on a `channel` also ends when that channel is woken. Always ends on `stop()`. */
  #sleep(ms: number, channel: WakeChannel | null, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.resolve();
    // A pending kick shortens the sleep to one macrotask, never to zero: the loops must always
    // yield to timers and I/O, or a stream of kicks could starve the event loop.
    const delay = channel === 'sync' && this.#kicked ? 0 : ms;
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        if (channel && this.#wakers.get(channel) === done) this.#wakers.delete(channel);
        resolve();
      };
      const timer = setTimeout(done, delay);
      signal.addEventListener('abort', done, { once: true });
      if (channel) this.#wakers.set(channel, done);
    });
  }

  async #syncLoop(signal: AbortSignal): Promise<void> {
    let backoff = this.#o.minBackoffMs;
    while (!signal.aborted) {
      if (!this.deps.isConnected()) {
        // Nothing can sync while detached; kicks from anonymous writes are dropped. The sleep is
        // wakeable so that attach() (which kicks) syncs the new user at once.
        this.#kicked = false;
        await this.#sleep(this.#o.minBackoffMs, 'sync', signal);
        continue;
      }
      this.#kicked = false;
      try {
        await this.deps.sync(signal);
        backoff = this.#o.minBackoffMs;
        // A sync may have made the session watchable (its seed push initialized the scope).
        this.#wakers.get('watchIdle')?.();
        const idle = this.#watching ? this.#o.watchFallbackIntervalMs : this.#o.pollIntervalMs;
        await this.#sleep(idle, 'sync', signal);
      } catch (error) {
        // A sync cut short by stop() is not an error worth reporting.
        if (signal.aborted) return;
        const code = isOversyncClientError(error) ? error.code : '';
        if (code === 'sync_in_progress' || LIFECYCLE_CODES.has(code)) {
          backoff = this.#o.minBackoffMs;
          await this.#sleep(this.#o.minBackoffMs, code === 'sync_in_progress' ? 'sync' : null, signal);
          continue;
        }
        this.#report(error);
        backoff = await this.#backoff(backoff, 'syncBackoff', signal);
      }
    }
  }

  async #watchLoop(signal: AbortSignal): Promise<void> {
    let backoff = this.#o.minBackoffMs;
    /** The session epoch in which watch turned out unsupported, forbidden or disabled (polling until it changes). */
    let pollingEpoch: number | undefined;
    while (!signal.aborted) {
      const watchable = this.deps.canWatch ? this.deps.canWatch() : this.deps.isConnected();
      if (pollingEpoch === this.#sessionEpoch || !watchable) {
        await this.#sleep(this.#o.minBackoffMs, 'watchIdle', signal);
        continue;
      }
      pollingEpoch = undefined;
      const epoch = this.#sessionEpoch;
      // One controller per connection: a session change closes this stream but keeps the loop.
      const stream = new AbortController();
      const stopStream = () => stream.abort();
      signal.addEventListener('abort', stopStream, { once: true });
      this.#stream = stream;
      try {
        if (!(await this.deps.watchSupported(stream.signal))) {
          // Polling for this session; a user switch asks the (re-read) capabilities again.
          pollingEpoch = epoch;
          continue;
        }
        const response = await this.deps.openWatch(stream.signal);
        this.#watching = true;
        await readWatchStream(
          response,
          (event) => {
            if (event.bundle_seq > this.deps.lastBundleSeqSeen()) this.kick();
          },
          {
            signal: stream.signal,
            // Only a stream that delivers something (an event, a heartbeat) ends the error backoff:
            // one that a proxy or a failing server closes right after its headers would otherwise
            // be reopened, with a fallback pull each time, every minBackoffMs forever.
            onData: () => (backoff = this.#o.minBackoffMs),
            idleTimeoutMs: this.#o.watchIdleTimeoutMs,
          },
        );
      } catch (error) {
        if (signal.aborted) return;
        if (
          isOversyncClientError(error, 'http_status') &&
          POLLING_CODES.has(error.details['error'] as string)
        ) {
          // Denied for this actor, or disabled on this server: poll until the session changes
          // (another user may be allowed; a new attach reads the capabilities again).
          pollingEpoch = epoch;
          continue;
        }
        // A failure caused by closing the stream on purpose is not an error worth reporting.
        if (!stream.signal.aborted) this.#report(error);
      } finally {
        signal.removeEventListener('abort', stopStream);
        if (this.#stream === stream) this.#stream = undefined;
        this.#watching = false;
      }
      if (signal.aborted) return;
      if (stream.signal.aborted) {
        // Closed by a session change (which already kicked the sync loop): reconnect at once
        // for the new session, without an error backoff.
        backoff = this.#o.minBackoffMs;
        continue;
      }
      // The stream ended or failed: pull once now in case an event was missed, then reconnect.
      this.kick();
      backoff = await this.#backoff(backoff, 'watch', signal);
    }
  }

  /**
   * Sleeps an error backoff and returns the next one: doubled, or back to the minimum when a
   * session change cut the sleep short (the failures belonged to the previous session).
   */
  async #backoff(ms: number, channel: WakeChannel, signal: AbortSignal): Promise<number> {
    const epoch = this.#sessionEpoch;
    await this.#sleep(ms, channel, signal);
    return epoch === this.#sessionEpoch ? Math.min(ms * 2, this.#o.maxBackoffMs) : this.#o.minBackoffMs;
  }
}
