import { fileURLToPath } from 'node:url';
import { createDemoApp } from './demo-app.js';
import { DemoConfigError } from './demo-config.error.js';
import { startDemoDatabase } from './database/demo-database.js';
import { EmbeddedPostgresStartError } from './database/embedded-postgres.error.js';
import { demoConfig, type DemoConfig } from './demo.config.js';

/** What to close on shutdown, in reverse start order (the app before its database). */
const closers: Array<() => Promise<void>> = [];
let stopping = false;

/**
 * SIGINT/SIGTERM: closes the app (in-flight requests finish, the sync engine drains), then stops
 * the embedded PostgreSQL, then exits 0. Registered before anything starts, so a signal during
 * start-up still stops what has started. A repeated signal is ignored (a second Ctrl-C must not
 * cut the close short).
 */
function shutDown(): void {
  if (stopping) return;
  stopping = true;
  void (async () => {
    let code = 0;
    for (const close of closers.reverse()) {
      try {
        await close();
      } catch (error) {
        console.error(error);
        code = 1;
      }
    }
    process.exit(code);
  })();
}

/** `npm start`: the demo server on PORT (default 3000) with the web page from apps/demo-web/dist. */
async function main(): Promise<void> {
  process.on('SIGINT', shutDown);
  process.on('SIGTERM', shutDown);
  // Started by scripts/start-demo.mjs in its own process group with an IPC channel: when that
  // wrapper dies without forwarding a signal, the channel closes and the server stops as well.
  if (process.send) process.on('disconnect', shutDown);
  // Settings first: a production start without secrets is refused before PostgreSQL starts.
  const config = demoConfig();
  const database = await startDemoDatabase();
  closers.push(() => database.stop());
  const demo = await createDemoApp({
    databaseUrl: database.url,
    port: config.port,
    webRoot: fileURLToPath(new URL('../../demo-web/dist', import.meta.url)),
  });
  closers.push(() => demo.close());
  console.log(`\nOversync demo on ${demo.url} (PostgreSQL: ${database.source})`);
  if (!demo.servesWeb) console.log('The web page is not built: run `npm run build:web` (npm start does).');
  printHints(config, demo.url);
}

function printHints(config: DemoConfig, url: string): void {
  if (config.jwtSecretIsDefault) {
    console.log('JWT_SECRET not set: using the development default secret (never use it in production).');
  }
  if (config.adminTokenIsDefault) {
    console.log(`ADMIN_TOKEN not set: admin API uses the development token '${config.adminToken}'.`);
  }
  if (config.devLogin) {
    console.log(
      `Get a token: curl -s -XPOST ${url}/auth/dev-login -H 'content-type: application/json' -d '{"userId":"alice"}'`,
    );
    console.log(
      `Admin edit:  curl -s -XPOST ${url}/admin/users/alice/posts -H 'authorization: Bearer ${config.adminToken}' ` +
        `-H 'content-type: application/json' -d '{"title":"Hello from the back office"}'`,
    );
  }
}

main().catch((error: unknown) => {
  // Configuration and embedded-PostgreSQL errors explain themselves; a stack adds nothing.
  const known = error instanceof DemoConfigError || error instanceof EmbeddedPostgresStartError;
  console.error(known ? `Oversync demo: ${error.message}` : error);
  process.exit(1);
});
