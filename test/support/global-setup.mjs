/**
 * Jest global setup: one PostgreSQL server for the whole run (see postgres-server.mjs). Workers
 * inherit `OVERSYNC_TEST_ADMIN_URL` and create one throwaway database per test file.
 * Plain ESM JavaScript because Jest loads global setup outside its TypeScript transform.
 */
import { startTestPostgres } from './postgres-server.mjs';

export default async function globalSetup() {
  const started = await startTestPostgres();
  globalThis.__OVERSYNC_PG__ = started;
  process.env.OVERSYNC_TEST_ADMIN_URL = started.adminUrl;
  process.env.OVERSYNC_TEST_PG_SOURCE = started.source;
  const safe = started.adminUrl.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
  console.log(`\n[oversync tests] PostgreSQL from ${started.source}: ${safe}`);
}
