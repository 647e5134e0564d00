/**
 * Multi-device convergence against the real server (scenarios F5–F7, K1–K5, J9–J11): devices push
 * and pull through real HTTP; every assertion compares SQLite rows with PostgreSQL rows.
 */
import {
  closeDevice,
  openDevice,
  restartDevice,
  sqliteCount,
  sqliteRows,
  syncState,
  type Device,
} from '../support/client-devices.js';
import { uuid, userId } from '../support/client-schema.js';
import {
  deviceTable,
  lit,
  rawSql,
  serverTable,
  startClientServer,
  type ClientServer,
} from '../support/client-server.js';

describe('client convergence (real server, real PostgreSQL)', () => {
  let server: ClientServer;
  const open: Device[] = [];

  const device = async (user: string) => {
    const d = await openDevice({ baseUrl: server.baseUrl, userId: user });
    open.push(d);
    return d;
  };
  const addUser = (d: Device, name: string, id = uuid()) => {
    d.db.run('INSERT INTO users (id, name, email) VALUES (?, ?, ?)', [id, name, `${name}@example.com`]);
    return id;
  };
  const names = (d: Device) =>
    sqliteRows(d.db, 'SELECT name FROM users ORDER BY name').map((r) => String(r['name']));
  const expectSameAsServer = async (d: Device, tables = ['users', 'posts', 'categories']) => {
    for (const table of tables)
      expect(deviceTable(d.db, table)).toEqual(await serverTable(server.pool, table, d.userId));
  };

  beforeAll(async () => {
    server = await startClientServer();
  });
  afterAll(async () => {
    for (const d of open) await closeDevice(d).catch(() => undefined);
    await server.close();
  });

  it('F5/F7: own push then pull (also after a restart) still fetches an earlier peer bundle', async () => {
    const user = userId('f5');
    const a = await device(user);
    const b = await device(user);
    addUser(a, 'From A');
    expect((await a.client.pushPending()).outcome).toBe('committed');
    addUser(b, 'From B');
    expect((await b.client.pushPending()).outcome).toBe('committed');
    expect(b.client.lastBundleSeqSeen()).toBe(0);
    const restarted = await restartDevice(b);
    open.push(restarted);
    expect((await restarted.client.pullToStable()).outcome).toBe('applied_incremental');
    expect(names(restarted)).toEqual(['From A', 'From B']);
    expect(restarted.client.lastBundleSeqSeen()).toBe(2);
    await expectSameAsServer(restarted);
  });

  it('F6/K5: three devices push without pulling, then all converge with equal checkpoints', async () => {
    const user = userId('f6');
    const devices = [await device(user), await device(user), await device(user)];
    for (const [i, d] of devices.entries()) {
      addUser(d, `Person ${i}`);
      await d.client.pushPending();
    }
    for (const d of devices) await d.client.pullToStable();
    for (const d of devices) {
      expect(names(d)).toEqual(['Person 0', 'Person 1', 'Person 2']);
      expect(d.client.lastBundleSeqSeen()).toBe(3);
      expect(syncState(d.db)).toMatchObject({ dirty: 0, outbox: 0, outboxState: 'none' });
      await expectSameAsServer(d);
    }
  });

  it('K1/K2: a long mixed session converges and deletes are never resurrected', async () => {
    const user = userId('k2');
    const d1 = await device(user);
    const d2 = await device(user);
    const a1 = addUser(d1, 'A1');
    const a2 = addUser(d1, 'A2');
    const a3 = addUser(d1, 'A3');
    await d1.client.sync();
    const b2 = addUser(d2, 'B1') && addUser(d2, 'B2');
    await d2.client.sync();
    d1.db.run("UPDATE users SET name = 'A2-upd' WHERE id = ?", [a2]);
    await d1.client.sync();
    d2.db.run('DELETE FROM users WHERE id = ?', [a1]);
    await d2.client.sync();
    addUser(d1, 'B3');
    await d1.client.sync();
    d2.db.run("UPDATE users SET name = 'B2-upd' WHERE id = ?", [b2]);
    await d2.client.sync();
    d1.db.run('DELETE FROM users WHERE id = ?', [a3]);
    await d1.client.sync();
    addUser(d1, 'A3-re', a3);
    await d1.client.sync();
    d1.db.run("UPDATE users SET name = 'A3-re-upd' WHERE id = ?", [a3]);
    await d1.client.sync();
    await d2.client.sync();
    await d1.client.sync();
    const expected = ['A2-upd', 'A3-re-upd', 'B1', 'B2-upd', 'B3'];
    expect(names(d1)).toEqual(expected);
    expect(names(d2)).toEqual(expected);
    expect(d1.client.lastBundleSeqSeen()).toBe(d2.client.lastBundleSeqSeen());
    await expectSameAsServer(d1);
    await expectSameAsServer(d2);
  });

  it('K3/K4: a replacement device and a reinstall restore everything by attach', async () => {
    const user = userId('k3');
    const original = await device(user);
    addUser(original, 'Original Device User');
    await original.client.sync();
    const replacement = await openDevice({ baseUrl: server.baseUrl, userId: user, attach: false });
    open.push(replacement);
    const attached = await replacement.client.attach(user);
    expect(attached).toMatchObject({ status: 'connected', outcome: 'used_remote_state' });
    expect(names(replacement)).toEqual(['Original Device User']);
    addUser(replacement, 'Replacement Device User');
    await replacement.client.sync();
    await original.client.sync();
    expect(names(original)).toEqual(['Original Device User', 'Replacement Device User']);
    expect(names(replacement)).toEqual(names(original));
    expect(await serverTable(server.pool, 'users', user)).toHaveLength(2);
  });

  it('J9/J10/J11: server writes reach devices, stay scope-isolated, and server cascades apply', async () => {
    const user = userId('j9');
    const other = userId('j10');
    const rootId = uuid();
    const childId = uuid();
    const adaId = uuid();
    await server.write(
      user,
      rawSql(
        `INSERT INTO business.users (_sync_scope_id, id, name, email) VALUES (${lit(user)}, '${adaId}', 'Server Ada', 'ada@example.com')`,
      ),
    );
    const d = await device(user);
    const o = await device(other);
    expect(names(d)).toEqual(['Server Ada']);
    await server.write(
      user,
      rawSql(`UPDATE business.users SET name = 'Server Ada Updated' WHERE _sync_scope_id = ${lit(user)}`),
    );
    d.db.run('INSERT INTO categories (id, name, parent_id) VALUES (?, ?, NULL), (?, ?, ?)', [
      rootId,
      'root',
      childId,
      'child',
      rootId,
    ]);
    await d.client.sync();
    expect(names(d)).toEqual(['Server Ada Updated']);
    expect(sqliteCount(d.db, 'categories')).toBe(2);
    await expect(
      server.write(user, async (trx) => {
        await rawSql(
          `INSERT INTO business.users (_sync_scope_id, id, name, email) VALUES (${lit(user)}, '${uuid()}', 'Never', 'n@x')`,
        )(trx);
        throw new Error('rolled back on purpose');
      }),
    ).rejects.toThrow('rolled back on purpose');
    await server.write(
      user,
      rawSql(`DELETE FROM business.categories WHERE _sync_scope_id = ${lit(user)} AND id = '${rootId}'`),
    );
    await d.client.pullToStable();
    await o.client.sync();
    expect(sqliteCount(d.db, 'categories')).toBe(0);
    expect(names(d)).toEqual(['Server Ada Updated']);
    expect(sqliteCount(o.db, 'users')).toBe(0);
    await expectSameAsServer(d);
    await expectSameAsServer(o);
  });
});
