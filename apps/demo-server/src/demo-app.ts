import 'reflect-metadata';
import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { Logger, type LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import pg from 'pg';
import { AppModule } from './app.module.js';
import { migrateDemo } from './database/demo-migration.js';
import { demoConfig, type DemoConfig } from './demo.config.js';

/** Options of {@link createDemoApp}; unset settings come from the environment ({@link demoConfig}). */
export interface DemoAppOptions {
  /** PostgreSQL connection string; the business schema is migrated (idempotently) at start. */
  databaseUrl: string;
  /** Port to listen on; `0` picks a free one. @default PORT or 3000 */
  port?: number;
  /** Interface to bind. @default all interfaces */
  host?: string;
  /** Admin API bearer token; must not be blank. @default ADMIN_TOKEN or the development token */
  adminToken?: string;
  /** HS256 secret of user tokens; must not be blank. @default JWT_SECRET or the development secret */
  jwtSecret?: string;
  /** Enables `POST /auth/dev-login`. @default true unless NODE_ENV=production */
  devLogin?: boolean;
  /** Directory of the built web page (`npm run build:web`), served at `/`. Omit to serve no page. */
  webRoot?: string;
  /** Nest log levels. @default ['log', 'warn', 'error'] */
  logger?: LogLevel[];
}

/** A running demo app. */
export interface DemoApp {
  readonly app: NestExpressApplication;
  /** Base URL, e.g. `http://localhost:3000`. */
  readonly url: string;
  readonly port: number;
  /** Effective settings (with the chosen port). */
  readonly config: DemoConfig;
  /** True when `webRoot` was given and holds an `index.html`. */
  readonly servesWeb: boolean;
  /** Stops the HTTP server and the sync engine, then ends the database pool. */
  close(): Promise<void>;
}

/**
 * Boots the demo: migrates the business schema, creates the Nest app (JWT auth, admin back office,
 * `OversyncModule`), serves the web page and listens. `main.ts` and the browser tests both use it.
 *
 * @throws DemoConfigError when `adminToken` or `jwtSecret` is blank, or when `NODE_ENV=production`
 *   and a secret is neither given nor set in the environment (see {@link demoConfig}).
 *
 * @example
 * ```ts
 * const demo = await createDemoApp({ databaseUrl: process.env.DATABASE_URL!, port: 0, webRoot: 'apps/demo-web/dist' });
 * console.log(demo.url);
 * await demo.close();
 * ```
 */
export async function createDemoApp(options: DemoAppOptions): Promise<DemoApp> {
  // Validated before anything starts: a blank secret or a production default throws here.
  const config = demoConfig(process.env, options);
  await migrateDemo(options.databaseUrl);
  const pool = new pg.Pool({ connectionString: options.databaseUrl, max: 10 });
  let closing = false;
  // An idle client can lose its connection (server restart, or a forced drop after close); without
  // a listener the pool would throw that as an uncaught error. Queries simply reconnect.
  pool.on('error', (error) => {
    if (!closing) new Logger('DemoApp').warn(`idle PostgreSQL connection failed: ${error.message}`);
  });
  // A checked-out client has no pool listener, so losing its connection mid-query (PostgreSQL
  // stopped or restarted) would emit an uncaught 'error' and crash the process; the query itself
  // already fails with that error, which the request handles.
  pool.on('connect', (client) => client.on('error', () => undefined));
  let app: NestExpressApplication | undefined;
  try {
    app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config, pool), {
      bodyParser: false,
      logger: options.logger ?? ['log', 'warn', 'error'],
    });
    // JSON for the app's own routes; the sync routes read their bodies themselves with their own limit.
    app.useBodyParser('json', { limit: '1mb', type: (req) => !(req.url ?? '').startsWith('/sync/') });
    const servesWeb = options.webRoot !== undefined && existsSync(`${options.webRoot}/index.html`);
    if (servesWeb) app.useStaticAssets(options.webRoot!, { index: 'index.html', etag: true, maxAge: 0 });
    else if (options.webRoot !== undefined) {
      new Logger('DemoApp').warn(`no web page in ${options.webRoot}: run \`npm run build:web\` first`);
    }
    await (options.host === undefined ? app.listen(config.port) : app.listen(config.port, options.host));
    const port = (app.getHttpServer().address() as AddressInfo).port;
    const url = `http://${options.host && options.host !== '0.0.0.0' ? options.host : 'localhost'}:${port}`;
    const started = app;
    return {
      app: started,
      url,
      port,
      config: { ...config, port },
      servesWeb,
      close: async () => {
        closing = true;
        await started.close();
        await pool.end();
      },
    };
  } catch (error) {
    closing = true;
    // The app is initialised before it listens (e.g. the port is taken): its sync engine already
    // runs a LISTEN connection and timers that would outlive the failed start, so close it too.
    await app?.close().catch(() => undefined);
    await pool.end();
    throw error;
  }
}
