/**
 * Property: for random interleavings of local writes, pushes, pulls, syncs, server writes,
 * restarts and crashes in the middle of a sync call across three devices of one user, after a final
 * sync every device's SQLite rows equal the PostgreSQL rows, PostgreSQL equals the replay of the
 * committed history, and no acknowledged write is lost (checked after every acknowledged push).
 *
 * `OVERSYNC_PROPERTY_RUNS` sets the number of runs (default 20) and `OVERSYNC_PROPERTY_SEED`
 * replays a failing seed that fast-check printed.
 */
import fc from 'fast-check';
import { actionArb, PropertyWorld, type Action } from '../support/client-property.js';
import { userId } from '../support/client-schema.js';
import { deviceTable, serverTable, startClientServer, type ClientServer } from '../support/client-server.js';

const RUNS = Number(process.env.OVERSYNC_PROPERTY_RUNS ?? 20);
const SEED = process.env.OVERSYNC_PROPERTY_SEED ? Number(process.env.OVERSYNC_PROPERTY_SEED) : undefined;

describe('client convergence property (3 devices, real server)', () => {
  let server: ClientServer;

  beforeAll(async () => {
    server = await startClientServer();
  });
  afterAll(async () => {
    await server.close();
  });

  const check = async (world: PropertyWorld) => {
    const history = await world.history();
    const last = new Map<string, string | null>();
    for (const h of history) last.set(`${h.table}:${h.id}`, h.value);
    for (const table of ['users', 'posts']) {
      const column = table === 'users' ? 'name' : 'title';
      const rows = await serverTable(server.pool, table, world.user);
      const replayed = [...last].filter(([k, v]) => k.startsWith(`${table}:`) && v !== null);
      expect(rows.map((r) => [r['id'], r[column]]).sort()).toEqual(
        replayed.map(([k, v]) => [k.split(':')[1], v]).sort(),
      );
      for (const slot of world.slots) expect(deviceTable(slot.device.db, table)).toEqual(rows);
    }
    const checkpoints = new Set(world.slots.map((s) => s.device.client.lastBundleSeqSeen()));
    expect([...checkpoints]).toEqual([history.at(-1)?.seq ?? 0]);
  };

  it(`converges and loses no acknowledged write (${RUNS} runs)`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(actionArb, { minLength: 8, maxLength: 30 }), async (actions: Action[]) => {
        const world = new PropertyWorld(server, userId('prop'));
        try {
          await world.start();
          for (const action of actions) await world.apply(action);
          await world.settle();
          await check(world);
        } finally {
          await world.close();
        }
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: RUNS <= 25 },
    );
  }, 600_000);
});
