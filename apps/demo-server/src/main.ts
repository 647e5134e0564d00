import { fileURLToPath } from 'node:url';
import { createDemoApp } from './demo-app.js';
import { startDemoDatabase } from './database/demo-database.js';
import { demoConfig } from './demo.config.js';

/** `npm start`: the demo server on PORT (default 3000) with the web page from apps/demo-web/dist. */
async function main(): Promise<void> {
  const config = demoConfig();
  const database = await startDemoDatabase();
  const demo = await createDemoApp({
    databaseUrl: database.url,
    port: config.port,
    webRoot: fileURLToPath(new URL('../../demo-web/dist', import.meta.url)),
  });
  console.log(`\nOversync demo on ${demo.url} (PostgreSQL: ${database.source})`);
  if (!demo.servesWeb) console.log('The web page is not built: run `npm run build:web` (npm start does).');
  if (config.jwtSecretIsDefault) {
    console.log('JWT_SECRET not set: using the development default secret (never use it in production).');
  }
  if (config.adminTokenIsDefault) {
    console.log(`ADMIN_TOKEN not set: admin API uses the development token '${config.adminToken}'.`);
  }
  if (config.devLogin) {
    console.log(
      `Get a token: curl -s -XPOST ${demo.url}/auth/dev-login -H 'content-type: application/json' -d '{"userId":"alice"}'`,
    );
    console.log(
      `Admin edit:  curl -s -XPOST ${demo.url}/admin/users/alice/posts -H 'authorization: Bearer ${config.adminToken}' ` +
        `-H 'content-type: application/json' -d '{"title":"Hello from the back office"}'`,
    );
  }
  const stop = async () => {
    await demo.close();
    await database.stop();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
