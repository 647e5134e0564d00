import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { Kysely } from 'kysely';
import { OversyncDatabase } from '../database/oversync-database.js';
import { OVERSYNC_DATABASE, OVERSYNC_RESOLVED_OPTIONS } from '../oversync.internal-constants.js';
import type { ResolvedOversyncOptions } from '../oversync.options.js';
import type { FkValidationResult } from '../schema/fk-validator.js';
import { SchemaBootstrapper } from '../schema/schema-bootstrapper.js';
import type { TableCatalog } from '../schema/table-catalog.js';

/**
 * Owns start-up and shutdown of the engine: bootstraps the `sync` schema on module init (before
 * the app listens) and closes the connections the module created on application shutdown.
 */
@Injectable()
export class OversyncRuntime implements OnModuleInit, OnApplicationShutdown {
  #catalog: TableCatalog | undefined;
  #foreignKeys: FkValidationResult | undefined;

  constructor(
    @Inject(OVERSYNC_RESOLVED_OPTIONS) readonly options: ResolvedOversyncOptions,
    @Inject(OVERSYNC_DATABASE) readonly database: OversyncDatabase,
  ) {}

  get db(): Kysely<unknown> {
    return this.database.kysely;
  }

  /** The registered tables; available once bootstrap has run. */
  get catalog(): TableCatalog {
    if (!this.#catalog)
      throw new Error(
        'Oversync is not bootstrapped yet: the module initialises it on start-up (app.init()).',
      );
    return this.#catalog;
  }

  get foreignKeys(): FkValidationResult | undefined {
    return this.#foreignKeys;
  }

  async onModuleInit(): Promise<void> {
    let result;
    try {
      result = await new SchemaBootstrapper(this.db, this.options).run();
    } catch (error) {
      // Nest does not call shutdown hooks when init fails; do not leave our pool open.
      await this.database.close();
      throw error;
    }
    this.#catalog = result.catalog;
    this.#foreignKeys = result.foreignKeys;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.database.close();
  }
}
