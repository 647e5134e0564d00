import type { SnapshotSession } from '@oversync/protocol';
import { SourceRetiredError, SyncService } from '@oversync/nestjs';
import { sql } from 'kysely';
import { createOversyncTestApp, type OversyncTestApp } from '../support/oversync-app.js';
import { initEmptyScope, q } from '../support/read-builders.js';
import { syncClient } from '../support/sync-http.js';

type Reply = SnapshotSession & {
  error?: string;
  message?: string;
  source_id?: string;
  replaced_by_source_id?: string;
};

describe('rotated rebuild: snapshot create with source_replacement (§6.3)', () => {
  let t: OversyncTestApp;

  beforeAll(async () => {
    t = await createOversyncTestApp({ listen: true });
    await initEmptyScope(t, 'rot-validate');
  });
  afterAll(async () => t.close());

  const rotate = (user: string, header: string, replacement: Record<string, unknown>) =>
    syncClient(
      t.baseUrl,
      user,
      header,
    )<Reply>({
      method: 'POST',
      path: '/sync/snapshot-sessions',
      body: { source_replacement: replacement },
    });
  const sources = async (user: string) =>
    (
      await q(
        t,
        `SELECT source_id, state, max_committed_source_bundle_id::int AS max, replaced_by_source_id AS replaced_by, retirement_reason AS reason
           FROM sync.source_state s JOIN sync.user_state u USING (user_pk) WHERE u.user_id = $1 ORDER BY source_id`,
        [user],
      )
    ).rows;
  const withinBundle = (user: string, sourceId: string, sourceBundleId: number) =>
    t.get(SyncService).withinSyncBundle({ userId: user }, { sourceId, sourceBundleId }, async (trx) => {
      await sql`INSERT INTO business.docs (doc_id, body) VALUES (${`${sourceId}-${sourceBundleId}`}, 'x')`.execute(
        trx,
      );
    });

  it('retires the previous source and reserves the new one, atomically with the snapshot (H1)', async () => {
    const user = 'rot-basic';
    await initEmptyScope(t, user);
    await withinBundle(user, 'writer-old', 1);
    const res = await rotate(user, 'writer-old', {
      previous_source_id: 'writer-old',
      new_source_id: 'writer-new',
      reason: 'history_pruned',
    });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ snapshot_bundle_seq: 1, row_count: 1 });
    expect(await sources(user)).toEqual([
      { source_id: 'writer-new', state: 'reserved', max: 0, replaced_by: '', reason: '' },
      {
        source_id: 'writer-old',
        state: 'retired',
        max: 1,
        replaced_by: 'writer-new',
        reason: 'history_pruned',
      },
    ]);
    await expect(withinBundle(user, 'writer-old', 2)).rejects.toBeInstanceOf(SourceRetiredError);
    // H6: the first commit under the reserved replacement activates it.
    await withinBundle(user, 'writer-new', 1);
    expect((await sources(user)).find((s) => s.source_id === 'writer-new')).toEqual({
      source_id: 'writer-new',
      state: 'active',
      max: 1,
      replaced_by: '',
      reason: '',
    });
  });

  it('rotates a never-committed source into a retired row with watermark 0 (H2)', async () => {
    const user = 'rot-empty';
    await initEmptyScope(t, user);
    const res = await rotate(user, ' writer-empty-old ', {
      previous_source_id: ' writer-empty-old',
      new_source_id: 'writer-empty-new ',
      reason: 'source_sequence_changed',
    });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ snapshot_bundle_seq: 0, row_count: 0 });
    expect(await sources(user)).toEqual([
      { source_id: 'writer-empty-new', state: 'reserved', max: 0, replaced_by: '', reason: '' },
      {
        source_id: 'writer-empty-old',
        state: 'retired',
        max: 0,
        replaced_by: 'writer-empty-new',
        reason: 'source_sequence_changed',
      },
    ]);
  });

  it('is idempotent when repeated (H3), also after the replacement became active', async () => {
    const user = 'rot-idem';
    await initEmptyScope(t, user);
    const body = { previous_source_id: 'old', new_source_id: 'new', reason: 'source_retired' };
    const a = await rotate(user, 'old', body);
    const b = await rotate(user, 'old', body);
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(a.json.snapshot_id).not.toBe(b.json.snapshot_id);
    expect(await sources(user)).toHaveLength(2);
    await withinBundle(user, 'new', 1);
    expect((await rotate(user, 'old', body)).status).toBe(200);
    // The recorded replacement lost its row (e.g. cleaned up): the repeat reserves it again.
    await q(
      t,
      `DELETE FROM sync.source_state WHERE source_id = 'new' AND user_pk = (SELECT user_pk FROM sync.user_state WHERE user_id = $1)`,
      [user],
    );
    expect((await rotate(user, 'old', body)).status).toBe(200);
    expect((await sources(user)).find((s) => s.source_id === 'new')!.state).toBe('reserved');
  });

  it('answers conflicting rotations: source_retired and source_replacement_invalid (H4)', async () => {
    const user = 'rot-conflict';
    await initEmptyScope(t, user);
    await withinBundle(user, 'old-b', 1);
    expect(
      (
        await rotate(user, 'old', {
          previous_source_id: 'old',
          new_source_id: 'new-a',
          reason: 'history_pruned',
        })
      ).status,
    ).toBe(200);

    const retired = await rotate(user, 'old', {
      previous_source_id: 'old',
      new_source_id: 'new-b',
      reason: 'history_pruned',
    });
    expect(retired.status).toBe(409);
    expect(retired.json).toEqual({
      error: 'source_retired',
      message: `source old for user ${user} was retired and replaced by new-a`,
      source_id: 'old',
      replaced_by_source_id: 'new-a',
    });
    const known = await rotate(user, 'old-b', {
      previous_source_id: 'old-b',
      new_source_id: 'new-a',
      reason: 'history_pruned',
    });
    expect(known.status).toBe(409);
    expect(known.json).toEqual({
      error: 'source_replacement_invalid',
      message: `replacement source new-a is already known for user ${user}`,
    });
    const committed = await rotate(user, 'fresh', {
      previous_source_id: 'fresh',
      new_source_id: 'old-b',
      reason: 'history_pruned',
    });
    expect(committed.json.error).toBe('source_replacement_invalid');

    // new-a itself gets retired; repeating old -> new-a is then not available.
    expect(
      (
        await rotate(user, 'new-a', {
          previous_source_id: 'new-a',
          new_source_id: 'new-c',
          reason: 'source_retired',
        })
      ).status,
    ).toBe(200);
    const unavailable = await rotate(user, 'old', {
      previous_source_id: 'old',
      new_source_id: 'new-a',
      reason: 'history_pruned',
    });
    expect(unavailable.status).toBe(409);
    expect(unavailable.json).toEqual({
      error: 'source_replacement_invalid',
      message: 'replacement source new-a is not available for rotated rebuild',
    });
    const snapshots = await q(
      t,
      `SELECT count(*)::int AS n FROM sync.snapshot_sessions s JOIN sync.user_state u USING (user_pk) WHERE user_id = $1`,
      [user],
    );
    expect(snapshots.rows[0].n).toBe(2); // failed rotations persisted nothing
  });

  it.each([
    [
      { previous_source_id: 'other', new_source_id: 'n', reason: 'history_pruned' },
      'previous_source_id must match authenticated source_id',
    ],
    [
      { new_source_id: 'n', reason: 'history_pruned' },
      'previous_source_id must match authenticated source_id',
    ],
    [
      { previous_source_id: 'dev', reason: 'history_pruned' },
      'new_source_id is required for source replacement',
    ],
    [
      { previous_source_id: 'dev', new_source_id: '  ', reason: 'history_pruned' },
      'new_source_id is required for source replacement',
    ],
    [
      { previous_source_id: 'dev', new_source_id: ' dev ', reason: 'history_pruned' },
      'new_source_id must differ from previous_source_id',
    ],
    [
      { previous_source_id: 'dev', new_source_id: 'n', reason: 'bored' },
      'source replacement reason is unsupported',
    ],
    [
      { previous_source_id: 'dev', new_source_id: 'n', reason: null },
      'source replacement reason is unsupported',
    ],
  ])(
    'rejects invalid replacement %j with 400 snapshot_session_invalid (H5)',
    async (replacement, message) => {
      const user = 'rot-validate';
      const res = await rotate(user, 'dev', replacement);
      expect(res.status).toBe(400);
      expect(res.json).toEqual({ error: 'snapshot_session_invalid', message });
      expect(await sources(user)).toEqual([]);
    },
  );

  it('serialises with commits of the same scope (no 40001 while a commit holds the scope)', async () => {
    const user = 'rot-race';
    await initEmptyScope(t, user);
    await withinBundle(user, 'dev', 1);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const commit = t
      .get(SyncService)
      .withinSyncBundle({ userId: user }, { sourceId: 'dev', sourceBundleId: 2 }, async (trx) => {
        await sql`INSERT INTO business.docs (doc_id, body) VALUES ('race', 'x')`.execute(trx);
        await gate;
      });
    await new Promise((r) => setTimeout(r, 50));
    const rotation = rotate(user, 'dev', {
      previous_source_id: 'dev',
      new_source_id: 'dev-2',
      reason: 'history_pruned',
    });
    await new Promise((r) => setTimeout(r, 100));
    release();
    await commit;
    const res = await rotation;
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ snapshot_bundle_seq: 2, row_count: 2 }); // saw the commit it waited for
    expect((await sources(user)).find((s) => s.source_id === 'dev')).toMatchObject({
      state: 'retired',
      max: 2,
    });
  });
});
