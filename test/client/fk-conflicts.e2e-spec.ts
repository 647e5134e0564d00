/**
 * A device that wrote a child offline under a parent another device deleted. go-oversync's server
 * fails every commit of such a push (500), so the device could never sync again; ours answers a
 * push conflict on the child, and the device converges with either stock resolver.
 */
import { clientWins, serverWins, type ConflictResolver } from '@oversync/client';
import { closeDevice, openDevice, sqliteCount, type Device } from '../support/client-devices.js';
import { uuid, userId } from '../support/client-schema.js';
import { deviceTable, serverTable, startClientServer, type ClientServer } from '../support/client-server.js';

describe('client: a child written offline under a parent deleted elsewhere', () => {
  let server: ClientServer;
  const open: Device[] = [];
  beforeAll(async () => {
    server = await startClientServer();
  });
  afterAll(async () => {
    for (const d of open) await closeDevice(d).catch(() => undefined);
    await server.close();
  });

  async function orphanScenario(
    resolver: ConflictResolver,
  ): Promise<{ d2: Device; user: string; post: string }> {
    const user = userId('fk-orphan');
    const d1 = await openDevice({ baseUrl: server.baseUrl, userId: user });
    open.push(d1);
    const ada = uuid();
    d1.db.run("INSERT INTO users (id, name, email) VALUES (?, 'Ada', 'ada@x')", [ada]);
    await d1.client.sync();
    const d2 = await openDevice({ baseUrl: server.baseUrl, userId: user, conflictResolver: resolver });
    open.push(d2);
    await d2.client.sync();
    d1.db.run('DELETE FROM users WHERE id = ?', [ada]);
    await d1.client.sync();
    const post = uuid();
    d2.db.run("INSERT INTO posts (id, title, content, author_id) VALUES (?, 'Offline', 'c', ?)", [post, ada]);
    return { d2, user, post };
  }

  it.each([
    ['serverWins', serverWins],
    ['clientWins', clientWins],
  ])('converges with %s: the child is dropped and the parent deletion arrives', async (_name, resolver) => {
    const { d2, user } = await orphanScenario(resolver);
    // clientWins pushes the child again, which conflicts again: after the automatic retries the
    // sync pulls, the local cascade of the parent's deletion turns the pending insert into a
    // delete, and the next push drops it. One sync() is enough with either resolver.
    await d2.client.sync();
    expect(d2.client.pendingSyncStatus().pendingRowCount).toBe(0);
    expect(sqliteCount(d2.db, 'posts')).toBe(0);
    expect(sqliteCount(d2.db, 'users')).toBe(0);
    for (const table of ['users', 'posts'])
      expect(deviceTable(d2.db, table)).toEqual(await serverTable(server.pool, table, user));
  });

  it('reports the conflict on the child to the resolver', async () => {
    const seen: Array<{ table: string; op: string; serverRowVersion: number }> = [];
    const recording: ConflictResolver = (c) => {
      seen.push({ table: c.table, op: c.op, serverRowVersion: c.serverRowVersion });
      return { action: 'accept_server' };
    };
    const { d2 } = await orphanScenario(recording);
    await d2.client.sync();
    expect(seen).toEqual([{ table: 'posts', op: 'INSERT', serverRowVersion: 0 }]);
  });
});
