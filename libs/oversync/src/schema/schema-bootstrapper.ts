import { Logger } from '@nestjs/common';
import { sql, type Kysely } from 'kysely';
import { UnsupportedSchemaError } from '../errors/index.js';
import { RETRYABLE_SQLSTATES, sqlState, toInt } from '../database/pg-values.util.js';
import type { ResolvedOversyncOptions } from '../oversync.options.js';
import { validateForeignKeys, type FkValidationResult } from './fk-validator.js';
import { CANONICAL_JSON_FUNCTIONS_DDL } from './canonical-json-functions.ddl.js';
import { SNAPSHOT_LAYOUT_UPGRADES_DDL } from './snapshot-layout-upgrades.ddl.js';
import { SYNC_FUNCTIONS_DDL } from './sync-functions.ddl.js';
import { SYNC_LAYOUT_UPGRADES_DDL } from './sync-layout-upgrades.ddl.js';
import { BOOTSTRAP_LOCK_KEY, SYNC_LAYOUT, TRIGGER_NAMES } from './sync-layout.constants.js';
import { SYNC_TABLES_DDL } from './sync-tables.ddl.js';
import { TableCatalog, type CatalogTable } from './table-catalog.js';
import { validateRegisteredTables } from './table-validator.js';
import {
  outdatedTriggersDdl,
  PARTITION_TRIGGERS,
  readInstalledTriggers,
  REGISTERED_TABLE_TRIGGERS,
} from './installed-triggers.util.js';
import { dropTriggerDdl, partitionTriggersDdl, registeredTableTriggersDdl } from './trigger.ddl.js';

/** What bootstrap found and installed. */
export interface BootstrapResult {
  catalog: TableCatalog;
  foreignKeys: FkValidationResult;
  /** True when this run created the `sync` schema (false: an identical layout already existed). */
  createdLayout: boolean;
}

const MAX_ATTEMPTS = 3;

/**
 * Validates the registered tables, creates or verifies the `sync` layout, checks foreign keys and
 * (re)installs the triggers. Idempotent, and safe when several instances start at once: every
 * phase that writes runs under one transaction-scoped advisory lock.
 *
 * A registered partitioned table gets its capture and TRUNCATE triggers on every partition that
 * exists at start-up (all levels). Limit: a partition created or attached later is covered only
 * from the next start; until then a statement aimed directly at it (not through the parent) is
 * neither refused outside a scope write nor captured inside one, and TRUNCATE of it is not
 * blocked. Writes through the parent are covered at once. Likewise a partition detached while
 * running keeps refusing writes outside a scope write until the next start removes its triggers.
 */
export class SchemaBootstrapper {
  readonly #logger = new Logger('OversyncBootstrap');

  constructor(
    private readonly db: Kysely<unknown>,
    private readonly options: ResolvedOversyncOptions,
  ) {}

  async run(): Promise<BootstrapResult> {
    await assertUtf8Database(this.db);
    const validated = await validateRegisteredTables(this.db, this.options.registeredTables);
    const catalog = new TableCatalog(validated);
    // FK rules are checked before any DDL, so a rejected configuration leaves no layout behind.
    const foreignKeys = await validateForeignKeys(this.db, catalog.tables, this.options.dependencyOverrides);
    const createdLayout = await this.#retry(() => this.#ensureLayout(catalog));
    const partitions = await this.#retry(() => this.#installFunctionsAndTriggers(catalog));
    this.#logger.log(
      `sync layout ${createdLayout ? 'created' : 'verified'}; ${catalog.tables.length} table(s) registered` +
        `${partitions > 0 ? ` (plus ${partitions} partition(s))` : ''}, apply order ${foreignKeys.tableOrder.join(' → ')}`,
    );
    return { catalog, foreignKeys, createdLayout };
  }

  async #retry<T>(fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (error) {
        if (attempt >= MAX_ATTEMPTS || !RETRYABLE_SQLSTATES.has(sqlState(error) ?? '')) throw error;
        await new Promise((r) => setTimeout(r, 50 * attempt));
      }
    }
  }

  /**
   * READ COMMITTED whatever the host's default: the advisory lock is taken inside the first
   * statement, so under REPEATABLE READ or SERIALIZABLE the snapshot would predate the wait for the
   * lock, and an instance that waited would find the winner's tables without their rows.
   */
  #lockedTransaction<T>(fn: (trx: Kysely<unknown>) => Promise<T>): Promise<T> {
    return this.db
      .transaction()
      .setIsolationLevel('read committed')
      .execute(async (trx) => {
        await sql`SELECT pg_advisory_xact_lock(${BOOTSTRAP_LOCK_KEY}::bigint)`.execute(trx);
        return fn(trx);
      });
  }

  async #ensureLayout(catalog: TableCatalog): Promise<boolean> {
    return this.#lockedTransaction(async (trx) => {
      const { rows } = await sql<{ meta: string | null; catalog: string | null; objects: string }>`
        SELECT to_regclass('sync.meta')::text AS meta, to_regclass('sync.table_catalog')::text AS catalog,
               ((SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'sync')
                + (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'sync'))::text AS objects`.execute(
        trx,
      );
      const state = rows[0];
      if (!state.meta && !state.catalog) {
        if (toInt(state.objects) > 0) {
          throw layoutError(
            'existing sync schema uses unsupported layout',
            'the schema "sync" holds objects that are not an Oversync layout',
          );
        }
        await sql.raw(SYNC_TABLES_DDL).execute(trx);
        for (const t of catalog.tables) {
          await sql`INSERT INTO sync.table_catalog (table_id, schema_name, table_name, sync_key_column, sync_key_kind)
                    VALUES (${t.tableId}, ${t.schema}, ${t.table}, ${t.keyColumn}, ${t.keyKindCode})`.execute(
            trx,
          );
        }
        return true;
      }
      if (!state.meta || !state.catalog) {
        throw layoutError(
          'existing sync schema is missing required marker tables',
          'sync.meta or sync.table_catalog is missing',
        );
      }
      await this.#verifyMarkers(trx, catalog);
      return false;
    });
  }

  async #verifyMarkers(trx: Kysely<unknown>, catalog: TableCatalog): Promise<void> {
    const meta = await sql<{ singleton_key: boolean; protocol_label: string; layout_name: string }>`
      SELECT singleton_key, protocol_label, layout_name FROM sync.meta`.execute(trx);
    const m = meta.rows;
    if (
      m.length !== 1 ||
      m[0].protocol_label !== SYNC_LAYOUT.protocolLabel ||
      m[0].layout_name !== SYNC_LAYOUT.layoutName
    ) {
      throw layoutError(
        `existing sync schema uses unsupported layout (${m.map((r) => `${r.protocol_label}/${r.layout_name}`).join(', ') || 'no marker row'}; expected ${SYNC_LAYOUT.protocolLabel}/${SYNC_LAYOUT.layoutName})`,
        'the layout marker does not match this library',
      );
    }
    const existing = await sql<{
      table_id: number;
      schema_name: string;
      table_name: string;
      sync_key_column: string;
      sync_key_kind: number;
    }>`
      SELECT table_id, schema_name, table_name, sync_key_column, sync_key_kind FROM sync.table_catalog ORDER BY table_id`.execute(
      trx,
    );
    const have = existing.rows.map(
      (r) => `${r.table_id}:${r.schema_name}.${r.table_name}:${r.sync_key_column}:${r.sync_key_kind}`,
    );
    const want = catalog.tables.map((t) => `${t.tableId}:${t.qualifiedName}:${t.keyColumn}:${t.keyKindCode}`);
    if (have.join('|') !== want.join('|')) {
      throw new UnsupportedSchemaError(
        `The registered tables differ from the sync table catalog stored in the database (stored: ${have.join(', ')}; configured: ${want.join(', ')}). ` +
          'Fix: register exactly the stored tables, or drop the schema "sync" (DROP SCHEMA sync CASCADE, which discards sync history; clients then rebuild) and start again.',
        {
          table: 'sync.table_catalog',
          rule: 'catalog_mismatch',
          fix: 'restore the registered table list or drop the sync schema',
        },
      );
    }
  }

  /** Installs functions and triggers; returns how many partitions got their own triggers. */
  async #installFunctionsAndTriggers(catalog: TableCatalog): Promise<number> {
    return this.#lockedTransaction(async (trx) => {
      // Quiet the "… does not exist, skipping" notices of first installs and finished upgrades.
      await sql`SET LOCAL client_min_messages = warning`.execute(trx);
      // Function bodies spell backslashes literally; check them as they will run.
      await sql`SET LOCAL standard_conforming_strings = on`.execute(trx);
      await sql.raw(SYNC_FUNCTIONS_DDL).execute(trx);
      await sql.raw(CANONICAL_JSON_FUNCTIONS_DDL).execute(trx);
      await sql.raw(SYNC_LAYOUT_UPGRADES_DDL).execute(trx);
      await sql.raw(SNAPSHOT_LAYOUT_UPGRADES_DDL).execute(trx);
      // Partitions are read without a lock on their parents (which are only locked when their
      // triggers change): one attached meanwhile is covered from the next start, as documented.
      const partitions = await readPartitions(trx, catalog.tables);
      const stale = await readStaleTriggers(trx, catalog.tables);
      const installed = await readInstalledTriggers(trx);
      // One script, one round trip, however many tables, partitions and stale triggers there are.
      const script = [
        outdatedTriggersDdl(
          [
            ...catalog.tables.map((t) => ({
              schema: t.schema,
              table: t.table,
              ddl: registeredTableTriggersDdl(t.schema, t.table, t.keyColumn, t.keyKindCode, t.tableId),
              names: REGISTERED_TABLE_TRIGGERS,
            })),
            ...partitions.map((p) => ({
              schema: p.schema,
              table: p.table,
              ddl: partitionTriggersDdl(p.schema, p.table, p.of.keyColumn, p.of.keyKindCode, p.of.tableId),
              names: PARTITION_TRIGGERS,
            })),
          ],
          installed,
        ),
        ...stale.map((s) => dropTriggerDdl(s.schema_name, s.table_name, s.trigger_name)),
      ].join('\n');
      if (script.trim() !== '') await sql.raw(script).execute(trx);
      return partitions.length;
    });
  }
}

/** A partition (at any level) of a registered partitioned table. */
interface Partition {
  schema: string;
  table: string;
  of: CatalogTable;
}

/** Every partition, at every level, of the registered partitioned tables. */
async function readPartitions(trx: Kysely<unknown>, tables: readonly CatalogTable[]): Promise<Partition[]> {
  const { rows } = await sql<{ ord: string; schema_name: string; table_name: string }>`
    SELECT r.ord::text AS ord, n.nspname AS schema_name, k.relname AS table_name
      FROM unnest(${tables.map((t) => t.schema)}::text[], ${tables.map((t) => t.table)}::text[])
             WITH ORDINALITY AS r(schema_name, table_name, ord)
     CROSS JOIN LATERAL pg_partition_tree(format('%I.%I', r.schema_name, r.table_name)::regclass) pt
      JOIN pg_class k ON k.oid = pt.relid
      JOIN pg_namespace n ON n.oid = k.relnamespace
     -- Level 0 is the registered table itself. Foreign partitions cannot carry transition tables,
     -- but cannot exist either: a registered table has a unique index, which PostgreSQL does not
     -- allow on a partitioned table with foreign partitions.
     WHERE pt.level > 0 AND k.relkind IN ('r', 'p')
     ORDER BY r.ord, pt.level, n.nspname, k.relname`.execute(trx);
  return rows.map((r) => ({ schema: r.schema_name, table: r.table_name, of: tables[toInt(r.ord) - 1] }));
}

/**
 * Our triggers left on tables that are neither registered nor partitions of a registered table:
 * typically a partition detached since the last start, which would otherwise keep refusing every
 * write made outside a scope write. Clones of row-level triggers (tgparentid <> 0) belong to a
 * still-attached partition and go away with their parent's trigger.
 */
async function readStaleTriggers(
  trx: Kysely<unknown>,
  tables: readonly CatalogTable[],
): Promise<{ schema_name: string; table_name: string; trigger_name: string }[]> {
  const { rows } = await sql<{ schema_name: string; table_name: string; trigger_name: string }>`
    WITH registered AS (
      SELECT format('%I.%I', r.schema_name, r.table_name)::regclass AS relid
        FROM unnest(${tables.map((t) => t.schema)}::text[], ${tables.map((t) => t.table)}::text[])
               AS r(schema_name, table_name)
    ), covered AS (
      SELECT relid FROM registered
      UNION SELECT pt.relid FROM registered r CROSS JOIN LATERAL pg_partition_tree(r.relid) pt
    )
    SELECT n.nspname AS schema_name, c.relname AS table_name, tg.tgname AS trigger_name
      FROM pg_trigger tg
      JOIN pg_class c ON c.oid = tg.tgrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace
      JOIN pg_proc p ON p.oid = tg.tgfoid
      JOIN pg_namespace pn ON pn.oid = p.pronamespace
     WHERE tg.tgname = ANY(${Object.values(TRIGGER_NAMES)}::text[])
       AND tg.tgparentid = 0
       AND pn.nspname = 'sync'
       AND p.proname IN ('capture_registered_rows', 'reject_registered_truncate', 'enforce_registered_row_owner')
       AND tg.tgrelid NOT IN (SELECT relid FROM covered)
     ORDER BY 1, 2, 3`.execute(trx);
  return rows;
}

/**
 * Canonical JSON, `byte_count` and key order are defined on UTF-8 bytes, and PostgreSQL computes
 * them in the database encoding, so any other encoding is refused before anything is created.
 */
async function assertUtf8Database(db: Kysely<unknown>): Promise<void> {
  const { rows } = await sql<{
    encoding: string;
  }>`SELECT current_setting('server_encoding') AS encoding`.execute(db);
  const encoding = rows[0]?.encoding ?? 'unknown';
  if (encoding !== 'UTF8') {
    throw new UnsupportedSchemaError(
      `The database encoding is ${encoding}; Oversync needs UTF8. Fix: create the database with ENCODING 'UTF8' (CREATE DATABASE … ENCODING 'UTF8' TEMPLATE template0) and move the data there.`,
      { table: 'database', rule: 'utf8_encoding', fix: 'use a UTF8 database' },
    );
  }
}

function layoutError(message: string, rule: string): UnsupportedSchemaError {
  return new UnsupportedSchemaError(
    `${message}. Fix: point Oversync at a database whose schema "sync" was created by @oversync/nestjs, or drop that schema if it is not in use.`,
    { table: 'sync', rule, fix: 'use a database without a foreign "sync" schema' },
  );
}
