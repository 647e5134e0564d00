import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from './app.module.js';
import { startDemoDatabase } from './database/demo-database.js';
import { migrateDemo } from './database/demo-migration.js';
import { demoConfig } from './demo.config.js';

async function main(): Promise<void> {
  const config = demoConfig();
  const database = await startDemoDatabase();
  await migrateDemo(database.url);
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forDatabase(database.url), { bodyParser: false });
  // JSON for the app's own routes; the sync routes read their bodies themselves with their own limit.
  app.useBodyParser('json', { limit: '1mb', type: (req) => !(req.url ?? '').startsWith('/sync/') });
  app.enableShutdownHooks();
  await app.listen(config.port);
  const url = `http://localhost:${config.port}`;
  console.log(`\nOversync demo server on ${url} (PostgreSQL: ${database.source})`);
  if (config.jwtSecretIsDefault) console.log('JWT_SECRET not set: using the development default secret (never use it in production).');
  if (config.adminTokenIsDefault) console.log(`ADMIN_TOKEN not set: admin API uses the development token '${config.adminToken}'.`);
  if (config.devLogin) console.log(`Get a token: curl -s -XPOST ${url}/auth/dev-login -H 'content-type: application/json' -d '{"userId":"alice"}'`);
  const stop = async () => {
    await app.close();
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
