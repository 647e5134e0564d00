import { isErrorBody, isPushConflictErrorBody, isSourceRetiredErrorBody } from './error-body.util.js';

describe('error body guards', () => {
  it('isErrorBody requires a string error', () => {
    expect(isErrorBody({ error: 'pull_failed', message: 'x' })).toBe(true);
    expect(isErrorBody({ error: 5 })).toBe(false);
    expect(isErrorBody(null)).toBe(false);
    expect(isErrorBody('push_conflict')).toBe(false);
  });

  it('isPushConflictErrorBody requires a non-null conflict object', () => {
    const conflict = {
      schema: 'public',
      table: 't',
      key: { id: 'k' },
      op: 'UPDATE',
      base_row_version: 1,
      server_row_version: 2,
      server_row_deleted: false,
      server_row: { id: 'k' },
    };
    expect(isPushConflictErrorBody({ error: 'push_conflict', message: '', conflict })).toBe(true);
    expect(isPushConflictErrorBody({ error: 'push_conflict', message: '', conflict: null })).toBe(false);
    expect(isPushConflictErrorBody({ error: 'history_pruned', message: '', conflict })).toBe(false);
  });

  it('isSourceRetiredErrorBody requires the retired source_id', () => {
    expect(
      isSourceRetiredErrorBody({
        error: 'source_retired',
        message: '',
        source_id: 'a',
        replaced_by_source_id: 'b',
      }),
    ).toBe(true);
    expect(isSourceRetiredErrorBody({ error: 'source_retired', message: '' })).toBe(false);
    expect(isSourceRetiredErrorBody({ error: 'push_conflict', message: '', source_id: 'a' })).toBe(false);
  });
});
