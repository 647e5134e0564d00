import { type FakeOversyncServer } from '../testing/fake-oversync-server.js';
import { newDevice, newServer, restart, rows, scalar } from '../testing/test-device.js';

function failOnce(
  server: FakeOversyncServer,
  path: (p: string) => boolean,
  code: string,
  extra: object = {},
): void {
  let done = false;
  server.intercept((req) => {
    if (done || req.method !== 'POST' || !path(req.path)) return undefined;
    done = true;
    return new Response(JSON.stringify({ error: code, message: `simulated ${code}`, ...extra }), {
      status: 409,
    });
  });
}

const onCreate = (p: string) => p === '/sync/push-sessions';
const onCommit = (p: string) => p.endsWith('/commit');

async function attachedWithRow(server: FakeOversyncServer) {
  const device = await newDevice(server);
  await device.client.attach('user-1');
  device.db.run("INSERT INTO users VALUES ('u1', 'Local', 'l')");
  return device;
}

/** Sends the device into source recovery: its next push meets `source_sequence_out_of_order`. */
async function requireRecovery(
  server: FakeOversyncServer,
  device: Awaited<ReturnType<typeof attachedWithRow>>,
): Promise<void> {
  failOnce(server, onCreate, 'source_sequence_out_of_order');
  await expect(device.client.pushPending()).rejects.toMatchObject({ code: 'source_recovery_required' });
}

describe('source recovery', () => {
  const cases: [string, (p: string) => boolean][] = [
    ['history_pruned', onCreate],
    ['source_sequence_out_of_order', onCreate],
    ['source_sequence_changed', onCommit],
    ['source_retired', onCreate],
  ];
  for (const [code, where] of cases) {
    it(`${code} → durable recovery, then a rotated rebuild keeps the frozen intent`, async () => {
      const server = newServer();
      const device = await attachedWithRow(server);
      const oldSource = device.client.sourceInfo().sourceId;
      failOnce(server, where, code, code === 'source_retired' ? { source_id: oldSource } : {});
      await expect(device.client.pushPending()).rejects.toMatchObject({
        code: 'source_recovery_required',
        details: { reason: code },
      });
      expect(scalar(device.db, 'SELECT state FROM _sync_outbox_bundle')).toBe('prepared');
      expect(scalar(device.db, 'SELECT source_bundle_id FROM _sync_outbox_bundle')).toBe(1);
      const reserved = String(scalar(device.db, 'SELECT replacement_source_id FROM _sync_operation_state'));
      expect(reserved).toMatch(/^[0-9a-f-]{36}$/);

      // Survives a restart; push, pull and sync fail without requests.
      const next = await restart(device, server);
      await next.client.attach('user-1');
      const before = server.requests.length;
      for (const op of [
        () => next.client.pushPending(),
        () => next.client.pullToStable(),
        () => next.client.sync(),
      ]) {
        await expect(op()).rejects.toMatchObject({ code: 'source_recovery_required' });
      }
      expect(server.requests.length).toBe(before);

      expect(await next.client.rebuild()).toMatchObject({ outcome: 'applied_snapshot' });
      const snapshotCreate = server.requests.filter((r) => r.path === '/sync/snapshot-sessions').at(-1)!;
      expect(snapshotCreate.body).toEqual({
        source_replacement: { previous_source_id: oldSource, new_source_id: reserved, reason: code },
      });
      expect(next.client.sourceInfo()).toEqual({
        sourceId: reserved,
        rebuildRequired: false,
        sourceRecoveryRequired: false,
      });
      expect(rows(next.db, 'SELECT source_id, source_bundle_id, state FROM _sync_outbox_bundle')).toEqual([
        { source_id: reserved, source_bundle_id: 1, state: 'prepared' },
      ]);
      expect(scalar(next.db, "SELECT name FROM users WHERE id = 'u1'")).toBe('Local');

      expect(await next.client.pushPending()).toEqual({ outcome: 'committed' });
      expect(
        server.requests.filter((r) => r.path === '/sync/push-sessions').at(-1)!.headers['oversync-source-id'],
      ).toBe(reserved);
      expect(
        rows(
          next.db,
          'SELECT source_id, next_source_bundle_id, replaced_by_source_id FROM _sync_source_state ORDER BY created_at, source_id',
        ),
      ).toEqual(
        expect.arrayContaining([
          { source_id: oldSource, next_source_bundle_id: 1, replaced_by_source_id: reserved },
          { source_id: reserved, next_source_bundle_id: 2, replaced_by_source_id: '' },
        ]),
      );
      expect(server.scope('user-1').rows.get('users\u0000u1')!.payload).toMatchObject({ name: 'Local' });
      await next.client.close();
    });
  }

  it("source_retired reserves a replacement of the device's own, never the server's", async () => {
    const server = newServer();
    const device = await attachedWithRow(server);
    const old = device.client.sourceInfo().sourceId;
    const serverReplacement = '0f0e0d0c-0b0a-4908-8706-050403020100';
    failOnce(server, onCreate, 'source_retired', {
      source_id: old,
      replaced_by_source_id: serverReplacement,
    });
    await expect(device.client.pushPending()).rejects.toMatchObject({ code: 'source_recovery_required' });
    const reserved = String(scalar(device.db, 'SELECT replacement_source_id FROM _sync_operation_state'));
    expect([serverReplacement, old, '']).not.toContain(reserved);
    await device.client.rebuild();
    expect(device.client.sourceInfo().sourceId).toBe(reserved);

    // An existing reservation is kept (it used to fail with source_replacement_diverged).
    const otherServer = newServer();
    const other = await attachedWithRow(otherServer);
    const mine = '11111111-1111-4111-8111-111111111111';
    other.db.run(`UPDATE _sync_operation_state SET replacement_source_id = '${mine}'`);
    await other.client.flush();
    const reopened = await restart(other, otherServer);
    await reopened.client.attach('user-1');
    failOnce(otherServer, onCreate, 'source_retired', {
      source_id: 'x',
      replaced_by_source_id: serverReplacement,
    });
    await expect(reopened.client.pushPending()).rejects.toMatchObject({ code: 'source_recovery_required' });
    expect(scalar(reopened.db, 'SELECT replacement_source_id FROM _sync_operation_state')).toBe(mine);
    await device.client.close();
    await reopened.client.close();
  });

  it('a failed rotated rebuild keeps the source and reuses the same replacement id', async () => {
    const server = newServer();
    const device = await attachedWithRow(server);
    const old = device.client.sourceInfo().sourceId;
    await requireRecovery(server, device);
    const remove = server.intercept((req) =>
      req.method === 'GET' && req.path.startsWith('/sync/snapshot-sessions/')
        ? new Response('{"error":"snapshot_session_not_found","message":"x"}', { status: 404 })
        : undefined,
    );
    await expect(device.client.rebuild()).rejects.toMatchObject({ code: 'http_status' });
    expect(device.client.sourceInfo()).toMatchObject({ sourceId: old, sourceRecoveryRequired: true });
    remove();
    const ids = () =>
      server.requests
        .filter((r) => r.path === '/sync/snapshot-sessions')
        .map(
          (r) =>
            (r.body as { source_replacement: { new_source_id: string } }).source_replacement.new_source_id,
        );
    await device.client.rebuild();
    expect(new Set(ids()).size).toBe(1);
    expect(device.client.sourceInfo().sourceId).toBe(ids()[0]);
    await device.client.close();
  });

  it('gives up after three replacements the server already knows, keeping the source and the last reservation', async () => {
    const server = newServer();
    const device = await attachedWithRow(server);
    const old = device.client.sourceInfo().sourceId;
    await requireRecovery(server, device);
    const remove = server.intercept((req) =>
      req.method === 'POST' && req.path === '/sync/snapshot-sessions'
        ? new Response('{"error":"source_replacement_invalid","message":"already known"}', { status: 409 })
        : undefined,
    );
    await expect(device.client.rebuild()).rejects.toMatchObject({
      code: 'http_status',
      details: { error: 'source_replacement_invalid' },
    });
    const tried = server.requests
      .filter((r) => r.path === '/sync/snapshot-sessions')
      .map(
        (r) => (r.body as { source_replacement: { new_source_id: string } }).source_replacement.new_source_id,
      );
    // A fresh id per attempt, the last one still reserved; the device stays on its old source.
    expect(tried).toHaveLength(3);
    expect(new Set(tried).size).toBe(3);
    expect(scalar(device.db, 'SELECT replacement_source_id FROM _sync_operation_state')).toBe(tried[2]);
    expect(device.client.sourceInfo()).toMatchObject({ sourceId: old, sourceRecoveryRequired: true });
    remove();
    expect((await device.client.rebuild()).outcome).toBe('applied_snapshot');
    expect(device.client.sourceInfo().sourceId).toBe(tried[2]);
    await device.client.close();
  });

  it('[gap] rows written during the failed push and during recovery neither deadlock nor get lost', async () => {
    const server = newServer();
    const device = await attachedWithRow(server);
    let written = false;
    server.intercept((req) => {
      if (!written && req.path.endsWith('/chunks')) {
        written = true;
        device.db.run("INSERT INTO users VALUES ('u2', 'During push', 'd')");
      }
      return undefined;
    });
    failOnce(server, onCommit, 'source_sequence_changed');
    await expect(device.client.pushPending()).rejects.toMatchObject({ code: 'source_recovery_required' });
    // App writes are not blocked while recovery is pending.
    device.db.run("INSERT INTO users VALUES ('u3', 'During recovery', 'r')");
    device.db.run("UPDATE users SET name = 'Edited later' WHERE id = 'u1'");
    expect(scalar(device.db, 'SELECT COUNT(*) FROM _sync_dirty_rows')).toBe(3);

    expect(await device.client.rebuild()).toMatchObject({ outcome: 'applied_snapshot' });
    expect(rows(device.db, 'SELECT id, name FROM users ORDER BY id')).toEqual([
      { id: 'u1', name: 'Edited later' },
      { id: 'u2', name: 'During push' },
      { id: 'u3', name: 'During recovery' },
    ]);
    await device.client.sync();
    const serverRows = server.scope('user-1').rows;
    expect(serverRows.get('users\u0000u1')!.payload).toMatchObject({ name: 'Edited later' });
    expect(serverRows.get('users\u0000u2')!.payload).toMatchObject({ name: 'During push' });
    expect(serverRows.get('users\u0000u3')!.payload).toMatchObject({ name: 'During recovery' });
    expect(device.client.pendingSyncStatus()).toEqual({
      hasPendingSyncData: false,
      pendingRowCount: 0,
      blocksDetach: false,
    });
    await device.client.close();
  });

  it('history_pruned on the committed-row fetch completes the push through a keep-source snapshot', async () => {
    const server = newServer();
    const device = await attachedWithRow(server);
    let written = false;
    server.intercept((req) => {
      if (!req.path.startsWith('/sync/committed-bundles')) return undefined;
      if (!written) {
        written = true;
        device.db.run("UPDATE users SET name = 'Edited during push' WHERE id = 'u1'");
      }
      return new Response('{"error":"history_pruned","message":"pruned"}', { status: 409 });
    });
    const source = device.client.sourceInfo().sourceId;
    expect(await device.client.pushPending()).toEqual({ outcome: 'committed' });
    expect(device.client.sourceInfo().sourceId).toBe(source);
    expect(scalar(device.db, 'SELECT next_source_bundle_id FROM _sync_source_state')).toBe(2);
    expect(scalar(device.db, 'SELECT state FROM _sync_outbox_bundle')).toBe('none');
    expect(device.client.lastBundleSeqSeen()).toBe(1);
    // [gap] the edit made during the push survives, rebased onto the snapshot version.
    expect(scalar(device.db, "SELECT name FROM users WHERE id = 'u1'")).toBe('Edited during push');
    expect(rows(device.db, 'SELECT op, base_row_version FROM _sync_dirty_rows')).toEqual([
      { op: 'UPDATE', base_row_version: 1 },
    ]);
    await device.client.close();
  });

  it('[gap] the rotated rebuild writes BLOB values of the outbox and dirty set back byte-exact', async () => {
    const server = newServer();
    const device = await newDevice(server);
    await device.client.attach('user-1');
    const frozenId = Uint8Array.from({ length: 16 }, (_, i) => i + 1);
    const dirtyId = Uint8Array.from({ length: 16 }, (_, i) => 200 - i);
    const frozenBlob = Uint8Array.from([0, 0xff, 0x10, 0x80]);
    const dirtyBlob = Uint8Array.from([0x41, 0x42, 0x00]);
    device.db.run('INSERT INTO files VALUES (?, ?, ?, 1)', [frozenId, frozenId, frozenBlob]);
    await requireRecovery(server, device);
    device.db.run('INSERT INTO files VALUES (?, ?, ?, 2)', [dirtyId, frozenId, dirtyBlob]);
    await device.client.rebuild();
    const local = rows(device.db, 'SELECT id, owner, data FROM files ORDER BY size');
    expect(local).toEqual([
      { id: frozenId, owner: frozenId, data: frozenBlob },
      { id: dirtyId, owner: frozenId, data: dirtyBlob },
    ]);
    await device.client.sync();
    const b = await newDevice(server);
    await b.client.attach('user-1');
    expect(rows(b.db, 'SELECT id, owner, data FROM files ORDER BY size')).toEqual(local);
    await device.client.close();
    await b.client.close();
  });
});
