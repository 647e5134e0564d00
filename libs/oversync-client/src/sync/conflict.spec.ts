import { base64Encode, type JsonObject } from '@oversync/protocol';

import { type ConflictResolver, clientWins, serverWins, type SyncConflict } from './conflict.types.js';
import { type FakeOversyncServer } from '../testing/fake-oversync-server.js';
import { newDevice, newServer, rows, scalar } from '../testing/test-device.js';

/** u1 synced at v1; the server moves it to v2 ('Server'); the device edits it to 'Local'. */
async function conflicting(resolver: ConflictResolver) {
  const server = newServer();
  const device = await newDevice(server, { conflictResolver: resolver });
  await device.client.attach('user-1');
  device.db.run("INSERT INTO users VALUES ('u1', 'Base', 'b')");
  await device.client.pushPending();
  server.serverWrite('user-1', [
    { table: 'users', key: 'u1', payload: { id: 'u1', name: 'Server', email: 's' } },
  ]);
  device.db.run("UPDATE users SET name = 'Local' WHERE id = 'u1'");
  return { server, ...device };
}

const commitsOf = (server: FakeOversyncServer) =>
  server.requests
    .filter((r) => r.path === '/sync/push-sessions')
    .map((r) => (r.body as { source_bundle_id: number }).source_bundle_id);
const lastChunkRows = (server: FakeOversyncServer) =>
  (server.requests.filter((r) => r.path.endsWith('/chunks')).at(-1)!.body as { rows: JsonObject[] }).rows;

describe('push conflicts', () => {
  it('serverWins (default) takes the server row and drops the local change', async () => {
    let seen: SyncConflict | undefined;
    const { db, client, server } = await conflicting((c) => {
      seen = c;
      return serverWins(c);
    });
    expect(await client.pushPending()).toEqual({ outcome: 'no_change' });
    expect(seen).toMatchObject({
      table: 'users',
      key: { id: 'u1' },
      op: 'UPDATE',
      baseRowVersion: 1,
      serverRowVersion: 2,
      serverRowDeleted: false,
      serverRow: { id: 'u1', name: 'Server', email: 's' },
      localRow: { id: 'u1', name: 'Local', email: 'b' },
    });
    expect(scalar(db, "SELECT name FROM users WHERE id = 'u1'")).toBe('Server');
    expect(rows(db, 'SELECT row_version FROM _sync_row_state')).toEqual([{ row_version: 2 }]);
    expect(scalar(db, 'SELECT COUNT(*) FROM _sync_dirty_rows')).toBe(0);
    expect(scalar(db, 'SELECT COUNT(*) FROM _sync_outbox_rows')).toBe(0);
    expect(scalar(db, 'SELECT next_source_bundle_id FROM _sync_source_state')).toBe(2);
    expect(client.lastBundleSeqSeen()).toBe(1);
    expect(await client.pullToStable()).toEqual({ outcome: 'applied_incremental' });
    expect(server.scope('user-1').bundles).toHaveLength(2);
    await client.close();
  });

  it('clientWins re-sends the local row on top of the server version under the same source bundle id', async () => {
    const { db, client, server } = await conflicting(clientWins);
    expect(await client.pushPending()).toEqual({ outcome: 'committed' });
    expect(commitsOf(server)).toEqual([1, 2, 2]);
    expect(lastChunkRows(server)[0]).toMatchObject({
      op: 'UPDATE',
      base_row_version: 2,
      payload: { name: 'Local' },
    });
    expect(scalar(db, "SELECT name FROM users WHERE id = 'u1'")).toBe('Local');
    expect(rows(db, 'SELECT row_version FROM _sync_row_state')).toEqual([{ row_version: 3 }]);
    expect(scalar(db, 'SELECT next_source_bundle_id FROM _sync_source_state')).toBe(3);
    await client.close();
  });

  it('keep_merged uploads exactly the merged row', async () => {
    const { db, client, server } = await conflicting((c) => ({
      action: 'keep_merged',
      row: { ...c.serverRow, name: `${c.localRow?.['name'] as string}+${c.serverRow?.['name'] as string}` },
    }));
    await client.pushPending();
    expect(lastChunkRows(server)[0]).toEqual({
      schema: 'business',
      table: 'users',
      key: { id: 'u1' },
      op: 'UPDATE',
      base_row_version: 2,
      payload: { id: 'u1', name: 'Local+Server', email: 's' },
    });
    expect(scalar(db, "SELECT name FROM users WHERE id = 'u1'")).toBe('Local+Server');
    await client.close();
  });

  it('re-sends sibling rows of a rejected bundle together with the resolved row', async () => {
    const { db, client, server } = await conflicting(clientWins);
    db.run("INSERT INTO users VALUES ('u2', 'Sibling', 's2')");
    await client.pushPending();
    expect(lastChunkRows(server).map((r) => r['key'])).toEqual([{ id: 'u1' }, { id: 'u2' }]);
    expect(server.scope('user-1').rows.get('users\u0000u2')!.payload).toMatchObject({ name: 'Sibling' });
    expect(server.scope('user-1').rows.get('users\u0000u1')!.payload).toMatchObject({ name: 'Local' });
    await client.close();
  });

  describe('[gap] BLOB values survive every resolution', () => {
    const fileId = '00112233-4455-6677-8899-aabbccddeeff';
    const idBytes = Uint8Array.from(Buffer.from(fileId.replaceAll('-', ''), 'hex'));
    const localBlob = Uint8Array.from([0, 1, 2, 253, 254, 255]);
    const serverBlob = Uint8Array.from([9, 8, 7]);
    const mergedBlob = Uint8Array.from([0xde, 0xad, 0xbe, 0xef]);

    async function blobConflict(resolver: ConflictResolver) {
      const server = newServer();
      const device = await newDevice(server, { conflictResolver: resolver });
      await device.client.attach('user-1');
      device.db.run('INSERT INTO files VALUES (?, NULL, ?, 1)', [idBytes, Uint8Array.from([1])]);
      await device.client.pushPending();
      server.serverWrite('user-1', [
        {
          table: 'files',
          key: fileId,
          payload: { id: fileId, owner: fileId, data: base64Encode(serverBlob), size: 2 },
        },
      ]);
      device.db.run('UPDATE files SET data = ?, size = 3', [localBlob]);
      await device.client.pushPending();
      const local = rows(device.db, 'SELECT data, owner, size FROM files')[0];
      const remote = server.scope('user-1').rows.get(`files\u0000${fileId}`)!.payload!;
      await device.client.close();
      return { local, remote };
    }

    it('keep_local writes the original bytes back and uploads them as base64', async () => {
      const { local, remote } = await blobConflict(clientWins);
      expect(local['data']).toEqual(localBlob);
      expect(remote).toEqual({ id: fileId, owner: null, data: base64Encode(localBlob), size: 3 });
    });

    it('keep_merged decodes the wire-form merged row (base64, dashed UUID)', async () => {
      const { local, remote } = await blobConflict((c) => {
        expect(c.localRow).toMatchObject({ data: base64Encode(localBlob), id: fileId });
        return {
          action: 'keep_merged',
          row: { ...c.localRow, owner: fileId, data: base64Encode(mergedBlob) },
        };
      });
      expect(local['data']).toEqual(mergedBlob);
      expect(local['owner']).toEqual(idBytes);
      expect(remote).toMatchObject({ data: base64Encode(mergedBlob), owner: fileId });
    });

    it('accept_server writes the server bytes', async () => {
      const { local } = await blobConflict(serverWins);
      expect(local['data']).toEqual(serverBlob);
      expect(local['owner']).toEqual(idBytes);
    });
  });

  it('invalid resolutions restore every intent to the dirty set', async () => {
    const server = newServer();
    const device = await newDevice(server, { conflictResolver: () => ({ action: 'keep_merged', row: {} }) });
    await device.client.attach('user-1');
    device.db.run("INSERT INTO users VALUES ('u1', 'A', 'a')");
    await device.client.pushPending();
    server.serverWrite('user-1', [
      { table: 'users', key: 'u1', payload: { id: 'u1', name: 'S', email: 's' } },
    ]);
    device.db.run("DELETE FROM users WHERE id = 'u1'");
    await expect(device.client.pushPending()).rejects.toMatchObject({ code: 'invalid_conflict_resolution' });
    expect(rows(device.db, 'SELECT op, base_row_version, payload FROM _sync_dirty_rows')).toEqual([
      { op: 'DELETE', base_row_version: 1, payload: null },
    ]);
    expect(scalar(device.db, 'SELECT COUNT(*) FROM _sync_outbox_rows')).toBe(0);
    expect(scalar(device.db, 'SELECT next_source_bundle_id FROM _sync_source_state')).toBe(2);
    await device.client.close();

    const { client, db } = await conflicting(() => ({
      action: 'keep_merged',
      row: { id: 'u1', name: 'no email' },
    }));
    await expect(client.pushPending()).rejects.toThrow('missing column');
    expect(rows(db, 'SELECT op, base_row_version FROM _sync_dirty_rows')).toEqual([
      { op: 'UPDATE', base_row_version: 1 },
    ]);
    await client.close();
  });

  it('gives up after two automatic retries and leaves the intent dirty', async () => {
    const { server, db, client } = await conflicting(clientWins);
    let n = 0;
    server.intercept((req) => {
      if (req.path.endsWith('/commit')) {
        server.serverWrite('user-1', [
          { table: 'users', key: 'u1', payload: { id: 'u1', name: `S${++n}`, email: 's' } },
        ]);
      }
      return undefined;
    });
    await expect(client.pushPending()).rejects.toMatchObject({
      code: 'conflict_retry_exhausted',
      details: { retryCount: 2, remainingDirtyCount: 1 },
    });
    expect(commitsOf(server)).toEqual([1, 2, 2, 2]);
    expect(rows(db, 'SELECT op FROM _sync_dirty_rows')).toEqual([{ op: 'UPDATE' }]);
    expect(scalar(db, 'SELECT COUNT(*) FROM _sync_outbox_rows')).toBe(0);
    expect(scalar(db, 'SELECT next_source_bundle_id FROM _sync_source_state')).toBe(2);
    await client.close();
  });

  it('an unstructured push_conflict fails closed with the outbox kept', async () => {
    const { server, db, client } = await conflicting(clientWins);
    server.intercept((req) =>
      req.path.endsWith('/commit')
        ? new Response('{"error":"push_conflict","message":"nope"}', { status: 409 })
        : undefined,
    );
    await expect(client.pushPending()).rejects.toThrow('409');
    expect(scalar(db, 'SELECT COUNT(*) FROM _sync_outbox_rows')).toBe(1);
    expect(scalar(db, 'SELECT COUNT(*) FROM _sync_dirty_rows')).toBe(0);
    await client.close();
  });
});
