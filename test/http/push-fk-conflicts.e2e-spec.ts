/**
 * A pushed row that breaks a foreign key on the server answers `409 push_conflict` naming that row,
 * read from the state before the push, instead of go-oversync's `500 push_session_commit_failed` on
 * every retry: a child written offline under a parent another device deleted, a child moved to
 * such a parent, a DELETE of a parent that server rows still reference (NO ACTION keys, registered
 * or a host's deferrable table). Nothing is written and the session stays. A host table's NOT
 * DEFERRABLE key still fails the commit (500).
 */
import type { PushConflict } from '@oversync/protocol';
import { createOversyncTestApp, type OversyncTestApp } from '../support/oversync-app.js';
import {
  bundleCount,
  dbRows,
  deleteRow,
  newId,
  pushOk,
  pushRows,
  pushSessionExists,
  readyUser,
  stageRows,
  commitSession,
  deleteSession,
  type SyncClient,
} from '../support/push-builders.js';
import { syncClient } from '../support/sync-http.js';

const FK_SCHEMA = `
CREATE SCHEMA fk;
CREATE TABLE fk.parents (
  _sync_scope_id text NOT NULL, id uuid NOT NULL, name text NOT NULL, PRIMARY KEY (_sync_scope_id, id));
CREATE TABLE fk.children (
  _sync_scope_id text NOT NULL, id uuid NOT NULL, parent_id uuid, label text,
  PRIMARY KEY (_sync_scope_id, id),
  CONSTRAINT children_parent_fk FOREIGN KEY (_sync_scope_id, parent_id)
    REFERENCES fk.parents (_sync_scope_id, id) DEFERRABLE INITIALLY DEFERRED);
CREATE TABLE fk.folders (
  _sync_scope_id text NOT NULL, slug text NOT NULL, title text, PRIMARY KEY (_sync_scope_id, slug));
CREATE TABLE fk.notes (
  _sync_scope_id text NOT NULL, name text NOT NULL, folder text,
  PRIMARY KEY (_sync_scope_id, name),
  CONSTRAINT notes_folder_fk FOREIGN KEY (_sync_scope_id, folder)
    REFERENCES fk.folders (_sync_scope_id, slug) DEFERRABLE INITIALLY DEFERRED);
CREATE TABLE fk.host_audit (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, scope text NOT NULL, parent_id uuid NOT NULL,
  CONSTRAINT audit_parent_fk FOREIGN KEY (scope, parent_id)
    REFERENCES fk.parents (_sync_scope_id, id) DEFERRABLE INITIALLY IMMEDIATE);
CREATE TABLE fk.host_pins (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, scope text NOT NULL, folder text NOT NULL,
  CONSTRAINT pins_folder_fk FOREIGN KEY (scope, folder) REFERENCES fk.folders (_sync_scope_id, slug));
`;

const row = (table: string, key: Record<string, string>, op: string, base: number, payload?: object) => ({
  schema: 'fk',
  table,
  key,
  op,
  base_row_version: base,
  ...(payload === undefined ? {} : { payload }),
});
const parent = (id: string, name = 'P') => row('parents', { id }, 'INSERT', 0, { id, name });
const child = (id: string, parentId: string | null, op = 'INSERT', base = 0) =>
  row('children', { id }, op, base, { id, parent_id: parentId, label: 'c' });

describe('push commit: rows that break a foreign key on the server', () => {
  let t: OversyncTestApp;

  beforeAll(async () => {
    t = await createOversyncTestApp({
      listen: true,
      schemaSql: FK_SCHEMA,
      options: {
        registeredTables: ['parents', 'children', 'folders', 'notes'].map((table) => ({
          schema: 'fk',
          table,
          syncKeyColumns: [table === 'folders' ? 'slug' : table === 'notes' ? 'name' : 'id'],
        })),
      },
    });
  });
  afterAll(async () => {
    await t.close();
  });

  /** A user whose scope holds one parent (bundle 1), and a second device of that user. */
  async function withParent(): Promise<{ user: string; a: SyncClient; b: SyncClient; p: string }> {
    const { user, c: a } = await readyUser(t.baseUrl, 'device-a');
    const p = newId();
    await pushOk(a, 1, [parent(p)]);
    return { user, a, b: syncClient(t.baseUrl, user, 'device-b'), p };
  }

  async function expectConflict(
    c: SyncClient,
    pushId: string,
    user: string,
    bundles: number,
  ): Promise<{ conflict: PushConflict; message: string }> {
    const reply = await commitSession(c, pushId);
    expect(reply.status).toBe(409);
    expect(reply.json.error).toBe('push_conflict');
    expect(await bundleCount(t.db.url, user)).toBe(bundles);
    expect(await pushSessionExists(t.db.url, pushId)).toBe(true);
    return { conflict: reply.json.conflict as PushConflict, message: reply.json.message as string };
  }

  it('names a child inserted under a parent another device deleted (the row does not exist on the server)', async () => {
    const { user, a, b, p } = await withParent();
    await pushOk(a, 2, [deleteRow('fk', 'parents', p, 1)]);
    const kid = newId();
    const pushId = await stageRows(b, 1, [child(kid, p)]);
    const { conflict, message } = await expectConflict(b, pushId, user, 2);
    expect(conflict).toEqual({
      schema: 'fk',
      table: 'children',
      key: { id: kid },
      op: 'INSERT',
      base_row_version: 0,
      server_row_version: 0,
      server_row_deleted: false,
      server_row: null,
    });
    expect(message).toContain('children_parent_fk');
    expect(await dbRows(t.db.url, 'SELECT 1 FROM fk.children WHERE _sync_scope_id = $1', [user])).toEqual([]);
    // The device drops the row (its resolver's choice) and pushes the same bundle number again.
    expect((await pushRows(b, 1, [child(newId(), null)])).status).toBe(200);
  });

  it('names the first such row in upload order, after rows that apply cleanly', async () => {
    const { user, a, b, p } = await withParent();
    await pushOk(a, 2, [deleteRow('fk', 'parents', p, 1)]);
    const [ok, first, second] = [newId(), newId(), newId()];
    const pushId = await stageRows(b, 1, [child(ok, null), child(first, p), child(second, p)]);
    const { conflict } = await expectConflict(b, pushId, user, 2);
    expect(conflict.key).toEqual({ id: first });
  });

  it('names a child moved to a deleted parent, with the server row as it was before the push', async () => {
    const { user, a, b, p } = await withParent();
    const kid = newId();
    await pushOk(a, 2, [child(kid, p)]);
    const gone = newId();
    await pushOk(a, 3, [parent(gone, 'G')]);
    await pushOk(a, 4, [deleteRow('fk', 'parents', gone, 3)]);
    const pushId = await stageRows(b, 1, [child(kid, gone, 'UPDATE', 2)]);
    const { conflict } = await expectConflict(b, pushId, user, 4);
    expect(conflict).toMatchObject({
      table: 'children',
      op: 'UPDATE',
      base_row_version: 2,
      server_row_version: 2,
      server_row_deleted: false,
      server_row: { id: kid, parent_id: p, label: 'c' },
    });
  });

  it('names a DELETE of a parent that a child on the server still references (NO ACTION)', async () => {
    const { user, a, b, p } = await withParent();
    await pushOk(a, 2, [child(newId(), p)]);
    const pushId = await stageRows(b, 1, [deleteRow('fk', 'parents', p, 1)]);
    const { conflict, message } = await expectConflict(b, pushId, user, 2);
    expect(conflict).toEqual({
      schema: 'fk',
      table: 'parents',
      key: { id: p },
      op: 'DELETE',
      base_row_version: 1,
      server_row_version: 1,
      server_row_deleted: false,
      server_row: { id: p, name: 'P' },
    });
    expect(message).toContain('still reference');
    expect(await dbRows(t.db.url, 'SELECT 1 FROM fk.parents WHERE _sync_scope_id = $1', [user])).toHaveLength(
      1,
    );
  });

  it('names a DELETE of a parent a host table references with a deferrable key', async () => {
    const { user, a, p } = await withParent();
    await dbRows(t.db.url, 'INSERT INTO fk.host_audit (scope, parent_id) VALUES ($1, $2)', [user, p]);
    const pushId = await stageRows(a, 2, [deleteRow('fk', 'parents', p, 1)]);
    const { conflict } = await expectConflict(a, pushId, user, 1);
    expect(conflict).toMatchObject({ table: 'parents', key: { id: p }, op: 'DELETE', server_row: { id: p } });
  });

  it('works for text keys on both sides (child under a missing folder, DELETE of a referenced folder)', async () => {
    const { user, c } = await readyUser(t.baseUrl, 'device-t');
    await pushOk(c, 1, [
      row('folders', { slug: 'inbox' }, 'INSERT', 0, { slug: 'inbox', title: 'In' }),
      row('notes', { name: 'n1' }, 'INSERT', 0, { name: 'n1', folder: 'inbox' }),
    ]);
    const orphan = await stageRows(c, 2, [
      row('notes', { name: 'n<2>' }, 'INSERT', 0, { name: 'n<2>', folder: 'archive' }),
    ]);
    expect((await expectConflict(c, orphan, user, 1)).conflict).toMatchObject({
      table: 'notes',
      key: { name: 'n<2>' },
      server_row: null,
    });
    expect((await deleteSession(c, orphan)).status).toBe(204);
    const referenced = await stageRows(c, 2, [row('folders', { slug: 'inbox' }, 'DELETE', 1)]);
    expect((await expectConflict(c, referenced, user, 1)).conflict).toMatchObject({
      table: 'folders',
      key: { slug: 'inbox' },
      op: 'DELETE',
      server_row: { slug: 'inbox', title: 'In' },
    });
  });

  it("refuses the row (400 push_commit_invalid, go-oversync: 500) for a host table's NOT DEFERRABLE key, writing nothing", async () => {
    const { user, c } = await readyUser(t.baseUrl, 'device-h');
    await pushOk(c, 1, [row('folders', { slug: 'pinned' }, 'INSERT', 0, { slug: 'pinned', title: null })]);
    await dbRows(t.db.url, 'INSERT INTO fk.host_pins (scope, folder) VALUES ($1, $2)', [user, 'pinned']);
    const pushId = await stageRows(c, 2, [row('folders', { slug: 'pinned' }, 'DELETE', 1)]);
    const reply = await commitSession(c, pushId);
    expect(reply.status).toBe(400);
    expect(reply.json.error).toBe('push_commit_invalid');
    expect(reply.json.message).toContain('pushed row 0 (fk.folders "pinned")');
    expect(await bundleCount(t.db.url, user)).toBe(1);
  });
});
