import { isOversyncClientError } from '../errors/oversync-client.error.js';
import { type PushRejectedError } from '../errors/sync.errors.js';
import { errorResponse } from '../testing/fake-server.http.js';
import { type FakeOversyncServer } from '../testing/fake-oversync-server.js';
import { loadSqlJs, newDevice, newServer, rows, scalar, type Device } from '../testing/test-device.js';

/** The real server's message for a bad UUID key (`push-chunk-validation.util.ts`). */
const BAD_KEY_MESSAGE = 'row key business.users.id must use canonical dashed lowercase UUID text, got "bad"';

/** Answers the next chunk upload whose rows include `id` with a `400 push_chunk_invalid`. */
function rejectChunksHolding(server: FakeOversyncServer, id: string, message = BAD_KEY_MESSAGE): () => void {
  return server.intercept((req) => {
    if (req.method !== 'POST' || !req.path.endsWith('/chunks')) return undefined;
    const body = req.body as { rows: { key: Record<string, string> }[] };
    if (!body.rows.some((r) => Object.values(r.key).includes(id))) return undefined;
    return errorResponse(400, 'push_chunk_invalid', message);
  });
}

const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );

const state = ({ db }: Pick<Device, 'db'>) => ({
  dirty: scalar(db, 'SELECT COUNT(*) FROM _sync_dirty_rows'),
  outbox: scalar(db, 'SELECT COUNT(*) FROM _sync_outbox_rows'),
  outboxState: scalar(db, 'SELECT state FROM _sync_outbox_bundle'),
  nextSourceBundleId: scalar(db, 'SELECT next_source_bundle_id FROM _sync_source_state'),
});

/** The sync state a restart would load. */
async function persistedState(d: Device) {
  const SQL = await loadSqlJs();
  const image = await d.persister.load();
  const db = new SQL.Database(image ?? undefined);
  try {
    return state({ db });
  } finally {
    db.close();
  }
}

describe('pushPending when the server refuses a row for good', () => {
  it('puts the bundle back into the dirty set, names the row, and pushes once the app deletes it', async () => {
    const server = newServer();
    rejectChunksHolding(server, 'bad');
    const d = await newDevice(server);
    await d.client.attach('user-1');
    d.db.run("INSERT INTO users VALUES ('bad', 'Bad', NULL)");
    d.db.run("INSERT INTO users VALUES ('ok', 'Ok', NULL)");

    const error = await failure(d.client.sync());
    expect(isOversyncClientError(error, 'push_rejected')).toBe(true);
    expect((error as PushRejectedError).details).toMatchObject({
      status: 400,
      serverCode: 'push_chunk_invalid',
      table: 'users',
      key: { id: 'bad' },
      sourceBundleId: 1,
      rowCount: 2,
    });
    expect((error as Error).message).toContain('push_chunk_invalid (users {"id":"bad"})');
    expect(state(d)).toEqual({ dirty: 2, outbox: 0, outboxState: 'none', nextSourceBundleId: 1 });
    // Durable before the error surfaced: a restart sees the same dirty set.
    expect(await persistedState(d)).toEqual(state(d));

    d.db.run("DELETE FROM users WHERE id = 'bad'");
    expect(await d.client.sync()).toMatchObject({ pushOutcome: 'committed' });
    const creates = server.requests.filter((r) => r.method === 'POST' && r.path === '/sync/push-sessions');
    expect(creates.map((r) => (r.body as { source_bundle_id: number }).source_bundle_id)).toEqual([1, 1]);
    expect([...server.scope('user-1').rows.keys()]).toEqual(['users\u0000ok']);
    expect(state(d)).toEqual({ dirty: 0, outbox: 0, outboxState: 'none', nextSourceBundleId: 2 });
    expect(await d.client.detach()).toMatchObject({ outcome: 'detached' });
    await d.client.close();
  });

  it('keeps an edit made during the refused upload over the frozen copy', async () => {
    const server = newServer();
    const d = await newDevice(server);
    await d.client.attach('user-1');
    d.db.run("INSERT INTO users VALUES ('u1', 'Frozen', NULL)");
    server.intercept((req) => {
      if (!req.path.endsWith('/chunks')) return undefined;
      d.db.run("UPDATE users SET name = 'Fixed' WHERE id = 'u1'");
      return errorResponse(400, 'push_chunk_invalid', 'payload column business.users.nme does not exist');
    });

    const error = await failure(d.client.pushPending());
    expect((error as PushRejectedError).details).toMatchObject({ table: 'users' });
    expect((error as PushRejectedError).details.key).toBeUndefined();
    expect(rows(d.db, 'SELECT op, base_row_version, payload FROM _sync_dirty_rows')).toEqual([
      { op: 'INSERT', base_row_version: 0, payload: '{"id":"u1","name":"Fixed","email":null}' },
    ]);
    await d.client.close();
  });

  it("treats a commit's 400 push_commit_invalid as a refusal too (nothing landed), naming the row", async () => {
    const server = newServer();
    server.intercept((req) =>
      req.method === 'POST' && req.path.endsWith('/commit')
        ? errorResponse(
            400,
            'push_commit_invalid',
            'pushed row 1 (business.users "u2") cannot be stored on the server: null value in column "name"',
          )
        : undefined,
    );
    const d = await newDevice(server);
    await d.client.attach('user-1');
    d.db.run("INSERT INTO users VALUES ('u1', 'A', NULL)");
    d.db.run("INSERT INTO users VALUES ('u2', 'B', NULL)");

    const error = await failure(d.client.pushPending());
    expect(isOversyncClientError(error, 'push_rejected')).toBe(true);
    expect((error as PushRejectedError).details).toMatchObject({
      serverCode: 'push_commit_invalid',
      table: 'users',
      key: { id: 'u2' },
    });
    expect(state(d)).toEqual({ dirty: 2, outbox: 0, outboxState: 'none', nextSourceBundleId: 1 });
    await d.client.close();
  });

  it('names nothing when the message identifies no single row', async () => {
    const server = newServer();
    rejectChunksHolding(server, 'u1', 'rows length 2 exceeds max_rows_per_push_chunk 1');
    const d = await newDevice(server);
    await d.client.attach('user-1');
    d.db.run("INSERT INTO users VALUES ('u1', 'A', NULL)");
    d.db.run("INSERT INTO posts VALUES ('p1', 'u1', 'T', 1)");
    const error = await failure(d.client.pushPending());
    expect(isOversyncClientError(error, 'push_rejected')).toBe(true);
    expect((error as PushRejectedError).details.table).toBeUndefined();
    expect(state(d)).toMatchObject({ dirty: 2, outbox: 0 });
    await d.client.close();
  });

  it.each([
    ['create', 400, 'push_session_invalid', (p: string) => p === '/sync/push-sessions'],
    ['commit', 500, 'push_session_commit_failed', (p: string) => p.endsWith('/commit')],
    ['chunk', 500, 'push_chunk_failed', (p: string) => p.endsWith('/chunks')],
    ['chunk', 413, 'request_too_large', (p: string) => p.endsWith('/chunks')],
  ])('keeps the outbox frozen for %s %d %s', async (_stage, status, code, matches) => {
    const server = newServer();
    server.intercept((req) =>
      req.method === 'POST' && matches(req.path) ? errorResponse(status, code, 'refused') : undefined,
    );
    const d = await newDevice(server);
    await d.client.attach('user-1');
    d.db.run("INSERT INTO users VALUES ('u1', 'A', NULL)");
    const error = await failure(d.client.pushPending());
    expect(isOversyncClientError(error, 'http_status')).toBe(true);
    expect(state(d)).toEqual({ dirty: 0, outbox: 1, outboxState: 'prepared', nextSourceBundleId: 1 });
    await d.client.close();
  });
});
