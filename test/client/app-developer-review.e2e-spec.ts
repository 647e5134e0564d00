/**
 * An app developer's review of `@oversync/client`: a small notes app (people and their notes, a
 * foreign key between them) built only on the public API as the READMEs describe it, run against
 * the real server through realistic sequences.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  FilePersister,
  isOversyncClientError,
  clientWins,
  MemoryPersister,
  OversyncClient,
  type FetchLike,
  type OversyncClientError,
  type OversyncClientOptions,
  type OversyncPersister,
  type SyncStatusEvent,
} from '@oversync/client';
import type { Database } from 'sql.js';
import { failure, loadSqlJs, sqliteRows } from '../support/client-devices.js';
import { execSql } from '../support/business-schema.js';
import { waitFor } from '../support/client-waiters.js';
import { createOversyncTestApp, type OversyncTestApp } from '../support/oversync-app.js';
import { uuid, userId } from '../support/client-schema.js';
import { pgRows, startClientServer, type ClientServer } from '../support/client-server.js';

/** Release 1 of the app's local schema: the server's columns minus `_sync_scope_id`. */
const SCHEMA_V1 = `
CREATE TABLE IF NOT EXISTS users (id TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL, email TEXT NOT NULL,
  created_at TEXT NOT NULL DEFAULT '2026-01-01T00:00:00Z', updated_at TEXT NOT NULL DEFAULT '2026-01-01T00:00:00Z');
CREATE TABLE IF NOT EXISTS posts (id TEXT PRIMARY KEY NOT NULL, title TEXT NOT NULL, content TEXT NOT NULL,
  author_id TEXT REFERENCES users (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
  created_at TEXT NOT NULL DEFAULT '2026-01-01T00:00:00Z', updated_at TEXT NOT NULL DEFAULT '2026-01-01T00:00:00Z');`;

const FAST_BACKGROUND = { minBackoffMs: 20, pollIntervalMs: 100, localChangeDebounceMs: 5 } as const;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const TABLES = [
  { table: 'users', syncKeyColumn: 'id' },
  { table: 'posts', syncKeyColumn: 'id' },
];

/** One install of the notes app. */
interface NotesApp {
  readonly db: Database;
  readonly client: OversyncClient;
  readonly persistence: OversyncPersister;
}

describe('notes app on @oversync/client (real server)', () => {
  let server: ClientServer;
  const apps: NotesApp[] = [];

  /** The app's start-up, exactly as the README's quick start: load, schema, client, open. */
  const launch = async (
    user: string,
    persistence: OversyncPersister = new MemoryPersister(),
    options: Partial<OversyncClientOptions> & { schema?: never; migrate?: (db: Database) => void } = {},
  ): Promise<NotesApp> => {
    const { migrate, ...clientOptions } = options;
    const SQL = await loadSqlJs();
    const db = new SQL.Database((await persistence.load()) ?? undefined);
    db.exec(SCHEMA_V1);
    migrate?.(db);
    const client = new OversyncClient({
      db,
      sqlJs: SQL,
      baseUrl: server.baseUrl,
      getToken: () => user,
      schema: 'business',
      tables: TABLES,
      persistence,
      retry: { maxAttempts: 2, initialBackoffMs: 5, maxBackoffMs: 10 },
      ...clientOptions,
    });
    await client.open();
    const app = { db, client, persistence };
    apps.push(app);
    return app;
  };
  const quit = async (app: NotesApp) => {
    await app.client.close();
    app.db.close();
  };
  const addPerson = (app: NotesApp, name: string, id = uuid()) => {
    app.db.run('INSERT INTO users (id, name, email) VALUES (?, ?, ?)', [id, name, `${name}@example.com`]);
    return id;
  };
  const addNote = (app: NotesApp, authorId: string, title: string, id = uuid()) => {
    app.db.run('INSERT INTO posts (id, title, content, author_id) VALUES (?, ?, ?, ?)', [
      id,
      title,
      `${title} body`,
      authorId,
    ]);
    return id;
  };

  beforeAll(async () => {
    server = await startClientServer();
  });
  afterAll(async () => {
    for (const app of apps) await quit(app).catch(() => undefined);
    await server.close();
  });

  /** Everything the app shows: people and notes with their author, in a stable order. */
  const view = (app: NotesApp) => ({
    people: sqliteRows(app.db, 'SELECT id, name FROM users ORDER BY id'),
    notes: sqliteRows(app.db, 'SELECT id, title, author_id FROM posts ORDER BY id'),
  });
  const serverNotes = async (user: string) =>
    pgRows(
      server.pool,
      'SELECT id::text AS id, title, author_id::text AS author_id FROM business.posts WHERE _sync_scope_id = $1 ORDER BY id',
      [user],
    );

  it('file-backed app: write, sync, quit, relaunch from the file, sync again; nothing lost or repeated', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'notes-'));
    try {
      const user = userId('file');
      const app = await launch(user, new FilePersister(join(dir, 'notes.sqlite')));
      expect(await app.client.attach(user)).toEqual({ status: 'connected', outcome: 'started_empty' });
      const ada = addPerson(app, 'Ada');
      addNote(app, ada, 'First');
      expect(await app.client.sync()).toEqual({
        pushOutcome: 'committed',
        remoteOutcome: 'already_at_target',
      });
      addNote(app, ada, 'Written before quitting');
      await quit(app);

      const again = await launch(user, new FilePersister(join(dir, 'notes.sqlite')));
      expect(again.client.pendingSyncStatus()).toMatchObject({ pendingRowCount: 1 });
      expect(await again.client.attach(user)).toEqual({
        status: 'connected',
        outcome: 'resumed_attached_state',
      });
      expect((await again.client.sync()).pushOutcome).toBe('committed');
      expect(view(again).notes).toHaveLength(2);
      expect(await serverNotes(user)).toEqual(view(again).notes);
      const peer = await launch(user);
      await peer.client.attach(user);
      expect(view(peer)).toEqual(view(again));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('background sync: status events, pause/resume, stop/start, and a peer converges', async () => {
    const user = userId('bg');
    const a = await launch(user, new MemoryPersister(), { background: FAST_BACKGROUND });
    const b = await launch(user, new MemoryPersister(), { background: FAST_BACKGROUND });
    await a.client.attach(user);
    await b.client.attach(user);
    const events: SyncStatusEvent[] = [];
    a.client.onStatus((e) => events.push(e));
    a.client.start();
    b.client.start();
    const ada = addPerson(a, 'Ada');
    addNote(a, ada, 'Via watch');
    await waitFor(() => view(b).notes.length === 1, { what: 'B to receive the note' });
    await waitFor(() => events.some((e) => e.state === 'synced' && e.operation === 'sync'), {
      what: 'a synced status event',
    });
    expect(events.filter((e) => e.state === 'error')).toEqual([]);

    a.client.setUploadsPaused(true);
    addNote(a, ada, 'Held back');
    await sleep(200);
    expect(view(b).notes).toHaveLength(1);
    expect(a.client.pendingSyncStatus().pendingRowCount).toBe(1);
    a.client.setUploadsPaused(false);
    addNote(a, ada, 'Released');
    await waitFor(() => view(b).notes.length === 3, { what: 'B to receive the held notes' });

    await a.client.stop();
    addNote(a, ada, 'While stopped');
    await sleep(200);
    expect(view(b).notes).toHaveLength(3);
    a.client.start();
    await waitFor(() => view(b).notes.length === 4, { what: 'B to receive the note written while stopped' });
    await a.client.stop();
    await b.client.stop();
    expect(view(a)).toEqual(view(b));
    // stop() cuts a running sync short with an AbortError status (documented); nothing else failed.
    const failures = events.filter((e) => e.state === 'error' && (e.error as Error).name !== 'AbortError');
    expect(failures).toEqual([]);
  });

  it('sync() twice at once, close() during sync(), writes during a sync: nothing lost or repeated', async () => {
    const user = userId('conc');
    const writer: { app?: NotesApp; author: string } = { author: '' };
    const ids: string[] = [];
    // Every request of a sync gives the app a chance to write (UI events between awaits).
    const fetchWithWrites: FetchLike = (input, init) => {
      const { app, author } = writer;
      if (app && author && ids.length < 20) {
        ids.push(addNote(app, author, `during ${ids.length}`));
        if (ids.length % 3 === 0) app.db.run("UPDATE posts SET title = title || '!' WHERE id = ?", [ids[0]]);
        if (ids.length % 7 === 0) app.db.run('DELETE FROM posts WHERE id = ?', [ids[1]]);
      }
      return fetch(input, init);
    };
    const app = await launch(user, new MemoryPersister(), { fetch: fetchWithWrites });
    writer.app = app;
    await app.client.attach(user);
    writer.author = addPerson(app, 'Ada');
    const first = app.client.sync();
    expect((await failure(app.client.sync())).code).toBe('sync_in_progress');
    await first;
    while (ids.length < 20) await app.client.sync();
    writer.author = '';
    const syncing = app.client.sync();
    const closing = app.client.close();
    await syncing;
    await closing;
    expect((await failure(app.client.sync())).code).toBe('client_closed');
    const again = await launch(user, app.persistence);
    await again.client.attach(user);
    await again.client.sync();
    expect(again.client.pendingSyncStatus().pendingRowCount).toBe(0);
    expect(await serverNotes(user)).toEqual(view(again).notes);
    expect(view(again).notes).toHaveLength(19);
  });

  it('a 10k-row transaction is captured without a per-row scan, syncs as one bundle and hydrates a peer', async () => {
    const user = userId('bulk');
    const app = await launch(user);
    await app.client.attach(user);
    const ada = addPerson(app, 'Ada');
    // Capture cost per row must not grow with the dirty set: every captured write asks for the
    // largest dirty_ordinal, which without an index scans all earlier ones (10k inserts took ~10 s,
    // their cascade delete ~20 s). Speed belongs in benchmarks; the plan is what is checked here.
    const plan = sqliteRows(app.db, 'EXPLAIN QUERY PLAN SELECT MAX(dirty_ordinal) FROM _sync_dirty_rows');
    expect(plan.map((r) => String(r.detail)).join(' ')).toMatch(
      /USING COVERING INDEX _sync_dirty_rows_by_ordinal/,
    );
    app.db.exec('BEGIN');
    const stmt = app.db.prepare('INSERT INTO posts (id, title, content, author_id) VALUES (?, ?, ?, ?)');
    for (let i = 0; i < 10_000; i++) stmt.run([uuid(), `note ${i}`, 'x'.repeat(50), ada]);
    stmt.free();
    app.db.exec('COMMIT');
    expect(app.client.pendingSyncStatus().pendingRowCount).toBe(10_001);
    expect((await app.client.sync()).pushOutcome).toBe('committed');
    expect(app.client.pendingSyncStatus().pendingRowCount).toBe(0);
    expect(await serverNotes(user)).toHaveLength(10_000);
    const peer = await launch(user);
    expect(await peer.client.attach(user)).toMatchObject({
      outcome: 'used_remote_state',
      restore: { rowCount: 10_001 },
    });
    expect(view(peer)).toEqual(view(app));

    app.db.run('DELETE FROM users WHERE id = ?', [ada]); // cascades to 10k notes, each captured
    expect(app.client.pendingSyncStatus().pendingRowCount).toBe(10_001);
    await app.client.sync();
    await peer.client.sync();
    expect(view(peer)).toEqual({ people: [], notes: [] });
    expect(await serverNotes(user)).toEqual([]);
  });

  it('offline use before sign-in, quitting mid-seed, offline and 401 failures, then recovery', async () => {
    const user = userId('seed');
    let token = user;
    let online = true;
    const errors: unknown[] = [];
    const persistence = new MemoryPersister();
    const options = {
      getToken: () => token,
      fetch: ((input, init) =>
        online ? fetch(input, init) : Promise.reject(new TypeError('fetch failed'))) as FetchLike,
      background: FAST_BACKGROUND,
      onBackgroundError: (e: unknown) => errors.push(e),
    };
    const app = await launch(user, persistence, options);
    const ada = addPerson(app, 'Ada');
    addNote(app, ada, 'before sign-in');
    expect(await app.client.attach(user)).toEqual({ status: 'connected', outcome: 'seeded_from_local' });
    await quit(app);
    const again = await launch(user, persistence, options);
    online = false; // resuming the attached user needs no network
    expect(await again.client.attach(user)).toMatchObject({ outcome: 'resumed_attached_state' });
    addNote(again, ada, 'offline');
    const offline = await failure(again.client.sync());
    expect(offline.code).toBe('retry_exhausted');
    expect(isOversyncClientError((offline as OversyncClientError).cause, 'network_error')).toBe(true);
    online = true;
    token = ''; // the host answers 401
    const denied = await failure(again.client.sync());
    expect([denied.code, (denied as OversyncClientError).details['status']]).toEqual(['http_status', 401]);
    again.client.start();
    addNote(again, ada, 'while signed out');
    await waitFor(() => errors.length >= 2, { what: 'background 401s' });
    expect(errors.every((e) => isOversyncClientError(e, 'http_status'))).toBe(true);
    token = user;
    await waitFor(() => !again.client.pendingSyncStatus().hasPendingSyncData, { what: 'the seed push' });
    await again.client.stop();
    const peer = await launch(user);
    expect(await peer.client.attach(user)).toMatchObject({ outcome: 'used_remote_state' });
    expect(view(peer)).toEqual(view(again));
    expect(view(peer).notes).toHaveLength(3);
  });

  it('server restart: background sync rides it out and a peer converges without duplicates', async () => {
    const first = await createOversyncTestApp({ listen: true });
    let current = first;
    let second: OversyncTestApp | undefined;
    // The app talks to one address; a balancer sends it to whichever instance is up.
    const balanced: FetchLike = (input, init) => {
      const url = new URL(input);
      return fetch(current.baseUrl + url.pathname + url.search, init);
    };
    const errors: unknown[] = [];
    try {
      const user = userId('restart');
      const options = {
        fetch: balanced,
        background: { ...FAST_BACKGROUND, maxBackoffMs: 100 },
        onBackgroundError: (e: unknown) => errors.push(e),
      };
      const a = await launch(user, new MemoryPersister(), options);
      const b = await launch(user, new MemoryPersister(), options);
      await a.client.attach(user);
      await b.client.attach(user);
      a.client.start();
      b.client.start();
      const ada = addPerson(a, 'Ada');
      addNote(a, ada, 'before restart');
      await waitFor(() => view(b).notes.length === 1, { what: 'the first note on B' });
      await first.app.close();
      addNote(a, ada, 'during restart');
      const down = await failure(b.client.sync());
      expect(['sync_in_progress', 'retry_exhausted']).toContain(down.code);
      await waitFor(() => errors.length > 0, { what: 'a background error while the server is down' });
      second = await createOversyncTestApp({ listen: true, database: first.db, skipSchema: true });
      current = second;
      addNote(a, ada, 'after restart');
      await waitFor(() => view(b).notes.length === 3, { what: 'every note on B after the restart' });
      await a.client.stop();
      await b.client.stop();
      await a.client.sync();
      await b.client.sync();
      expect(view(a)).toEqual(view(b));
      expect(a.client.pendingSyncStatus().pendingRowCount).toBe(0);
      const stored = await execSql(
        first.db.url,
        'SELECT title FROM business.posts WHERE _sync_scope_id = $1 ORDER BY title',
        [user],
      );
      expect(stored.rows).toEqual([
        { title: 'after restart' },
        { title: 'before restart' },
        { title: 'during restart' },
      ]);
    } finally {
      await second?.close();
      await first.db.drop();
    }
  });

  it('release 2 syncs a table release 1 kept local: its rows reach the server and peers', async () => {
    const user = userId('new-table');
    const persistence = new MemoryPersister();
    const localCategories = (db: Database) =>
      db.exec(
        'CREATE TABLE IF NOT EXISTS categories (id TEXT PRIMARY KEY NOT NULL, name TEXT NOT NULL, ' +
          'parent_id TEXT REFERENCES categories (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED)',
      );
    const v1 = await launch(user, persistence, { migrate: localCategories });
    await v1.client.attach(user);
    addNote(v1, addPerson(v1, 'Ada'), 'note');
    const work = uuid();
    v1.db.run('INSERT INTO categories (id, name) VALUES (?, ?)', [work, 'Work']);
    await v1.client.sync();
    await quit(v1);

    const release2 = {
      migrate: localCategories,
      tables: [...TABLES, { table: 'categories', syncKeyColumn: 'id' }],
    };
    const v2 = await launch(user, persistence, release2);
    await v2.client.attach(user);
    v2.db.run('INSERT INTO categories (id, name, parent_id) VALUES (?, ?, ?)', [uuid(), 'Meetings', work]);
    await v2.client.sync();
    expect(v2.client.pendingSyncStatus().pendingRowCount).toBe(0);
    const peer = await launch(user, new MemoryPersister(), release2);
    await peer.client.attach(user);
    expect(sqliteRows(peer.db, 'SELECT name FROM categories ORDER BY name')).toEqual([
      { name: 'Meetings' },
      { name: 'Work' },
    ]);
  });

  // The tests below change the server's posts table (release 2 of the app), so they run last.
  const ADD_PINNED = (db: Database) => {
    if (!sqliteRows(db, 'PRAGMA table_info(posts)').some((c) => c['name'] === 'pinned'))
      db.exec('ALTER TABLE posts ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0');
  };

  it('release 2 adds a NOT NULL column: notes written or frozen under release 1 still sync', async () => {
    const user = userId('evolve');
    const persistence = new MemoryPersister();
    let online = true;
    const flaky: FetchLike = (input, init) =>
      online ? fetch(input, init) : Promise.reject(new TypeError('fetch failed'));
    const release1 = { fetch: flaky, conflictResolver: clientWins };
    const v1 = await launch(user, persistence, release1);
    await v1.client.attach(user);
    const ada = addPerson(v1, 'Ada');
    const edited = addNote(v1, ada, 'draft');
    await v1.client.sync();
    const peer = await launch(user);
    await peer.client.attach(user);
    // Offline under release 1: an edit whose push fails stays frozen, a later note stays dirty.
    online = false;
    v1.db.run('UPDATE posts SET title = ? WHERE id = ?', ['my title', edited]);
    const frozen = addNote(v1, ada, 'frozen offline');
    expect((await failure(v1.client.sync())).code).toBe('retry_exhausted');
    const written = addNote(v1, ada, 'written offline');
    await quit(v1);
    await quit(peer);

    // Release 2: the server and the app both add a NOT NULL column; a peer edits the same note.
    await server.pool.query('ALTER TABLE business.posts ADD COLUMN pinned boolean NOT NULL DEFAULT false');
    const peer2 = await launch(user, peer.persistence, { migrate: ADD_PINNED });
    await peer2.client.attach(user);
    await peer2.client.sync();
    peer2.db.run('UPDATE posts SET title = ?, pinned = 1 WHERE id = ?', ['peer title', edited]);
    await peer2.client.sync();
    online = true;
    const v2 = await launch(user, persistence, { ...release1, migrate: ADD_PINNED });
    await v2.client.attach(user);
    await v2.client.sync();
    await peer2.client.sync();
    expect(v2.client.pendingSyncStatus().pendingRowCount).toBe(0);
    const titles = (app: NotesApp) => sqliteRows(app.db, 'SELECT id, title, pinned FROM posts ORDER BY id');
    expect(titles(v2)).toEqual(
      [
        { id: edited, title: 'my title', pinned: 0 },
        { id: frozen, title: 'frozen offline', pinned: 0 },
        { id: written, title: 'written offline', pinned: 0 },
      ].sort((x, y) => x.id.localeCompare(y.id)),
    );
    expect(titles(peer2)).toEqual(titles(v2));
    expect(
      await pgRows(
        server.pool,
        'SELECT title, pinned FROM business.posts WHERE _sync_scope_id = $1 ORDER BY id',
        [user],
      ),
    ).toEqual(titles(v2).map((r) => ({ title: r['title'], pinned: false })));
  });
});
