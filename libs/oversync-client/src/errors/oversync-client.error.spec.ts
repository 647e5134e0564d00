import { ClientErrorCode } from './client-error-codes.js';
import { SyncInProgressError } from './lifecycle.errors.js';
import { isOversyncClientError, OversyncClientError } from './oversync-client.error.js';

describe('OversyncClientError', () => {
  it('carries a stable code, name, JSON-safe details and cause', () => {
    const cause = new Error('inner');
    const error = new OversyncClientError(ClientErrorCode.Network, 'boom', { path: '/x' }, { cause });
    expect(error).toBeInstanceOf(Error);
    expect(error.cause).toBe(cause);
    expect(JSON.parse(JSON.stringify(error))).toEqual({
      name: 'OversyncClientError',
      code: 'network_error',
      message: 'boom',
      details: { path: '/x' },
    });
    const busy = new SyncInProgressError('pull', 'push');
    expect(busy.name).toBe('SyncInProgressError');
    expect(isOversyncClientError(busy, 'sync_in_progress')).toBe(true);
    expect(isOversyncClientError(busy, 'client_closed')).toBe(false);
  });

  it('is recognised across library copies by its global brand, not instanceof', () => {
    const foreign = Object.assign(new Error('x'), { code: 'attach_required' });
    Object.defineProperty(foreign, Symbol.for('@oversync/client.error'), { value: true });
    expect(isOversyncClientError(foreign, 'attach_required')).toBe(true);
    expect(isOversyncClientError(new Error('plain'))).toBe(false);
    expect(isOversyncClientError(null)).toBe(false);
  });
});
