import { OversyncConfigError } from './errors/index.js';
import { resolveOversyncOptions } from './oversync-options.resolver.js';
import type { OversyncModuleOptions } from './oversync.options.js';

const base: OversyncModuleOptions = {
  database: { connectionString: 'postgres://u@h/db' },
  registeredTables: [{ schema: 'business', table: 'posts', syncKeyColumns: ['id'] }],
};
const resolve = (extra: Partial<OversyncModuleOptions>) => resolveOversyncOptions({ ...base, ...extra });
const failure = (extra: Partial<OversyncModuleOptions>): OversyncConfigError => {
  try {
    resolve(extra);
  } catch (error) {
    expect(error).toBeInstanceOf(OversyncConfigError);
    return error as OversyncConfigError;
  }
  throw new Error('expected OversyncConfigError');
};

describe('resolveOversyncOptions', () => {
  it('reads a zero limit as the default, except where zero means unlimited', () => {
    const { limits } = resolve({
      limits: { pushSessionTtlSeconds: 0, maxRowsPerSnapshotSession: 0, maxRowsPerPushChunk: 2000 },
    });
    expect(limits.pushSessionTtlSeconds).toBe(900);
    expect(limits.maxRowsPerSnapshotSession).toBe(0);
    expect(limits.maxRowsPerPushChunk).toBe(2000);
  });

  it('names a maximum push chunk below 1000 rows as itself', () => {
    expect(failure({ limits: { maxRowsPerPushChunk: 500 } }).message).toMatch(
      /limits\.maxRowsPerPushChunk.*is 500, below the 1000-row chunks/,
    );
    expect(failure({ limits: { maxRowsPerPushChunk: 1000, defaultRowsPerPushChunk: 1001 } }).message).toMatch(
      /limits\.defaultRowsPerPushChunk.*exceeds limits\.maxRowsPerPushChunk/,
    );
  });

  it('refuses unknown, negative and fractional limits', () => {
    expect(failure({ limits: { nope: 1 } as never }).message).toMatch(/limits\.nope.*not a known limit/);
    expect(failure({ limits: { pushSessionTtlSeconds: -1 } }).message).toMatch(/non-negative integer/);
    expect(failure({ limits: { pushSessionTtlSeconds: 1.5 } }).message).toMatch(/non-negative integer/);
  });

  it('keeps heartbeats within what a Node timer can hold', () => {
    expect(resolve({ watch: { heartbeatIntervalSeconds: 2_147_483 } }).watch.heartbeatIntervalSeconds).toBe(
      2_147_483,
    );
    expect(failure({ watch: { heartbeatIntervalSeconds: 2_147_484 } }).message).toMatch(
      /watch\.heartbeatIntervalSeconds.*at most 2147483/,
    );
    expect(failure({ watch: { heartbeatIntervalSeconds: 0 } }).message).toMatch(/must be > 0/);
  });

  it('needs exactly one connection source and at least one table', () => {
    expect(failure({ database: {} as never }).message).toMatch(
      /exactly one of connectionString, pool, kysely/,
    );
    expect(failure({ registeredTables: [] }).message).toMatch(/registeredTables.*at least one table/);
    expect(
      failure({
        registeredTables: [
          { schema: '', table: 'posts', syncKeyColumns: ['id'] },
          { schema: 'public', table: 'POSTS', syncKeyColumns: ['id'] },
        ],
      }).message,
    ).toMatch(/registers public\.posts twice/);
  });

  it('freezes the result', () => {
    const resolved = resolve({});
    expect(Object.isFrozen(resolved)).toBe(true);
    expect(Object.isFrozen(resolved.limits)).toBe(true);
  });
});
