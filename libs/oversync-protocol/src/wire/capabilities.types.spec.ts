import { DEFAULT_LIMITS, MAX_BUNDLES_PER_PULL } from '../constants.js';
import { FEATURE_FLAGS, V1_FEATURE_DEFAULTS } from './capabilities.types.js';

describe('FEATURE_FLAGS', () => {
  it('lists exactly 20 unique flags in alphabetical order, without the legacy push_sessions', () => {
    expect(FEATURE_FLAGS).toHaveLength(20);
    expect(new Set(FEATURE_FLAGS).size).toBe(20);
    expect([...FEATURE_FLAGS].sort()).toEqual([...FEATURE_FLAGS]);
    expect(FEATURE_FLAGS).not.toContain('push_sessions');
  });

  it('defaults everything to true except server_checkpoint_tracking and bundle_change_watch', () => {
    const off = FEATURE_FLAGS.filter((flag) => !V1_FEATURE_DEFAULTS[flag]);
    expect(off).toEqual(['bundle_change_watch', 'server_checkpoint_tracking']);
    expect(V1_FEATURE_DEFAULTS.connect_lifecycle).toBe(true);
    expect(Object.isFrozen(V1_FEATURE_DEFAULTS)).toBe(true);
  });
});

describe('DEFAULT_LIMITS', () => {
  it('matches the §9 defaults and omits the zero-valued limits', () => {
    expect(DEFAULT_LIMITS).toEqual({
      max_bundles_per_pull: MAX_BUNDLES_PER_PULL,
      default_rows_per_push_chunk: 1000,
      max_rows_per_push_chunk: 5000,
      push_session_ttl_seconds: 900,
      default_rows_per_committed_bundle_chunk: 1000,
      max_rows_per_committed_bundle_chunk: 5000,
      default_rows_per_snapshot_chunk: 1000,
      max_rows_per_snapshot_chunk: 5000,
      snapshot_session_ttl_seconds: 900,
      initialization_lease_ttl_seconds: 900,
    });
    expect(MAX_BUNDLES_PER_PULL).toBe(5000);
  });
});
