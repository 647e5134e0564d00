import { ERROR_CODE_INFO } from './error-code-info.js';
import {
  ErrorCode,
  isErrorCode,
  isSourceRecoveryReason,
  SOURCE_RECOVERY_REASONS,
  type ErrorCodeValue,
} from './error-codes.js';

describe('ErrorCode', () => {
  const codes = Object.values(ErrorCode);

  it('has unique snake_case wire values', () => {
    expect(new Set(codes).size).toBe(codes.length);
    for (const code of codes) expect(code).toMatch(/^[a-z]+(_[a-z]+)*$/);
  });

  it('covers the whole §4 catalogue plus request_too_large and method_not_allowed', () => {
    expect(codes).toHaveLength(45);
  });

  it('documents every code in ERROR_CODE_INFO and nothing else', () => {
    expect(Object.keys(ERROR_CODE_INFO).sort()).toEqual([...codes].sort());
    for (const code of codes) expect(ERROR_CODE_INFO[code].clientAction.length).toBeGreaterThan(10);
  });

  it.each<[ErrorCodeValue, number]>([
    ['invalid_request', 400],
    ['authentication_failed', 401],
    ['bundle_change_watch_forbidden', 403],
    ['push_session_not_found', 404],
    ['history_pruned', 409],
    ['push_conflict', 409],
    ['source_retired', 409],
    ['initialization_stale', 409],
    ['initialization_expired', 410],
    ['push_session_expired', 410],
    ['request_too_large', 413],
    ['service_unavailable', 503],
    ['bundle_change_watch_disabled', 503],
    ['snapshot_session_create_failed', 500],
  ])('%s → HTTP %i', (code, status) => {
    expect(ERROR_CODE_INFO[code].status).toBe(status);
  });

  it('maps every *_failed code to 500 and every *_invalid code to 400 (except source_replacement_invalid)', () => {
    for (const code of codes) {
      if (code.endsWith('_failed') && code !== 'authentication_failed')
        expect(ERROR_CODE_INFO[code].status).toBe(500);
      if (code.endsWith('_invalid') && code !== 'source_replacement_invalid') {
        expect(ERROR_CODE_INFO[code].status).toBe(400);
      }
    }
  });

  it('tells clients to rebuild from a snapshot on history_pruned', () => {
    expect(ERROR_CODE_INFO.history_pruned.clientAction).toMatch(/snapshot/);
  });

  it('isErrorCode narrows only known codes', () => {
    expect(isErrorCode('push_conflict')).toBe(true);
    expect(isErrorCode('pull_invalid')).toBe(false);
    expect(isErrorCode(undefined)).toBe(false);
  });
});

describe('SOURCE_RECOVERY_REASONS', () => {
  it('lists exactly the four rotation reasons, all of them error codes', () => {
    expect(SOURCE_RECOVERY_REASONS).toEqual([
      'history_pruned',
      'source_sequence_out_of_order',
      'source_sequence_changed',
      'source_retired',
    ]);
    for (const reason of SOURCE_RECOVERY_REASONS) expect(isErrorCode(reason)).toBe(true);
  });

  it('isSourceRecoveryReason rejects other codes', () => {
    expect(isSourceRecoveryReason('source_retired')).toBe(true);
    expect(isSourceRecoveryReason('push_conflict')).toBe(false);
    expect(isSourceRecoveryReason(1)).toBe(false);
  });
});
