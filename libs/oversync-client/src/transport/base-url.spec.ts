import { isOversyncClientError } from '../errors/oversync-client.error.js';
import { newDevice, newServer } from '../testing/test-device.js';
import { type FetchLike } from './http-transport.js';

describe('baseUrl', () => {
  it('keeps a path prefix and drops trailing slashes', async () => {
    const server = newServer();
    const urls: string[] = [];
    // The app's server mounts the sync routes under /api; the fake serves them at the root.
    const prefixed: FetchLike = (input, init) => {
      urls.push(input);
      return server.fetch(input.replace('/api/', '/'), init);
    };
    const d = await newDevice(server, { baseUrl: 'http://oversync.test/api//', fetch: prefixed });
    await expect(d.client.attach('user-1')).resolves.toMatchObject({ status: 'connected' });
    expect(urls).toEqual([
      'http://oversync.test/api/sync/capabilities',
      'http://oversync.test/api/sync/connect',
    ]);
    await d.client.close();
  });

  it('refuses a baseUrl that is no URL at open() with invalid_config, instead of retrying it as a network error', async () => {
    const server = newServer();
    const d = await newDevice(server, { baseUrl: 'oversync.test', noOpen: true });
    const error = await d.client.open().catch((e: unknown) => e);
    expect(isOversyncClientError(error, 'invalid_config')).toBe(true);
    expect(server.requests).toHaveLength(0);
    await d.client.close();
  });
});
