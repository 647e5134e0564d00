/**
 * A push commit whose rows the database refuses (type coercion, NOT NULL, CHECK, UNIQUE, a numeric
 * beyond float64, a column dropped after the upload, a host trigger's exception): go-oversync
 * answers 500 on every retry; we answer `400 push_commit_invalid` naming the first row at fault,
 * write nothing, and keep the session.
 */
import { execSql } from '../support/business-schema.js';
import { createOversyncTestApp, type OversyncTestApp } from '../support/oversync-app.js';
import {
  bundleCount,
  commitSession,
  deleteSession,
  initializeEmpty,
  insertPost,
  insertUser,
  newId,
  newUser,
  pushSessionExists,
  stageRows,
  uploadChunk,
  createSession,
} from '../support/push-builders.js';
import { syncClient, type SyncReply } from '../support/sync-http.js';

describe('POST /sync/push-sessions/{push_id}/commit with rows the database refuses', () => {
  let t: OversyncTestApp;
  let schema: string;

  beforeAll(async () => {
    t = await createOversyncTestApp({ listen: true });
    schema = t.schema;
    await execSql(
      t.db.url,
      `ALTER TABLE ${schema}.typed_rows ADD CONSTRAINT count_not_negative CHECK (count_value >= 0);
       CREATE UNIQUE INDEX docs_body_unique ON ${schema}.docs (body);
       CREATE FUNCTION ${schema}.refuse_banned() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF NEW.name = 'banned' THEN RAISE EXCEPTION 'the name "banned" is not allowed'; END IF;
         RETURN NEW;
       END $$;
       CREATE TRIGGER refuse_banned BEFORE INSERT OR UPDATE ON ${schema}.users
         FOR EACH ROW EXECUTE FUNCTION ${schema}.refuse_banned();`,
    );
  });
  afterAll(async () => {
    await t.close();
  });

  const typed = (extra: Record<string, unknown>, id = newId()) => ({
    schema,
    table: 'typed_rows',
    key: { id },
    op: 'INSERT',
    base_row_version: 0,
    payload: { id, name: 'n', enabled_flag: 1, ...extra },
  });
  const doc = (docId: string, body: string) => ({
    schema,
    table: 'docs',
    key: { doc_id: docId },
    op: 'INSERT',
    base_row_version: 0,
    payload: { doc_id: docId, body },
  });

  /** A ready user, its client, and a staged session of `rows`. */
  const staged = async (rows: unknown[]) => {
    const user = newUser();
    const client = syncClient(t.baseUrl, user, 'device');
    await initializeEmpty(client);
    return { user, client, pushId: await stageRows(client, 1, rows) };
  };

  /** The reply is a 400 push_commit_invalid, and the scope got no bundle. */
  const expectRefused = async (reply: SyncReply, user: string) => {
    expect(reply.status).toBe(400);
    expect(reply.json.error).toBe('push_commit_invalid');
    expect(await bundleCount(t.db.url, user)).toBe(0);
    return reply.json.message as string;
  };

  it('names the first row at fault for a value its column type cannot hold, writes nothing and keeps the session', async () => {
    const bad = newId();
    const rows = [typed({}), typed({}), typed({ count_value: '1.5' }, bad), typed({}), typed({})];
    const { user, client, pushId } = await staged(rows);

    const message = await expectRefused(await commitSession(client, pushId), user);
    expect(message).toBe(
      `pushed row 2 (${schema}.typed_rows "${bad}") cannot be stored on the server: ` +
        'invalid input syntax for type bigint: "1.5"; the server refuses these rows on every retry; ' +
        'change or delete the row on the device',
    );
    const { rows: written } = await execSql(
      t.db.url,
      `SELECT count(*)::int AS n FROM ${schema}.typed_rows WHERE _sync_scope_id = $1`,
      [user],
    );
    expect(written).toEqual([{ n: 0 }]);
    // The session stays, as after any failed commit: a retry answers the same, a DELETE ends it.
    expect(await pushSessionExists(t.db.url, pushId)).toBe(true);
    expect((await commitSession(client, pushId)).json.message).toBe(message);
    expect((await deleteSession(client, pushId)).status).toBe(204);
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['a timestamp that is not one', { created_at: 'not a date' }, 'invalid input syntax for type timestamp'],
    ['a bigint out of range', { count_value: '99999999999999999999' }, 'out of range for type bigint'],
    ['a boolean that is not one', { active: 'maybe' }, 'invalid input syntax for type boolean'],
    ['a CHECK constraint', { count_value: -1 }, 'violates check constraint "count_not_negative"'],
    ['NOT NULL', { name: null }, 'null value in column "name"'],
  ])('names the row for %s', async (_, extra, reason) => {
    const bad = newId();
    const { user, client, pushId } = await staged([typed({}), typed(extra, bad)]);
    const message = await expectRefused(await commitSession(client, pushId), user);
    expect(message).toContain(`pushed row 1 (${schema}.typed_rows "${bad}")`);
    expect(message).toContain(reason);
  });

  it('refuses a numeric beyond float64 (found at finalisation, so no row is named)', async () => {
    const { user, client, pushId } = await staged([typed({ amount: '1e400' })]);
    const message = await expectRefused(await commitSession(client, pushId), user);
    expect(message).toMatch(
      /^pushed rows cannot be stored on the server: the bundle holds a value the wire cannot carry: numeric value 1e\+400 in column "business\.typed_rows\.amount" is beyond the float64 range/,
    );
  });

  it('names the second of two pushed rows that collide on a UNIQUE index, and never quotes the DETAIL', async () => {
    const { user, client, pushId } = await staged([doc('a', 'same text'), doc('b', 'same text')]);
    const message = await expectRefused(await commitSession(client, pushId), user);
    expect(message).toContain(`pushed row 1 (${schema}.docs "b")`);
    expect(message).toContain('duplicate key value violates unique constraint "docs_body_unique"');
    expect(message).not.toContain('same text');
  });

  it("does not reveal another scope's value behind a UNIQUE index", async () => {
    await (async () => {
      const other = await staged([doc('secret', 'secret-value-of-another-user')]);
      expect((await commitSession(other.client, other.pushId)).status).toBe(200);
    })();
    const { user, client, pushId } = await staged([doc('mine', 'secret-value-of-another-user')]);
    const message = await expectRefused(await commitSession(client, pushId), user);
    expect(message).toContain(`pushed row 0 (${schema}.docs "mine")`);
    expect(message).not.toContain('secret-value');
  });

  it("names the row a host trigger's RAISE EXCEPTION refuses, with the host's message", async () => {
    const bad = newId();
    const rows = [insertUser(schema, newId(), 'Ada'), insertUser(schema, bad, 'banned')];
    const { user, client, pushId } = await staged(rows);
    const message = await expectRefused(await commitSession(client, pushId), user);
    expect(message).toContain(`pushed row 1 (${schema}.users "${bad}")`);
    expect(message).toContain('the name "banned" is not allowed');
  });

  it('commits on a second attempt when the refusal does not recur (the search finds no row at fault)', async () => {
    // A sequence is not transactional: the trigger refuses the first time it sees the row only.
    await execSql(
      t.db.url,
      `CREATE SEQUENCE ${schema}.flaky_seen;
       CREATE FUNCTION ${schema}.refuse_once() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF NEW.name = 'flaky' AND nextval('${schema}.flaky_seen') = 1 THEN RAISE EXCEPTION 'refused once'; END IF;
         RETURN NEW;
       END $$;
       CREATE TRIGGER refuse_once BEFORE INSERT ON ${schema}.typed_rows
         FOR EACH ROW EXECUTE FUNCTION ${schema}.refuse_once();`,
    );
    const { user, client, pushId } = await staged([typed({ name: 'flaky' })]);
    const reply = await commitSession(client, pushId);
    expect(reply.status).toBe(200);
    expect(reply.json).toMatchObject({ bundle_seq: 1, row_count: 1 });
    expect(await bundleCount(t.db.url, user)).toBe(1);
  });

  it('names a row whose column was dropped after the upload', async () => {
    await execSql(t.db.url, `ALTER TABLE ${schema}.typed_rows ADD COLUMN scratch text`);
    const bad = newId();
    const { user, client, pushId } = await staged([typed({}), typed({ scratch: 'x' }, bad)]);
    await execSql(t.db.url, `ALTER TABLE ${schema}.typed_rows DROP COLUMN scratch`);
    const message = await expectRefused(await commitSession(client, pushId), user);
    expect(message).toContain(`pushed row 1 (${schema}.typed_rows "${bad}")`);
    expect(message).toContain('column "scratch" of relation "typed_rows" does not exist');
  });

  it('keeps foreign keys deferred while it searches: a child pushed before its parent is not the row named', async () => {
    const parent = newId();
    const bad = newId();
    const rows = [
      insertPost(schema, newId(), parent),
      insertUser(schema, parent, 'Parent'),
      typed({ count_value: 'x' }, bad),
    ];
    const { user, client, pushId } = await staged(rows);
    const message = await expectRefused(await commitSession(client, pushId), user);
    expect(message).toContain(`pushed row 2 (${schema}.typed_rows "${bad}")`);
  });

  it('finds the row inside one multi-chunk INSERT run of 2,500 rows', async () => {
    const user = newUser();
    const client = syncClient(t.baseUrl, user, 'device');
    await initializeEmpty(client);
    const bad = newId();
    const rows = Array.from({ length: 2500 }, (_, i) =>
      i === 1733 ? typed({ count_value: 'x' }, bad) : typed({}),
    );
    const created = await createSession(client, 1, rows.length);
    const pushId = created.json.push_id as string;
    for (let start = 0; start < rows.length; start += 1000) {
      expect((await uploadChunk(client, pushId, start, rows.slice(start, start + 1000))).status).toBe(200);
    }
    const message = await expectRefused(await commitSession(client, pushId), user);
    expect(message).toContain(`pushed row 1733 (${schema}.typed_rows "${bad}")`);
  });

  it('commits the same rows once the bad one is fixed', async () => {
    const user = newUser();
    const client = syncClient(t.baseUrl, user, 'device');
    await initializeEmpty(client);
    const id = newId();
    const refused = await stageRows(client, 1, [typed({ count_value: 'x' }, id)]);
    await expectRefused(await commitSession(client, refused), user);
    expect((await deleteSession(client, refused)).status).toBe(204);
    const fixed = await stageRows(client, 1, [typed({ count_value: 7 }, id)]);
    const reply = await commitSession(client, fixed);
    expect(reply.status).toBe(200);
    expect(reply.json).toMatchObject({ bundle_seq: 1, source_bundle_id: 1, row_count: 1 });
  });
});
