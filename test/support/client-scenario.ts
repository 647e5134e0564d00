/**
 * Device helpers shared by the client end-to-end suites: open a device of a user against the suite's
 * server (closed by the suite's afterAll), add users and posts, compare a device with the server,
 * run server-side SQL in a bundle, and a device whose pulls run code while they are in flight.
 */
import { openDevice, type Device, type DeviceOptions } from './client-devices.js';
import { FaultyFetch, routeOf } from './client-faults.js';
import { uuid } from './client-schema.js';
import { deviceTable, lit, pgRows, rawSql, serverTable, type ClientServer } from './client-server.js';
import { syncCall } from './sync-http.js';

/** The suite's server, read lazily (it starts in beforeAll). */
type Server = () => ClientServer;

/** Helpers bound to the suite's server and its list of devices to close. */
export function deviceHelpers(server: Server, open: Device[]) {
  const device = async (user: string, options: Partial<DeviceOptions> = {}) => {
    const d = await openDevice({ baseUrl: server().baseUrl, userId: user, ...options });
    open.push(d);
    return d;
  };
  const addUser = (d: Device, name: string, id = uuid()) => {
    d.db.run('INSERT INTO users (id, name, email) VALUES (?, ?, ?)', [id, name, `${name}@x`]);
    return id;
  };
  const addPost = (d: Device, authorId: string, title: string, id = uuid()) => {
    d.db.run('INSERT INTO posts (id, title, content, author_id) VALUES (?, ?, ?, ?)', [
      id,
      title,
      'body',
      authorId,
    ]);
    return id;
  };
  const sameAsServer = async (d: Device, tables = ['users', 'posts']) => {
    for (const table of tables)
      expect(deviceTable(d.db, table)).toEqual(await serverTable(server().pool, table, d.userId));
  };
  const serverSql = (user: string, text: string) => server().write(user, rawSql(text));
  /** A server-originated insert of one user row, as its own bundle. */
  const serverInsert = (user: string, name: string, id = uuid()) =>
    serverSql(
      user,
      `INSERT INTO business.users (_sync_scope_id, id, name, email) VALUES (${lit(user)}, '${id}', ${lit(name)}, 'srv@x')`,
    );
  /** The server's user names of `user`, sorted. */
  const serverNames = async (user: string) =>
    (
      await pgRows<{ name: string }>(
        server().pool,
        'SELECT name FROM business.users WHERE _sync_scope_id = $1 ORDER BY name',
        [user],
      )
    ).map((r) => r.name);
  /** The scope's retained bundle floor (bundles at or below it are pruned). */
  const floorOf = async (user: string) =>
    Number(
      (
        await pgRows<{ f: string }>(
          server().pool,
          'SELECT retained_bundle_floor AS f FROM sync.user_state WHERE user_id = $1',
          [user],
        )
      )[0]?.f,
    );
  /** A device of `user` whose pull requests run `during(device)` while they are in flight. */
  const deviceWritingDuringPull = async (user: string, during: (d: Device) => void) => {
    const faults = new FaultyFetch();
    const box: { d?: Device } = {};
    faults.fail({ match: (c) => routeOf(c) === 'pull', when: 'pass', run: () => during(box.d!) });
    box.d = await device(user, { fetch: faults.fetch });
    return box.d;
  };
  /** A push create from `user`'s retired `oldSource` is refused with the documented body. */
  const expectSourceRetired = async (user: string, oldSource: string, replacement: string) => {
    const stale = await syncCall(server().baseUrl, {
      path: '/sync/push-sessions',
      user,
      source: oldSource,
      body: { source_bundle_id: 2, planned_row_count: 1 },
    });
    expect(stale.status).toBe(409);
    expect(stale.json).toMatchObject({
      error: 'source_retired',
      source_id: oldSource,
      replaced_by_source_id: replacement,
    });
  };
  return {
    device,
    addUser,
    addPost,
    sameAsServer,
    serverSql,
    serverInsert,
    serverNames,
    floorOf,
    deviceWritingDuringPull,
    expectSourceRetired,
  };
}
