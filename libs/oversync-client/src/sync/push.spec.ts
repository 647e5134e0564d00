import { isOversyncClientError } from '../errors/oversync-client.error.js';
import { newDevice, newServer, rows, scalar } from '../testing/test-device.js';

describe('pushPending', () => {
  it('pushes captured rows, verifies the committed bundle and replays it', async () => {
    const server = newServer();
    const { db, client } = await newDevice(server);
    await client.attach('user-1');
    db.run("INSERT INTO users VALUES ('u1', 'Ada', 'ada@example.com')");
    db.run("UPDATE users SET name = 'Ada L' WHERE id = 'u1'");

    expect(await client.pushPending()).toEqual({ outcome: 'committed' });

    const chunks = server.requests.filter((r) => r.path.endsWith('/chunks'));
    expect(chunks).toHaveLength(1);
    expect(chunks[0].body).toEqual({
      start_row_ordinal: 0,
      rows: [
        {
          schema: 'business',
          table: 'users',
          key: { id: 'u1' },
          op: 'INSERT',
          base_row_version: 0,
          payload: { id: 'u1', name: 'Ada L', email: 'ada@example.com' },
        },
      ],
    });
    expect(scalar(db, 'SELECT COUNT(*) FROM _sync_dirty_rows')).toBe(0);
    expect(scalar(db, 'SELECT COUNT(*) FROM _sync_outbox_rows')).toBe(0);
    expect(rows(db, 'SELECT row_version, deleted FROM _sync_row_state')).toEqual([{ row_version: 1, deleted: 0 }]);
    expect(scalar(db, 'SELECT next_source_bundle_id FROM _sync_source_state')).toBe(2);
    expect(client.lastBundleSeqSeen()).toBe(1);
    expect(server.count('DELETE /sync/push-sessions')).toBe(0);
    await client.close();
  });

  it('refuses to replay when the bundle hash does not verify', async () => {
    const server = newServer();
    const { db, client } = await newDevice(server);
    await client.attach('user-1');
    db.run("INSERT INTO users VALUES ('u1', 'Ada', 'a@x')");
    server.rewrite('GET /sync/committed-bundles/', (body) => {
      (body['rows'] as { payload: Record<string, unknown> }[])[0].payload['name'] = 'Tampered';
    });
    const error = await client.pushPending().catch((e: unknown) => e);
    expect(isOversyncClientError(error, 'protocol_violation')).toBe(true);
    expect(String((error as Error).message)).toContain('bundle_hash mismatch');
    expect(scalar(db, 'SELECT COUNT(*) FROM _sync_outbox_rows')).toBe(1);
    expect(scalar(db, 'SELECT COUNT(*) FROM _sync_dirty_rows')).toBe(0);
    expect(scalar(db, 'SELECT next_source_bundle_id FROM _sync_source_state')).toBe(1);
    expect(scalar(db, 'SELECT last_bundle_seq_seen FROM _sync_attachment_state')).toBe(0);
    await client.close();
  });
});
