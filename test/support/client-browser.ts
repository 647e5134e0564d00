/**
 * The browser side of the client smoke test: bundles `@oversync/client` from source with esbuild
 * (ESM, platform browser) into test-output, and serves it with sql.js's wasm build and a tiny test
 * page from one local origin that also proxies `/sync/*` to the Nest app (so no CORS is needed).
 */
import { build } from 'esbuild';
import { mkdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { CLIENT_SCHEMA_SQL, CLIENT_TABLES } from './client-schema.js';

const ROOT = process.cwd();
const OUT_DIR = join(ROOT, 'test-output', 'browser');

/** Bundles the client's TypeScript sources into one ESM file and returns its path. */
export async function bundleClient(): Promise<string> {
  mkdirSync(OUT_DIR, { recursive: true });
  const outfile = join(OUT_DIR, 'oversync-client.js');
  await build({
    entryPoints: [join(ROOT, 'libs/oversync-client/src/index.ts')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    conditions: ['@oversync/source'],
    outfile,
    logLevel: 'error',
  });
  return outfile;
}

/** The test page's app: the same schema as the Node suites, an IndexedDB persister, no framework. */
const APP_JS = `
import { IndexedDbPersister, OversyncClient } from '/oversync-client.js';
let client;
let db;
window.app = {
  async open(user) {
    const SQL = await window.initSqlJs({ locateFile: (file) => '/' + file });
    const persistence = new IndexedDbPersister({ key: 'smoke-' + user });
    const image = await persistence.load();
    db = new SQL.Database(image ?? undefined);
    if (!image) db.exec(${JSON.stringify(CLIENT_SCHEMA_SQL)});
    client = new OversyncClient({
      db, sqlJs: SQL, baseUrl: location.origin, getToken: () => user, schema: 'business',
      tables: ${JSON.stringify(CLIENT_TABLES)}, persistence,
      retry: { maxAttempts: 2, initialBackoffMs: 10, maxBackoffMs: 20 },
    });
    await client.open();
    return client.attach(user);
  },
  write(id, name) { db.run('INSERT INTO users (id, name, email) VALUES (?, ?, ?)', [id, name, name + '@browser']); },
  names() {
    const result = db.exec('SELECT name FROM users ORDER BY name');
    return result.length ? result[0].values.map((row) => row[0]) : [];
  },
  pending() { return client.pendingSyncStatus(); },
  sync() { return client.sync().catch((error) => ({ error: error.code ?? String(error) })); },
  flush() { return client.flush(); },
};
document.getElementById('state').textContent = 'ready';
`;

const PAGE_HTML = `<!doctype html><html><head><meta charset="utf-8"><title>oversync client smoke</title>
<script src="/sql-wasm.js"></script><script type="module" src="/app.js"></script></head>
<body><h1>@oversync/client in Chromium</h1><p id="state">loading</p></body></html>`;

const HOP_BY_HOP = new Set(['host', 'connection', 'content-length', 'transfer-encoding', 'keep-alive']);

async function proxy(req: IncomingMessage, res: ServerResponse, upstream: string): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const headers = Object.fromEntries(
    Object.entries(req.headers).filter(([k, v]) => !HOP_BY_HOP.has(k) && typeof v === 'string'),
  ) as Record<string, string>;
  const answer = await fetch(upstream + (req.url ?? ''), {
    method: req.method,
    headers,
    body: chunks.length > 0 ? Buffer.concat(chunks) : undefined,
  });
  const out: Record<string, string> = {};
  answer.headers.forEach((value, key) => {
    if (!HOP_BY_HOP.has(key)) out[key] = value;
  });
  res.writeHead(answer.status, out);
  if (answer.body) for await (const chunk of answer.body) res.write(chunk);
  res.end();
}

/** A started page server. */
export interface PageServer {
  url: string;
  close(): Promise<void>;
}

/** Serves the page, the bundle and sql.js on 127.0.0.1, proxying `/sync/*` to `upstream`. */
export async function servePage(bundlePath: string, upstream: string): Promise<PageServer> {
  const sqlJsDir = join(ROOT, 'node_modules', 'sql.js', 'dist');
  const files: Record<string, [string, () => Buffer | string]> = {
    '/': ['text/html', () => PAGE_HTML],
    '/app.js': ['text/javascript', () => APP_JS],
    '/oversync-client.js': ['text/javascript', () => readFileSync(bundlePath)],
    '/sql-wasm.js': ['text/javascript', () => readFileSync(join(sqlJsDir, 'sql-wasm.js'))],
    '/sql-wasm.wasm': ['application/wasm', () => readFileSync(join(sqlJsDir, 'sql-wasm.wasm'))],
  };
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path.startsWith('/sync/')) {
      proxy(req, res, upstream).catch(() => {
        if (!res.headersSent) res.writeHead(502);
        res.end();
      });
      return;
    }
    const file = files[path];
    if (!file) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': file[0], 'cache-control': 'no-store' });
    res.end(file[1]());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
