import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { OversyncModule } from '@oversync/nestjs';
import pg from 'pg';
import { BENCH_SCHEMA } from './engine-app.mjs';

/** Starts the real Nest HTTP app (OversyncModule routes) on a random loopback port. */
export async function startHttpApp(url, extra = {}) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query(BENCH_SCHEMA);
  await client.end();
  class BenchHttpModule {}
  Module({
    imports: [
      OversyncModule.forRoot({
        database: { connectionString: url, poolSize: 6 },
        registeredTables: [{ schema: 'bench', table: 'items', syncKeyColumns: ['id'] }],
        resolveUserId: (req) => req.headers.authorization?.replace(/^Bearer /, ''),
        ...extra,
      }),
    ],
  })(BenchHttpModule);
  const app = await NestFactory.create(BenchHttpModule, { logger: ['error'], bodyParser: false });
  await app.listen(0, '127.0.0.1');
  const baseUrl = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  return { app, baseUrl, close: () => app.close() };
}

/** fetch with the bench user and source. */
export function caller(baseUrl, user, source) {
  return async (method, path, body) => {
    const res = await fetch(`${baseUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${user}`,
        'oversync-source-id': source,
        'content-type': 'application/json',
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (res.status >= 300) throw new Error(`${method} ${path} → ${res.status} ${text.slice(0, 300)}`);
    return text ? JSON.parse(text) : undefined;
  };
}
