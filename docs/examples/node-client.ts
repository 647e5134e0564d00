import { FilePersister, OversyncClient, serverWins } from '@oversync/client';
import initSqlJs from 'sql.js';

/** The server's columns minus `_sync_scope_id`; UUIDs are TEXT here. */
const LOCAL_SCHEMA = `
CREATE TABLE IF NOT EXISTS users (id TEXT PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS posts (id TEXT PRIMARY KEY, title TEXT NOT NULL, content TEXT NOT NULL,
  author_id TEXT REFERENCES users (id) DEFERRABLE INITIALLY DEFERRED);`;

/** Opens a device backed by `file`, signed in as `userId` (the token the host's auth accepts). */
export async function openDevice(file: string, baseUrl: string, userId: string) {
  const SQL = await initSqlJs();
  const persistence = new FilePersister(file);
  const db = new SQL.Database((await persistence.load()) ?? undefined);
  db.exec(LOCAL_SCHEMA);
  const client = new OversyncClient({
    db,
    sqlJs: SQL, // optional: large pulls and snapshots bind much faster
    baseUrl,
    getToken: () => userId,
    schema: 'business',
    tables: [
      { table: 'users', syncKeyColumn: 'id' },
      { table: 'posts', syncKeyColumn: 'id' },
    ],
    persistence,
    conflictResolver: serverWins, // or clientWins, or (conflict) => ({ action: 'keep_merged', row })
  });
  await client.open();
  await client.attach(userId); // first connect: seeds, starts empty or hydrates from a snapshot
  return { db, client };
}
