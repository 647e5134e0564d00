/**
 * The world of the client property test: three devices of one user against the real server, a
 * random action vocabulary (local writes, push, pull, sync, server writes, restarts and crashes in
 * the middle of a sync call) and the invariants checked during and after a run.
 */
import { MemoryPersister, type ConflictResolver } from '@oversync/client';
import fc from 'fast-check';
import { closeDevice, openDevice, openFromImage, sqliteRows, type Device } from './client-devices.js';
import { FaultyFetch } from './client-faults.js';
import { uuid } from './client-schema.js';
import { lit, pgRows, rawSql, type ClientServer } from './client-server.js';

/** Writes a device can make. Posts only reference the two anchor users, which are never deleted. */
export type LocalOp = 'insertUser' | 'updateUser' | 'deleteUser' | 'insertPost' | 'updatePost' | 'deletePost';
type SyncOp = 'push' | 'pull' | 'sync';

/** One step of a run. `pick` selects among the current candidates (modulo their count). */
export type Action =
  | { kind: 'write'; device: number; op: LocalOp; pick: number }
  | { kind: SyncOp; device: number }
  | { kind: 'server'; op: 'insert' | 'update' | 'delete'; pick: number }
  | { kind: 'restart'; device: number; crash: boolean }
  | { kind: 'crashDuring'; device: number; op: SyncOp; at: number };

const device = fc.integer({ min: 0, max: 2 });
const pick = fc.nat({ max: 1000 });

/** Random actions, weighted towards writes and syncs. */
export const actionArb: fc.Arbitrary<Action> = fc.oneof(
  {
    arbitrary: fc.record({
      kind: fc.constant('write' as const),
      device,
      op: fc.constantFrom<LocalOp>(
        'insertUser',
        'updateUser',
        'deleteUser',
        'insertPost',
        'updatePost',
        'deletePost',
      ),
      pick,
    }),
    weight: 6,
  },
  { arbitrary: fc.record({ kind: fc.constantFrom<SyncOp>('push', 'pull', 'sync'), device }), weight: 4 },
  {
    arbitrary: fc.record({
      kind: fc.constant('server' as const),
      op: fc.constantFrom('insert', 'update', 'delete'),
      pick,
    }),
    weight: 1,
  },
  { arbitrary: fc.record({ kind: fc.constant('restart' as const), device, crash: fc.boolean() }), weight: 1 },
  {
    arbitrary: fc.record({
      kind: fc.constant('crashDuring' as const),
      device,
      op: fc.constantFrom<SyncOp>('push', 'pull', 'sync'),
      at: fc.integer({ min: 1, max: 5 }),
    }),
    weight: 1,
  },
);

/** Local wins, except an UPDATE against a deleted row, which cannot be kept: the delete wins. */
const localWins: ConflictResolver = (c) =>
  c.op === 'UPDATE' && c.serverRow === null ? { action: 'accept_server' } : { action: 'keep_local' };

interface Slot {
  device: Device;
  faults: FaultyFetch;
  /** `table:key` written since the last acknowledged push. */
  written: Set<string>;
}

/** The devices, the counters and the server of one run. */
export class PropertyWorld {
  readonly slots: Slot[] = [];
  readonly anchors = [uuid(), uuid()];
  #counter = 0;

  constructor(
    readonly server: ClientServer,
    readonly user: string,
  ) {}

  /** Seeds the anchors server-side and attaches three devices (remote state). */
  async start(): Promise<void> {
    const values = this.anchors
      .map((id, i) => `(${lit(this.user)}, '${id}', 'anchor ${i}', 'a@x')`)
      .join(', ');
    await this.server.write(
      this.user,
      rawSql(`INSERT INTO business.users (_sync_scope_id, id, name, email) VALUES ${values}`),
    );
    for (let i = 0; i < 3; i++) this.slots.push(await this.#open(new MemoryPersister()));
  }

  async #open(persister: MemoryPersister, image?: Uint8Array): Promise<Slot> {
    const faults = new FaultyFetch();
    const options = {
      baseUrl: this.server.baseUrl,
      userId: this.user,
      fetch: faults.fetch,
      conflictResolver: localWins,
      persister,
      uploadChunkRows: 3,
      downloadLimit: 2,
    };
    const device = image ? await openFromImage(image, options) : await openDevice(options);
    return { device, faults, written: new Set() };
  }

  #name(prefix: string): string {
    return `${prefix}${++this.#counter}`;
  }

  #ids(d: Device, sql: string): string[] {
    return sqliteRows(d.db, sql).map((r) => String(r['id']));
  }

  /** Applies one action; expected sync failures (dirty pull, injected crash) are swallowed. */
  async apply(action: Action): Promise<void> {
    if (action.kind === 'server') return this.#serverWrite(action.op, action.pick);
    const slot = this.slots[action.device];
    if (action.kind === 'write') return this.#localWrite(slot, action.op, action.pick);
    if (action.kind === 'restart')
      return this.#restart(action.device, action.crash ? await slot.device.persister.load() : undefined);
    if (action.kind === 'crashDuring') {
      slot.faults.captureFrom(slot.device.persister).fail({ match: () => true, nth: action.at, crash: true });
      await this.#run(slot, action.op);
      return this.#restart(action.device, slot.faults.crashImages[0]);
    }
    return this.#run(slot, action.kind);
  }

  async #run(slot: Slot, op: SyncOp): Promise<void> {
    const client = slot.device.client;
    try {
      if (op === 'push') {
        await client.pushPending();
        if (client.pendingSyncStatus().pendingRowCount === 0) await this.#acknowledge(slot);
      } else if (op === 'pull') await client.pullToStable();
      else await client.sync();
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === 'dirty_state_rejected' || code === 'pending_push_replay' || slot.faults.offline) return;
      throw error;
    }
  }

  async #restart(index: number, image: Uint8Array | null | undefined): Promise<void> {
    const slot = this.slots[index];
    await closeDevice(slot.device);
    const persister = image ? new MemoryPersister() : (slot.device.persister as MemoryPersister);
    const next = await this.#open(persister, image ?? undefined);
    next.written = slot.written;
    this.slots[index] = next;
  }

  #localWrite(slot: Slot, op: LocalOp, at: number): void {
    const db = slot.device.db;
    const users = this.#ids(slot.device, 'SELECT id FROM users ORDER BY id');
    const deletable = users.filter((id) => !this.anchors.includes(id));
    const anchors = users.filter((id) => this.anchors.includes(id));
    const posts = this.#ids(slot.device, 'SELECT id FROM posts ORDER BY id');
    const of = (list: string[]) => list[at % list.length];
    const mark = (table: string, id: string) => slot.written.add(`${table}:${id}`);
    if (op === 'insertUser') {
      const id = uuid();
      db.run('INSERT INTO users (id, name, email) VALUES (?, ?, ?)', [id, this.#name('u'), 'u@x']);
      mark('users', id);
    } else if (op === 'updateUser' && users.length > 0) {
      const id = of(users);
      db.run('UPDATE users SET name = ? WHERE id = ?', [this.#name('u'), id]);
      mark('users', id);
    } else if (op === 'deleteUser' && deletable.length > 0) {
      const id = of(deletable);
      db.run('DELETE FROM users WHERE id = ?', [id]);
      mark('users', id);
    } else if (op === 'insertPost' && anchors.length > 0) {
      const id = uuid();
      db.run('INSERT INTO posts (id, title, content, author_id) VALUES (?, ?, ?, ?)', [
        id,
        this.#name('p'),
        'c',
        of(anchors),
      ]);
      mark('posts', id);
    } else if (op === 'updatePost' && posts.length > 0) {
      const id = of(posts);
      db.run('UPDATE posts SET title = ? WHERE id = ?', [this.#name('p'), id]);
      mark('posts', id);
    } else if (op === 'deletePost' && posts.length > 0) {
      const id = of(posts);
      db.run('DELETE FROM posts WHERE id = ?', [id]);
      mark('posts', id);
    }
  }

  async #serverWrite(op: 'insert' | 'update' | 'delete', at: number): Promise<void> {
    const scope = lit(this.user);
    const ids = (
      await pgRows<{ id: string }>(
        this.server.pool,
        'SELECT id::text AS id FROM business.users WHERE _sync_scope_id = $1 ORDER BY id',
        [this.user],
      )
    ).map((r) => r.id);
    const deletable = ids.filter((id) => !this.anchors.includes(id));
    if (
      op === 'insert' ||
      (op === 'update' && ids.length === 0) ||
      (op === 'delete' && deletable.length === 0)
    ) {
      const sql = `INSERT INTO business.users (_sync_scope_id, id, name, email) VALUES (${scope}, '${uuid()}', '${this.#name('s')}', 's@x')`;
      await this.server.write(this.user, rawSql(sql));
    } else if (op === 'update') {
      const sql = `UPDATE business.users SET name = '${this.#name('s')}' WHERE _sync_scope_id = ${scope} AND id = '${ids[at % ids.length]}'`;
      await this.server.write(this.user, rawSql(sql));
    } else {
      const sql = `DELETE FROM business.users WHERE _sync_scope_id = ${scope} AND id = '${deletable[at % deletable.length]}'`;
      await this.server.write(this.user, rawSql(sql));
    }
  }

  /**
   * After a push left nothing pending, every key written since the last acknowledgement must hold,
   * locally, a value the server committed (or a delete it committed): nothing acknowledged is lost.
   */
  async #acknowledge(slot: Slot): Promise<void> {
    const history = await this.history();
    for (const entry of slot.written) {
      const [table, id] = entry.split(':');
      const column = table === 'users' ? 'name' : 'title';
      const local =
        sqliteRows(slot.device.db, `SELECT ${column} AS v FROM ${table} WHERE id = ?`, [id])[0]?.['v'] ??
        null;
      const seen = history.filter((h) => h.table === table && h.id === id).map((h) => h.value);
      // A row that never reached the server and is gone locally was never acknowledged (an insert
      // deleted again before a push, or an unpersisted write lost by a crash).
      if (local === null && seen.length === 0) continue;
      if (!seen.includes(local === null ? null : String(local))) {
        throw new Error(
          `acknowledged ${table} ${id} = ${String(local)} is not in the server history [${seen.join(', ')}]`,
        );
      }
    }
    slot.written.clear();
  }

  /** Every committed row of the scope, in commit order (`value` null for deletes). */
  async history(): Promise<Array<{ seq: number; table: string; id: string; value: string | null }>> {
    const rows = await pgRows<{
      seq: number;
      table_name: string;
      id: string;
      op_code: number;
      payload: Record<string, unknown> | null;
    }>(
      this.server.pool,
      `SELECT r.bundle_seq::int AS seq, t.table_name, encode(r.key_bytes, 'hex') AS id, r.op_code, r.payload_wire::json AS payload
         FROM sync.bundle_rows r JOIN sync.user_state u USING (user_pk) JOIN sync.table_catalog t USING (table_id)
        WHERE u.user_id = $1 ORDER BY r.bundle_seq, r.row_ordinal`,
      [this.user],
    );
    return rows.map((r) => ({
      seq: r.seq,
      table: r.table_name,
      id: r.id.replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5'),
      value: r.op_code === 3 ? null : String(r.payload?.[r.table_name === 'users' ? 'name' : 'title']),
    }));
  }

  /** Syncs every device until nothing is pending and every checkpoint equals the server head. */
  async settle(): Promise<void> {
    for (const slot of this.slots) slot.faults.offline = false;
    for (let round = 0; round < 4; round++) {
      for (const slot of this.slots) await slot.device.client.sync();
      const heads = (await this.history()).at(-1)?.seq ?? 0;
      const done = this.slots.every(
        (s) =>
          s.device.client.pendingSyncStatus().pendingRowCount === 0 &&
          s.device.client.lastBundleSeqSeen() >= heads,
      );
      if (done) return;
    }
    throw new Error('devices did not settle after 4 sync rounds');
  }

  async close(): Promise<void> {
    for (const slot of this.slots) await closeDevice(slot.device).catch(() => undefined);
  }
}
