import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { OversyncClient } from '../oversync-client.js';
import { APP_TABLES, loadSqlJs, newDevice, newServer, restart, scalar } from '../testing/test-device.js';
import { FilePersister } from './file.persister.js';
import { MemoryPersister } from './memory.persister.js';

describe('persistence', () => {
  it('makes acknowledged state durable before the call resolves', async () => {
    const server = newServer();
    const device = await newDevice(server);
    await device.client.attach('user-1');
    device.db.run("INSERT INTO users VALUES ('u1', 'A', 'a')");
    await device.client.pushPending();
    // No flush: the restart sees exactly what pushPending acknowledged.
    const next = await restart(device, server);
    expect(scalar(next.db, 'SELECT last_bundle_seq_seen FROM _sync_attachment_state')).toBe(1);
    expect(scalar(next.db, 'SELECT COUNT(*) FROM _sync_outbox_rows')).toBe(0);
    expect(scalar(next.db, 'SELECT COUNT(*) FROM _sync_row_state')).toBe(1);
    await next.client.close();
  });

  it('coalesces a burst of app writes into one export, and flush() forces it', async () => {
    const server = newServer();
    const device = await newDevice(server, { exportDebounceMs: 30 });
    const saves = device.persister.saveCount;
    for (let i = 0; i < 50; i++) device.db.run('INSERT INTO users VALUES (?, ?, ?)', [`u${i}`, 'x', null]);
    expect(device.persister.saveCount).toBe(saves);
    await new Promise((r) => setTimeout(r, 80));
    expect(device.persister.saveCount).toBe(saves + 1);
    device.db.run("INSERT INTO users VALUES ('late', 'x', NULL)");
    await device.client.flush();
    expect(device.persister.saveCount).toBe(saves + 2);
    const next = await restart(device, server);
    expect(scalar(next.db, 'SELECT COUNT(*) FROM _sync_dirty_rows')).toBe(51);
    await device.client.close();
    await next.client.close();
  });

  it('names a file by its absolute path, however the path is spelled', () => {
    const absolute = resolve('data/app.sqlite');
    const persister = new FilePersister('data/app.sqlite');
    expect(persister.path).toBe(absolute);
    expect(persister.lockName).toBe(`file:${absolute}`);
    expect(new FilePersister('./data/../data/./app.sqlite').lockName).toBe(persister.lockName);
    expect(new FilePersister(absolute).lockName).toBe(persister.lockName);
  });

  it('round-trips through a file, atomically', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'oversync-client-'));
    try {
      const persister = new FilePersister(join(dir, 'app.sqlite'));
      expect(await persister.load()).toBeNull();
      const SQL = await loadSqlJs();
      const db = new SQL.Database();
      db.exec('CREATE TABLE users (id TEXT PRIMARY KEY, name TEXT, email TEXT)');
      const client = new OversyncClient({
        db,
        baseUrl: 'http://x',
        getToken: () => 'user-1',
        schema: 'business',
        tables: [APP_TABLES[0]],
        fetch: newServer().fetch,
        persistence: persister,
      });
      await client.open();
      db.run("INSERT INTO users VALUES ('u1', 'A', 'a')");
      await client.close();
      expect(await readdir(dir)).toEqual(['app.sqlite']);
      const loaded = new SQL.Database((await persister.load()) ?? undefined);
      expect(scalar(loaded, "SELECT name FROM users WHERE id = 'u1'")).toBe('A');
      expect(scalar(loaded, 'SELECT COUNT(*) FROM _sync_dirty_rows')).toBe(1);
      await persister.clear();
      expect(await persister.load()).toBeNull();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('close() leaves the database open and usable', async () => {
    const device = await newDevice(newServer());
    await device.client.close();
    await device.client.close();
    device.db.run("INSERT INTO users VALUES ('after', 'x', NULL)");
    expect(scalar(device.db, 'SELECT COUNT(*) FROM users')).toBe(1);
  });
});

describe('ownership', () => {
  it('allows one owner per database; a second gets database_locked, and after close() it may open', async () => {
    const server = newServer();
    const device = await newDevice(server);
    const second = new OversyncClient({
      db: device.db,
      baseUrl: 'http://x',
      getToken: () => 't',
      schema: 'business',
      tables: APP_TABLES,
      fetch: server.fetch,
    });
    await expect(second.open()).rejects.toMatchObject({
      code: 'database_locked',
      name: 'DatabaseLockedError',
    });
    await device.client.close();
    await expect(second.open()).resolves.toBeUndefined();
    await second.close();
  });

  it('locks by persister name across database objects', async () => {
    const server = newServer();
    const persister = new MemoryPersister('shared-image');
    const first = await newDevice(server, { persister });
    await expect(newDevice(server, { persister })).rejects.toMatchObject({ code: 'database_locked' });
    await first.client.close();
  });

  it('uses Web Locks when available: a lock held by another tab refuses the open', async () => {
    const held = new Set<string>(['oversync:tab-lock']);
    const locks = {
      request(
        name: string,
        _options: { ifAvailable: boolean },
        callback: (lock: unknown) => Promise<void> | void,
      ) {
        if (held.has(name)) return Promise.resolve(callback(null));
        held.add(name);
        return Promise.resolve(callback({ name })).finally(() => held.delete(name));
      },
    };
    const original = Object.getOwnPropertyDescriptor(globalThis, 'navigator');
    Object.defineProperty(globalThis, 'navigator', { value: { locks }, configurable: true });
    try {
      const server = newServer();
      await expect(newDevice(server, { lockName: 'tab-lock' })).rejects.toMatchObject({
        code: 'database_locked',
      });
      held.delete('oversync:tab-lock');
      const device = await newDevice(server, { lockName: 'tab-lock' });
      expect(held.has('oversync:tab-lock')).toBe(true);
      await device.client.close();
      await new Promise((r) => setTimeout(r, 0));
      expect(held.has('oversync:tab-lock')).toBe(false);
    } finally {
      if (original) Object.defineProperty(globalThis, 'navigator', original);
      else Reflect.deleteProperty(globalThis, 'navigator');
    }
  });
});
