import {
  Injectable,
  Logger,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { sql } from 'kysely';
import pg from 'pg';
import { toInt } from '../database/pg-values.util.js';
import { OversyncRuntime } from '../runtime/oversync-runtime.service.js';
import { BundleChangeHub } from './bundle-change.hub.js';

const INITIAL_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 2000;
/** Poll period when no `pg.Pool` is available for a LISTEN connection (host-provided Kysely). */
const POLL_INTERVAL_MS = 1000;

interface BundleChangeNotice {
  user_pk?: unknown;
  bundle_seq?: unknown;
  source_id?: unknown;
  source_bundle_id?: unknown;
}

/**
 * The one LISTEN connection of this application instance. Every commit NOTIFYs inside its
 * transaction (delivered only on COMMIT, so rollbacks never wake anyone); this client fans each
 * notice out to the local {@link BundleChangeHub}. After every (re)connect it publishes the latest
 * `bundle_seq` of each watched scope, so notices missed while disconnected are caught up. It
 * reconnects with backoff (100 ms doubling to 2 s) and stops on shutdown.
 *
 * The client is a dedicated `pg.Client` built from the module pool's settings (the same way the
 * pool builds its own clients), so it never occupies a pool slot. With only a host-provided
 * Kysely there is no pool to take settings from: the listener then polls the watched scopes every
 * second instead, and logs a warning saying so.
 */
@Injectable()
export class BundleChangeListener implements OnApplicationBootstrap, BeforeApplicationShutdown {
  readonly #logger = new Logger('OversyncWatch');
  #client: pg.Client | undefined;
  #stopped = false;
  #backoffMs = INITIAL_BACKOFF_MS;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #pollTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly runtime: OversyncRuntime,
    private readonly hub: BundleChangeHub,
  ) {}

  /** True while the LISTEN connection is up. */
  get listening(): boolean {
    return this.#client !== undefined;
  }

  async onApplicationBootstrap(): Promise<void> {
    if (!this.runtime.options.watch.enabled) return;
    if (!this.runtime.database.pool) {
      this.#logger.warn(
        'watch is enabled but the module was given a Kysely instance without a pg.Pool, so there is no connection to LISTEN on; ' +
          'watchers are woken by polling every second instead. Fix: pass database.pool or database.connectionString.',
      );
      this.#pollTimer = setInterval(() => {
        this.#catchUp().catch((error: Error) => this.#logger.warn(`watch poll failed: ${error.message}`));
      }, POLL_INTERVAL_MS);
      this.#pollTimer.unref();
      return;
    }
    // Wait for the first attempt so watchers work as soon as the app listens; failures retry in background.
    try {
      await this.#connect();
    } catch (error) {
      this.#logger.warn(`LISTEN connection failed: ${(error as Error).message}; retrying`);
      this.#scheduleReconnect();
    }
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#reconnectTimer);
    clearInterval(this.#pollTimer);
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => undefined);
  }

  async #connect(): Promise<void> {
    const pool = this.runtime.database.pool!;
    const client = new pg.Client({ ...pool.options, application_name: 'oversync_watch' });
    let lost = false;
    const onLost = (error?: Error): void => {
      if (lost) return;
      lost = true;
      if (this.#client === client) this.#client = undefined;
      void client.end().catch(() => undefined);
      if (this.#stopped) return;
      this.#logger.warn(`LISTEN connection lost${error ? `: ${error.message}` : ''}; reconnecting`);
      this.#scheduleReconnect();
    };
    let ready = false;
    client.on('notification', (message) => this.#onNotification(message.payload));
    // Attached before connect: an 'error' event without a listener would crash the process.
    client.on('error', (error) => (ready ? onLost(error) : undefined));
    client.on('end', () => (ready ? onLost() : undefined));
    try {
      await client.connect();
      await client.query(`LISTEN ${quoteIdent(this.runtime.options.watch.notifyChannel)}`);
    } catch (error) {
      lost = true;
      await client.end().catch(() => undefined);
      throw error;
    }
    if (this.#stopped) {
      lost = true;
      await client.end().catch(() => undefined);
      return;
    }
    ready = true;
    this.#client = client;
    // LISTEN is active now: anything committed from here on is notified; catch up on the rest.
    try {
      await this.#catchUp();
    } catch (error) {
      // A wake-up missed while the connection was down arrives only through this catch-up, so a
      // failed one restarts the whole session with backoff (as go-oversync's listener does).
      onLost(new Error(`catch-up failed: ${(error as Error).message}`));
      return;
    }
    this.#backoffMs = INITIAL_BACKOFF_MS;
  }

  #scheduleReconnect(): void {
    if (this.#stopped || this.#reconnectTimer) return;
    const delay = this.#backoffMs;
    this.#backoffMs = Math.min(this.#backoffMs * 2, MAX_BACKOFF_MS);
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      this.#connect().catch((error: Error) => {
        this.#logger.warn(`LISTEN reconnect failed: ${error.message}`);
        this.#scheduleReconnect();
      });
    }, delay);
    this.#reconnectTimer.unref();
  }

  /** Publishes `{bundle_seq: latest}` for every watched scope. @throws the query's error. */
  async #catchUp(): Promise<void> {
    const userPks = this.hub.subscribedUserPks();
    if (userPks.length === 0 || this.#stopped) return;
    const { rows } = await sql<{ user_pk: string; latest: string }>`
      SELECT user_pk::text AS user_pk, (next_bundle_seq - 1)::text AS latest
        FROM sync.user_state WHERE user_pk = ANY(${userPks}::bigint[])`.execute(this.runtime.db);
    for (const row of rows) {
      const latest = toInt(row.latest);
      if (latest > 0) this.hub.publish(toInt(row.user_pk), { bundle_seq: latest });
    }
  }

  #onNotification(payload: string | undefined): void {
    let notice: BundleChangeNotice;
    try {
      notice = JSON.parse(payload ?? '') as BundleChangeNotice;
    } catch {
      return;
    }
    const {
      user_pk: userPk,
      bundle_seq: bundleSeq,
      source_id: sourceId,
      source_bundle_id: sourceBundleId,
    } = notice ?? {};
    if (!isPositiveInt(userPk) || !isPositiveInt(bundleSeq)) return;
    this.hub.publish(userPk, {
      bundle_seq: bundleSeq,
      ...(typeof sourceId === 'string' && sourceId !== '' ? { source_id: sourceId } : {}),
      ...(isPositiveInt(sourceBundleId) ? { source_bundle_id: sourceBundleId } : {}),
    });
  }
}

function isPositiveInt(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0;
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
