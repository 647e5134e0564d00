import { newDevice, newServer } from '../testing/test-device.js';
import { resolveRetryPolicy } from './retry-policy.js';

const unavailable = () => new Response('{"error":"service_unavailable","message":"down"}', { status: 503 });

describe('retry policy', () => {
  it('fills defaults and repairs bad values', () => {
    expect(resolveRetryPolicy(undefined)).toEqual({
      enabled: true,
      maxAttempts: 3,
      initialBackoffMs: 100,
      maxBackoffMs: 1000,
      jitterFraction: 0.2,
    });
    expect(resolveRetryPolicy({ maxAttempts: 0, initialBackoffMs: 500, maxBackoffMs: 10 })).toMatchObject({
      maxAttempts: 3,
      initialBackoffMs: 500,
      maxBackoffMs: 500,
    });
    expect(resolveRetryPolicy(false).enabled).toBe(false);
  });

  it('gives up after maxAttempts with retry_exhausted naming the operation', async () => {
    const server = newServer();
    const device = await newDevice(server);
    await device.client.attach('user-1');
    device.db.run("INSERT INTO users VALUES ('u1', 'A', 'a')");
    server.intercept((req) => (req.path === '/sync/push-sessions' ? unavailable() : undefined));
    await expect(device.client.pushPending()).rejects.toMatchObject({
      code: 'retry_exhausted',
      details: { operation: 'push_pending', attempts: 3 },
    });
    expect(server.requests.filter((r) => r.path === '/sync/push-sessions')).toHaveLength(3);
    await device.client.close();
  });

  it('never retries 401 and makes one attempt when disabled', async () => {
    const server = newServer();
    const device = await newDevice(server, { getToken: () => '' });
    await expect(device.client.attach('user-1')).rejects.toMatchObject({
      code: 'http_status',
      details: { status: 401 },
    });
    expect(server.requests).toHaveLength(1);

    const other = newServer();
    other.intercept(unavailable);
    const single = await newDevice(other, { retry: { enabled: false } });
    await expect(single.client.attach('user-1')).rejects.toMatchObject({
      code: 'http_status',
      details: { status: 503 },
    });
    expect(other.requests).toHaveLength(1);
    await device.client.close();
    await single.client.close();
  });

  it('sends the bearer token and the source header on every request', async () => {
    const server = newServer();
    const device = await newDevice(server, { getToken: async () => Promise.resolve('user-1') });
    await device.client.attach('user-1');
    await device.client.sync();
    expect(server.requests.length).toBeGreaterThan(0);
    for (const r of server.requests) {
      expect(r.headers['authorization']).toBe('Bearer user-1');
      expect(r.headers['oversync-source-id']).toBe(device.client.sourceInfo().sourceId);
    }
    await device.client.close();
  });
});
