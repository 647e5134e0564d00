import { type PushConflict } from '@oversync/protocol';

import { newDevice, newServer, rows, scalar } from '../testing/test-device.js';
import { type ConflictResolver, type SyncConflict } from './conflict.types.js';
import { DeferredMerges } from './deferred-merges.js';
import { type OutboxRow } from './sync-state.store.js';

const outboxRow = (title: string): OutboxRow => ({
  rowOrdinal: 0,
  table: 'posts',
  keyJson: '{"id":"p1"}',
  wireKey: { id: 'p1' },
  op: 'UPDATE',
  baseRowVersion: 1,
  localPayload: { id: 'p1', title },
  wirePayload: { id: 'p1', title },
});
const conflictAt = (version: number): PushConflict => ({
  schema: 'business',
  table: 'posts',
  key: { id: 'p1' },
  op: 'UPDATE',
  base_row_version: 1,
  server_row_version: version,
  server_row_deleted: false,
  server_row: { id: 'p1', title: 'Server' },
});

describe('DeferredMerges', () => {
  const merged = { action: 'keep_merged', row: { id: 'p1', title: 'Merged' } } as const;

  it('hands a kept resolution back once, for the same conflict only', () => {
    const merges = new DeferredMerges();
    merges.keep(outboxRow('Local'), conflictAt(2), merged);
    expect(merges.take(outboxRow('Local'), conflictAt(2))).toBe(merged);
    expect(merges.take(outboxRow('Local'), conflictAt(2))).toBeUndefined();
  });

  it('drops a kept resolution when the server row or the local row changed', () => {
    const merges = new DeferredMerges();
    merges.keep(outboxRow('Local'), conflictAt(2), merged);
    expect(merges.take(outboxRow('Local'), conflictAt(3))).toBeUndefined();
    merges.keep(outboxRow('Local'), conflictAt(2), merged);
    expect(merges.take(outboxRow('Edited again'), conflictAt(2))).toBeUndefined();
    expect(merges.size).toBe(0);
  });
});

/**
 * p1 (author u1) synced at v1; the server adds author u2 and moves p1 to it (v2, not pulled); the
 * device edits p1's title. The resolver merges the server row with the local title.
 */
async function movedToUnpulledParent(resolver?: ConflictResolver) {
  const server = newServer();
  const seen: SyncConflict[] = [];
  const merge: ConflictResolver = (c) => {
    seen.push(c);
    return { action: 'keep_merged', row: { ...c.serverRow, title: c.localRow?.['title'] ?? null } };
  };
  const device = await newDevice(server, { conflictResolver: resolver ?? merge });
  await device.client.attach('user-1');
  device.db.run("INSERT INTO users VALUES ('u1', 'A', 'a'); INSERT INTO posts VALUES ('p1', 'u1', 'T', 1)");
  await device.client.pushPending();
  server.serverWrite('user-1', [
    { table: 'users', key: 'u2', payload: { id: 'u2', name: 'B', email: 'b' } },
    { table: 'posts', key: 'p1', payload: { id: 'p1', author_id: 'u2', title: 'T', score: 2 } },
  ]);
  device.db.run("UPDATE posts SET title = 'Local' WHERE id = 'p1'");
  return { server, seen, ...device };
}

describe('keep_merged of a row whose parent is not pulled yet', () => {
  it('pushPending() refuses it with conflict_pull_required and keeps every change pending', async () => {
    const { db, client } = await movedToUnpulledParent();
    await expect(client.pushPending()).rejects.toMatchObject({
      code: 'conflict_pull_required',
      details: { reference: 'posts.author_id -> users.id' },
    });
    expect(rows(db, 'SELECT op, base_row_version FROM _sync_dirty_rows')).toEqual([
      { op: 'UPDATE', base_row_version: 1 },
    ]);
    expect(scalar(db, 'SELECT COUNT(*) FROM _sync_outbox_rows')).toBe(0);
    expect(rows(db, 'SELECT author_id, title FROM posts')).toEqual([{ author_id: 'u1', title: 'Local' }]);
    await client.close();
  });

  it('sync() pulls the parent, then applies the kept resolution without asking again', async () => {
    const { db, client, server, seen } = await movedToUnpulledParent();
    expect(await client.sync()).toEqual({ pushOutcome: 'committed', remoteOutcome: 'applied_incremental' });
    expect(seen).toHaveLength(1);
    expect(rows(db, 'SELECT author_id, title, score FROM posts')).toEqual([
      { author_id: 'u2', title: 'Local', score: 2 },
    ]);
    expect(server.scope('user-1').rows.get('posts\u0000p1')).toMatchObject({
      rowVersion: 3,
      payload: { author_id: 'u2', title: 'Local' },
    });
    expect(scalar(db, 'SELECT COUNT(*) FROM _sync_dirty_rows')).toBe(0);
    await client.close();
  });

  it('asks the resolver again when the app edited the row before the retry', async () => {
    const { db, client, seen } = await movedToUnpulledParent();
    await expect(client.pushPending()).rejects.toMatchObject({ code: 'conflict_pull_required' });
    db.run("UPDATE posts SET title = 'Later' WHERE id = 'p1'");
    expect(await client.sync()).toMatchObject({ pushOutcome: 'committed' });
    expect(seen.map((c) => c.localRow?.['title'])).toEqual(['Local', 'Later']);
    expect(rows(db, 'SELECT author_id, title FROM posts')).toEqual([{ author_id: 'u2', title: 'Later' }]);
    await client.close();
  });

  it('sync() with downloads paused cannot pull: conflict_pull_required, nothing frozen', async () => {
    const { db, client } = await movedToUnpulledParent();
    client.setDownloadsPaused(true);
    await expect(client.sync()).rejects.toMatchObject({ code: 'conflict_pull_required' });
    expect(scalar(db, 'SELECT COUNT(*) FROM _sync_outbox_rows')).toBe(0);
    client.setDownloadsPaused(false);
    expect(await client.sync()).toMatchObject({ pushOutcome: 'committed' });
    expect(rows(db, 'SELECT author_id, title FROM posts')).toEqual([{ author_id: 'u2', title: 'Local' }]);
    await client.close();
  });

  it('a parent that is still missing after the pull is an invalid resolution, not a wedge', async () => {
    const ghost: ConflictResolver = (c) => ({
      action: 'keep_merged',
      row: { ...c.serverRow, author_id: 'u9' },
    });
    const { db, client } = await movedToUnpulledParent(ghost);
    await expect(client.sync()).rejects.toMatchObject({
      code: 'invalid_conflict_resolution',
      details: { action: 'keep_merged' },
    });
    expect(client.lastBundleSeqSeen()).toBe(2);
    expect(scalar(db, 'SELECT COUNT(*) FROM _sync_dirty_rows')).toBe(1);
    expect(scalar(db, 'SELECT COUNT(*) FROM _sync_outbox_rows')).toBe(0);
    await client.close();
  });
});
