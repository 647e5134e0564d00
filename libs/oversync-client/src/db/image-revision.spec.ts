import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { isOversyncClientError } from '../errors/oversync-client.error.js';
import { OversyncClient } from '../oversync-client.js';
import { type FakeOversyncServer } from '../testing/fake-oversync-server.js';
import { APP_SCHEMA_SQL, APP_TABLES, loadSqlJs, newServer, scalar } from '../testing/test-device.js';
import { FilePersister } from './file.persister.js';
import { MemoryPersister } from './memory.persister.js';
import { type OversyncPersister } from './persister.types.js';

/** The quick-start pattern: load the image, build the database from it, construct the client. */
async function loadClient(server: FakeOversyncServer, persistence: OversyncPersister, lockName?: string) {
  const SQL = await loadSqlJs();
  const image = await persistence.load();
  const db = new SQL.Database(image ?? undefined);
  if (!image) db.exec(APP_SCHEMA_SQL);
  const client = new OversyncClient({
    db,
    baseUrl: 'http://oversync.test',
    getToken: () => 'user-1',
    schema: 'business',
    tables: APP_TABLES,
    fetch: server.fetch,
    persistence,
    lockName,
  });
  return { db, client };
}

async function userCount(persistence: OversyncPersister): Promise<unknown> {
  const SQL = await loadSqlJs();
  const db = new SQL.Database((await persistence.load()) ?? undefined);
  try {
    return scalar(db, 'SELECT COUNT(*) FROM users');
  } finally {
    db.close();
  }
}

/**
 * Tab B loads the image while tab A owns it, A writes and closes, B's retried open() gets the lock:
 * it must refuse (`stale_image`) rather than save its older image over A's.
 */
async function takeOver(persisterFor: () => OversyncPersister): Promise<void> {
  const server = newServer();
  const a = await loadClient(server, persisterFor(), 'shared');
  await a.client.open();
  const b = await loadClient(server, persisterFor(), 'shared');
  await expect(b.client.open()).rejects.toMatchObject({ code: 'database_locked' });
  a.db.run("INSERT INTO users VALUES ('u1', 'A', 'a')");
  await a.client.close();

  const error = await b.client.open().catch((e: unknown) => e);
  expect(isOversyncClientError(error, 'stale_image')).toBe(true);
  expect(error).toMatchObject({ name: 'StaleImageError', details: { lockName: 'shared' } });
  expect((error as Error).message).toMatch(/load the image again/);
  expect(await userCount(persisterFor())).toBe(1);

  // The lock was released with the refusal: loading again opens, with A's row.
  const again = await loadClient(server, persisterFor(), 'shared');
  await again.client.open();
  expect(scalar(again.db, 'SELECT COUNT(*) FROM users')).toBe(1);
  await again.client.close();
}

describe('stale image check at open()', () => {
  it('refuses a memory image replaced after it was loaded', async () => {
    const shared = new MemoryPersister();
    // One MemoryPersister is one storage; a wrapper per "tab" gives each its own loaded revision.
    await takeOver(() => new SharedMemory(shared));
  });

  it('refuses a file image replaced after it was loaded', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'oversync-revision-'));
    try {
      await takeOver(() => new FilePersister(join(dir, 'app.sqlite')));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('gives a file a new revision for every save and for a write by anything else', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'oversync-revision-'));
    try {
      const file = join(dir, 'app.sqlite');
      const persister = new FilePersister(file);
      expect(persister.knownRevision()).toBeUndefined();
      expect(await persister.load()).toBeNull();
      expect(persister.knownRevision()).toBeNull();
      const seen = new Set<string | null>([null]);
      for (let i = 0; i < 5; i++) {
        await persister.save(new Uint8Array([i]));
        expect(await persister.storedRevision()).toBe(persister.knownRevision());
        seen.add(persister.knownRevision() ?? null);
      }
      expect(seen.size).toBe(6);
      // An earlier build (or a copy) writing the same bytes in place still changes the revision.
      const before = await persister.storedRevision();
      await writeFile(file, new Uint8Array([9, 9]));
      expect(await persister.storedRevision()).not.toBe(before);
      await persister.clear();
      expect(await persister.storedRevision()).toBeNull();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('opens as before with a persister that keeps no revisions (custom persisters, earlier builds)', async () => {
    const server = newServer();
    const storage = new MemoryPersister();
    const plain = (): OversyncPersister => ({
      lockName: 'plain',
      load: () => storage.load(),
      save: (image) => storage.save(image),
      clear: () => storage.clear(),
    });
    const a = await loadClient(server, plain());
    await a.client.open();
    const b = await loadClient(server, plain());
    await expect(b.client.open()).rejects.toMatchObject({ code: 'database_locked' });
    await a.client.close();
    await expect(b.client.open()).resolves.toBeUndefined();
    await b.client.close();
  });

  it('skips the check for a database not loaded through the persister, and accepts its own saves', async () => {
    const server = newServer();
    const storage = new MemoryPersister();
    await storage.save(new Uint8Array([1]));
    // Built without load(): nothing to compare (the app chose to start from a new database).
    const persistence = new SharedMemory(storage);
    const SQL = await loadSqlJs();
    const db = new SQL.Database();
    db.exec(APP_SCHEMA_SQL);
    const options = {
      db,
      baseUrl: 'http://oversync.test',
      getToken: () => 'user-1',
      schema: 'business',
      tables: APP_TABLES,
      fetch: server.fetch,
      persistence,
    };
    const first = new OversyncClient(options);
    await first.open();
    await first.close();
    // A new client on the same Database and persister after close(): the stored image is its own.
    const second = new OversyncClient(options);
    await expect(second.open()).resolves.toBeUndefined();
    await second.close();
  });
});

/** A view of one MemoryPersister's storage with its own loaded revision, like a second tab. */
class SharedMemory implements OversyncPersister {
  #known: string | null | undefined;
  constructor(private readonly storage: MemoryPersister) {}

  async load(): Promise<Uint8Array | null> {
    const image = await this.storage.load();
    this.#known = this.storage.knownRevision();
    return image;
  }

  async save(image: Uint8Array): Promise<void> {
    await this.storage.save(image);
    this.#known = this.storage.knownRevision();
  }

  async clear(): Promise<void> {
    await this.storage.clear();
    this.#known = this.storage.knownRevision();
  }

  knownRevision(): string | null | undefined {
    return this.#known;
  }

  storedRevision(): Promise<string | null> {
    return this.storage.storedRevision();
  }
}
