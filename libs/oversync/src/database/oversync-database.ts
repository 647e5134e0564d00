import { Logger } from '@nestjs/common';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { OversyncDatabaseOption } from '../oversync.options.js';

/**
 * The module's handle on PostgreSQL. It remembers what it created so that shutdown closes only
 * that: a host-owned pool or Kysely instance is never ended by the module.
 */
export class OversyncDatabase {
  readonly kysely: Kysely<unknown>;
  /** A pool we can borrow dedicated clients from (LISTEN), when one is known. */
  readonly pool: pg.Pool | undefined;
  readonly #ownsKysely: boolean;

  constructor(option: OversyncDatabaseOption) {
    if ('kysely' in option) {
      this.kysely = option.kysely;
      this.pool = undefined;
      this.#ownsKysely = false;
    } else if ('pool' in option) {
      this.pool = option.pool;
      // Destroying this Kysely would end the host's pool, so we never destroy it.
      this.kysely = new Kysely<unknown>({ dialect: new PostgresDialect({ pool: option.pool }) });
      this.#ownsKysely = false;
    } else {
      this.pool = new pg.Pool({
        connectionString: option.connectionString,
        max: option.poolSize ?? 10,
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

  /** Ends the pool only when the module created it. */
  async close(): Promise<void> {
    if (this.#ownsKysely) await this.kysely.destroy();
  }
}
