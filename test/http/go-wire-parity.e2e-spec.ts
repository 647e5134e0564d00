/**
 * Wire details checked against go-oversync's own HTTP layer (commit 1f1118f): the handlers of
 * `oversync/http_handlers.go`, the standard `ActorMiddleware` and Go's `encoding/json` decoder, as
 * a go-oversync client (or anything between it and the server) sees them byte for byte.
 */
import { request } from 'node:http';
import { createOversyncTestApp, type OversyncTestApp } from '../support/oversync-app.js';
import {
  initializeEmpty,
  insertUser,
  newId,
  newUser,
  pushOk,
  type SyncClient,
} from '../support/push-builders.js';
import { q } from '../support/read-builders.js';
import { syncClient } from '../support/sync-http.js';

interface RawReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** One raw HTTP/1.1 exchange, for what `fetch` cannot send (HEAD, a repeated header). */
function rawRequest(
  baseUrl: string,
  method: string,
  path: string,
  headers: Record<string, string | string[]>,
  body?: string,
): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const req = request(`${baseUrl}${path}`, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          text: Buffer.concat(chunks).toString('utf8'),
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

describe('go-oversync wire parity', () => {
  let t: OversyncTestApp;
  const client = (user: string, source: string): SyncClient => syncClient(t.baseUrl, user, source);

  beforeAll(async () => {
    t = await createOversyncTestApp({ listen: true });
  });
  afterAll(async () => {
    await t.close();
  });

  describe('500 answers carry the handler’s fixed message (http_handlers.go writeError calls)', () => {
    const ID = '00000000-0000-4000-8000-0000000000aa';
    const routes: Array<{
      method: 'GET' | 'POST' | 'DELETE';
      path: string;
      body?: unknown;
      error: string;
      message: string;
    }> = [
      {
        method: 'POST',
        path: '/sync/connect',
        body: { has_local_pending_rows: false },
        error: 'connect_failed',
        message: 'Failed to resolve connect lifecycle',
      },
      {
        method: 'POST',
        path: '/sync/push-sessions',
        body: { source_bundle_id: 1, planned_row_count: 1 },
        error: 'push_session_create_failed',
        message: 'Failed to create push session',
      },
      { method: 'GET', path: '/sync/pull', error: 'pull_failed', message: 'Failed to process pull' },
      {
        method: 'GET',
        path: '/sync/committed-bundles/1/rows',
        error: 'committed_bundle_rows_failed',
        message: 'Failed to fetch committed bundle rows',
      },
      {
        method: 'POST',
        path: '/sync/snapshot-sessions',
        error: 'snapshot_session_create_failed',
        message: 'Failed to create snapshot session',
      },
      {
        method: 'GET',
        path: '/sync/watch',
        error: 'bundle_change_watch_failed',
        message: 'Failed to subscribe bundle change watch',
      },
      {
        method: 'DELETE',
        path: `/sync/push-sessions/${ID}`,
        error: 'push_session_delete_failed',
        message: 'Failed to delete push session',
      },
    ];

    it('answers each route’s go-oversync message when the database fails underneath', async () => {
      const user = newUser('broken');
      await initializeEmpty(client(user, 'device'));
      await pushOk(client(user, 'device'), 1, [insertUser(t.schema, newId(), 'Ada')]);
      await q(t, `ALTER TABLE sync.user_state RENAME TO user_state_parity`);
      const seen: Array<{ path: string; status: number; body: unknown }> = [];
      try {
        for (const route of routes) {
          const reply = await client(
            user,
            'device',
          )({
            method: route.method,
            path: route.path,
            body: route.body,
          });
          seen.push({ path: route.path, status: reply.status, body: reply.json });
        }
      } finally {
        await q(t, `ALTER TABLE sync.user_state_parity RENAME TO user_state`);
      }
      expect(seen).toEqual(
        routes.map((r) => ({ path: r.path, status: 500, body: { error: r.error, message: r.message } })),
      );
    });
  });

  describe('HEAD on a GET route reaches the handler, which allows only GET (405)', () => {
    // Go 1.22's ServeMux lets a "GET /path" pattern match HEAD; every handler then compares
    // r.Method with "GET" exactly (requireActorForMethod, HandleHealth, HandleStatus).
    it.each([
      ['/sync/capabilities', true],
      ['/sync/pull', true],
      ['/syncx/health', false],
      ['/syncx/status', false],
    ])('HEAD %s → 405', async (path, authenticated) => {
      const headers: Record<string, string> = authenticated
        ? { authorization: 'Bearer head-user', 'oversync-source-id': 'device' }
        : {};
      const reply = await rawRequest(t.baseUrl, 'HEAD', path, headers);
      expect(reply.status).toBe(405);
      expect(reply.headers['content-type']).toBe('application/json');
    });
  });

  // Two documented differences (docs/compatibility.md): Go's json.Decoder reads the first value and
  // ignores the rest, and refuses `1.0` for an int64; we parse the whole body (trailing data is
  // 400) and take a number by its value. A Go client sends neither form.
  describe('request body decoding (documented differences)', () => {
    it('refuses data after the first JSON value with 400 invalid_request', async () => {
      const c = client(newUser('trailing'), 'device');
      const connected = await c({
        method: 'POST',
        path: '/sync/connect',
        body: '{"has_local_pending_rows":false}\n{"has_local_pending_rows":true}',
      });
      expect(connected.status).toBe(400);
      expect(connected.json.error).toBe('invalid_request');
    });

    it.each(['1.0', '1e0', '10E-1'])('takes the integer-valued literal %s as 1', async (literal) => {
      const c = client(newUser('literal'), 'device');
      await initializeEmpty(c);
      const reply = await c({
        method: 'POST',
        path: '/sync/push-sessions',
        body: `{"source_bundle_id":${literal},"planned_row_count":1}`,
      });
      expect(reply.status).toBe(200);
      expect(reply.json.status).toBe('staging');
    });
  });

  describe('Oversync-Source-ID is read with r.Header.Get (ActorMiddleware)', () => {
    it('uses the first of repeated headers as the source', async () => {
      const user = newUser('twice');
      await initializeEmpty(client(user, 'device-a'));
      const reply = await rawRequest(
        t.baseUrl,
        'POST',
        '/sync/push-sessions',
        { authorization: `Bearer ${user}`, 'oversync-source-id': ['device-a', 'device-b'] },
        JSON.stringify({ source_bundle_id: 1, planned_row_count: 1 }),
      );
      expect(reply.status).toBe(200);
      const pushId = (JSON.parse(reply.text) as { push_id: string }).push_id;
      const { rows } = await q(t, `SELECT source_id FROM sync.push_sessions WHERE push_id = $1`, [pushId]);
      expect(rows[0].source_id).toBe('device-a');
    });
  });
});
