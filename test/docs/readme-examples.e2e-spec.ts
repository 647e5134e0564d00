/**
 * The README's quick start is code in `docs/examples/`, shown verbatim in the README: this suite
 * checks that the README still shows exactly that code, then runs it — the host app on a fresh
 * database, two Node devices, a push, a hydrating attach and a back-office write.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

const EXAMPLES = ['docs/examples/host-app.ts', 'docs/examples/node-client.ts'];

type HostModule = typeof import('../../docs/examples/host-app.js');
type ClientModule = typeof import('../../docs/examples/node-client.js');
type Device = Awaited<ReturnType<ClientModule['openDevice']>>;

describe('README quick start (docs/examples)', () => {
  let db: TestDatabase;
  let app: INestApplication;
  let host: HostModule;
  let openDevice: ClientModule['openDevice'];
  let baseUrl: string;
  let dir: string;
  const devices: Device[] = [];
  const savedUrl = process.env.DATABASE_URL;

  beforeAll(async () => {
    db = await createTestDatabase();
    // The example reads DATABASE_URL when its module is declared (at import), as a host app would.
    process.env.DATABASE_URL = db.url;
    host = await import('../../docs/examples/host-app.js');
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    await client.query(host.SCHEMA_SQL);
    await client.end();
    app = await host.startHost(0);
    baseUrl = (await app.getUrl()).replace('[::1]', '127.0.0.1');
    ({ openDevice } = await import('../../docs/examples/node-client.js'));
    dir = await mkdtemp(join(tmpdir(), 'oversync-readme-'));
  });
  afterAll(async () => {
    for (const d of devices) {
      await d.client.close();
      d.db.close();
    }
    await app?.close();
    process.env.DATABASE_URL = savedUrl;
    await db?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it.each(EXAMPLES)('shows %s verbatim in the README', async (file) => {
    const readme = await readFile('README.md', 'utf8');
    const code = (await readFile(file, 'utf8')).trim();
    expect(readme).toContain(`\`\`\`ts\n${code}\n\`\`\``);
  });

  it('syncs a device write to a second device and a back-office rename to both', async () => {
    const a = await openDevice(join(dir, 'a.sqlite'), baseUrl, 'alice');
    devices.push(a);
    const postId = crypto.randomUUID();
    a.db.run('INSERT INTO users (id, name) VALUES (?, ?)', ['alice', 'Alice']);
    a.db.run('INSERT INTO posts (id, title, content, author_id) VALUES (?, ?, ?, ?)', [
      postId,
      'Hi',
      'From device A',
      'alice',
    ]);
    expect(await a.client.pushPending()).toEqual({ outcome: 'committed' });

    const b = await openDevice(join(dir, 'b.sqlite'), baseUrl, 'alice');
    devices.push(b);
    expect(b.db.exec('SELECT title, author_id FROM posts')[0].values).toEqual([['Hi', 'alice']]);

    await app.get(host.AdminService).renameUser('alice', 'Alice A.');
    for (const d of [a, b]) {
      await d.client.pullToStable();
      expect(d.db.exec('SELECT name FROM users')[0].values).toEqual([['Alice A.']]);
    }
  });
});
