/**
 * Client-side helpers of the client benchmarks: sql.js devices running the BUILT `@oversync/client`
 * against the bench table `bench.items`, and the raw sql.js baseline (the same rows inserted with
 * one prepared statement in one transaction, no sync machinery).
 */
import { MemoryPersister, OversyncClient } from '@oversync/client';
import initSqlJs from 'sql.js';

let sqlJs;

/** sql.js, initialised once. */
export function loadSqlJs() {
  sqlJs ??= initSqlJs();
  return sqlJs;
}

/** The device-side twin of `bench.items` (server columns minus `_sync_scope_id`). */
export const ITEMS_SQL =
  'CREATE TABLE items (id TEXT PRIMARY KEY NOT NULL, title TEXT NOT NULL, body TEXT, qty INTEGER, price REAL, created_at TEXT NOT NULL)';

/**
 * Opens (and by default attaches) a device for `user`. `persist: false` leaves out the persister,
 * so a measurement covers the apply path without exporting the database image.
 */
export async function openBenchDevice({ baseUrl, user, fetch, persist = true, attach = true, ...rest }) {
  const SQL = await loadSqlJs();
  const db = new SQL.Database();
  db.exec(ITEMS_SQL);
  const client = new OversyncClient({
    db,
    baseUrl,
    getToken: () => user,
    schema: 'bench',
    tables: [{ table: 'items', syncKeyColumn: 'id' }],
    persistence: persist ? new MemoryPersister() : undefined,
    sqlJs: SQL,
    fetch,
    snapshotChunkRows: 5000,
    ...rest,
  });
  await client.open();
  if (attach) await client.attach(user);
  return {
    db,
    client,
    async close() {
      await client.close();
      db.close();
    },
  };
}

/**
 * Raw baseline: parses the same response bodies the client received and inserts their payloads
 * into a fresh plain table with one prepared statement in one transaction (no sync machinery).
 */
export async function rawApply(bodies, payloadsOf) {
  const SQL = await loadSqlJs();
  const db = new SQL.Database();
  db.exec(ITEMS_SQL);
  const t0 = performance.now();
  db.exec('BEGIN');
  const stmt = db.prepare(
    'INSERT INTO items (id, title, body, qty, price, created_at) VALUES (?, ?, ?, ?, ?, ?)',
  );
  let rows = 0;
  for (const body of bodies) {
    for (const p of payloadsOf(JSON.parse(body))) {
      stmt.run([p.id, p.title, p.body, p.qty, p.price, p.created_at]);
      rows += 1;
    }
  }
  stmt.free();
  db.exec('COMMIT');
  const ms = performance.now() - t0;
  const count = db.exec('SELECT COUNT(*) FROM items')[0].values[0][0];
  db.close();
  if (count !== rows) throw new Error(`raw insert stored ${count} of ${rows}`);
  return ms;
}

/** Row count of the device's items table. */
export function itemCount(device) {
  return device.db.exec('SELECT COUNT(*) FROM items')[0].values[0][0];
}
