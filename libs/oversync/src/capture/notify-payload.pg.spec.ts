import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { createOversyncTestApp, type OversyncTestApp } from '../../../../test/support/oversync-app.js';
import { ScopeManager } from '../scope/scope.manager.js';

/**
 * The commit's NOTIFY payload must fit PostgreSQL's 8000-byte limit whatever the source id's
 * length: pg_notify fails the whole statement otherwise, so every commit of such a source (a
 * device's header or a server writer id) used to fail.
 */
describe('bundle NOTIFY payload (real PostgreSQL)', () => {
  let t: OversyncTestApp;
  beforeAll(async () => {
    t = await createOversyncTestApp();
  });
  afterAll(async () => t.close());

  it('commits for a source id longer than a NOTIFY payload may be', async () => {
    const writerId = `w-${'x'.repeat(9000)}`;
    const res = await t
      .get(ScopeManager)
      .execWrite('long-source', { writerId }, (trx) =>
        sql`INSERT INTO business.users (id, name, email) VALUES (${randomUUID()}, 'A', 'a@x')`.execute(trx),
      );
    expect(res.bundle).toMatchObject({ bundle_seq: 1, source_id: writerId, source_bundle_id: 1 });
  });
});
