import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { OversyncModule } from '@oversync/nestjs';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { FLOOR_SCHEMA } from './storage-floor.mjs';

/**
 * The benchmark business table, registered, an identical unregistered twin as the baseline, and the
 * storage floor's tables (see storage-floor.mjs).
 */
export const BENCH_SCHEMA = `
CREATE SCHEMA bench;
CREATE TABLE bench.items (
  _sync_scope_id text NOT NULL, id uuid NOT NULL, title text NOT NULL, body text, qty integer,
  price numeric, created_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (_sync_scope_id, id));
CREATE TABLE bench.items_plain (LIKE bench.items INCLUDING ALL);
${FLOOR_SCHEMA}`;

/** Starts a Nest application context with OversyncModule on `url` (no HTTP). */
export async function startEngine(url, extra = {}) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query(BENCH_SCHEMA);
  await client.end();
  class BenchModule {}
  Module({
    imports: [
      OversyncModule.forRoot({
        database: { connectionString: url, poolSize: 4 },
        registeredTables: [{ schema: 'bench', table: 'items', syncKeyColumns: ['id'] }],
        ...extra,
      }),
    ],
  })(BenchModule);
  const app = await NestFactory.createApplicationContext(BenchModule, { logger: ['error'] });
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  const plain = new Kysely({ dialect: new PostgresDialect({ pool }) });
  return {
    app,
    plain,
    close: async () => {
      await plain.destroy();
      await app.close();
    },
  };
}
