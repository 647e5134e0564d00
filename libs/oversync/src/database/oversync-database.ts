import { Logger } from '@nestjs/common';
import { Kysely, PostgresDialect, type KyselyPlugin, type Transaction } from 'kysely';
import pg from 'pg';
import type { OversyncDatabaseOption } from '../oversync.options.js';

/**
 * The module's handle on PostgreSQL. It remembers what it created so that shutdown closes only
 * that: a host-owned pool or Kysely instance is never ended by the module.
 */
export class OversyncDatabase {
  /** The engine's own handle: never carries plugins, whatever the host's Kysely has. */
  readonly kysely: Kysely<unknown>;
  /** A pool we can borrow dedicated clients from (LISTEN), when one is known. */
  readonly pool: pg.Pool | undefined;
  readonly #ownsKysely: boolean;
  /** The plugins of a host-provided Kysely, given back to host callbacks. */
  readonly #hostPlugins: readonly KyselyPlugin[];

  constructor(option: OversyncDatabaseOption) {
    if ('kysely' in option) {
      // Our SQL reads its result columns by their SQL names and passes rendered JSON through as
      // text: a host plugin such as CamelCasePlugin (renames columns) or ParseJSONResultsPlugin
      // (parses JSON-looking strings) would break both. The copy shares the host's driver.
      this.kysely = option.kysely.withoutPlugins();
      // `getExecutor()` is typed but marked internal; it is the only way to read the plugin list.
      this.#hostPlugins = [...option.kysely.getExecutor().plugins];
      this.pool = undefined;
      this.#ownsKysely = false;
    } else if ('pool' in option) {
      this.pool = option.pool;
      this.#hostPlugins = [];
      // Destroying this Kysely would end the host's pool, so we never destroy it.
      this.kysely = new Kysely<unknown>({ dialect: new PostgresDialect({ pool: option.pool }) });
      this.#ownsKysely = false;
    } else {
      this.#hostPlugins = [];
      this.pool = new pg.Pool({
        connectionString: option.connectionString,
        max: option.poolSize || 10,
        application_name: 'oversync',
      });
      // An idle client can die under us (server restart, DROP DATABASE … FORCE); pg-pool emits that
      // as an 'error' event, which would crash the host process if nobody listened.
      this.pool.on('error', (error) =>
        new Logger('OversyncDatabase').warn(`idle PostgreSQL client error: ${error.message}`),
      );
      this.kysely = new Kysely<unknown>({ dialect: new PostgresDialect({ pool: this.pool }) });
      this.#ownsKysely = true;
    }
  }

  /**
   * The transaction as host code sees it (execWrite, withinSyncBundle, `@ScopeWrite`): with the
   * host Kysely's plugins, on the same connection.
   */
  forHost(trx: Transaction<unknown>): Transaction<unknown> {
    return this.#hostPlugins.reduce((t, plugin) => t.withPlugin(plugin), trx);
  }

  /** Ends the pool only when the module created it. */
  async close(): Promise<void> {
    if (this.#ownsKysely) await this.kysely.destroy();
  }
}
