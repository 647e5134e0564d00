import { randomUUID } from 'node:crypto';
import { ScopeManager } from '@oversync/nestjs';
import { canonicalJsonString, type SnapshotChunkResponse, type SnapshotSession } from '@oversync/protocol';
import { sql } from 'kysely';
import { createOversyncTestApp, type OversyncTestApp } from '../support/oversync-app.js';
import { q } from '../support/read-builders.js';
import { syncClient } from '../support/sync-http.js';

type Reply = SnapshotSession & SnapshotChunkResponse & { error?: string; message?: string };

/** Stored blocks end every 1000 rows (SNAPSHOT_BLOCK_MAX_ROWS) and every 4 MiB (…_MAX_BYTES). */
const BLOCK_ROWS = 1000;
const BLOCK_BYTES = 4 * 1024 * 1024;

/** The `rows` array of a page as raw JSON text (between `"rows":[` and `],"next_row_ordinal"`). */
function rowsText(page: string): string {
  const start = page.indexOf('"rows":[') + '"rows":['.length;
  return page.slice(start, page.lastIndexOf('],"next_row_ordinal"'));
}

/** Go's encoder escapes these in any JSON text; PostgreSQL leaves them raw. */
const goEscape = (json: string) =>
  json.replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

describe('snapshot pages sliced from stored blocks', () => {
  let t: OversyncTestApp;

  beforeAll(async () => {
    t = await createOversyncTestApp({ listen: true }); // default caps: 1000 per page by default, 5000 max
  });
  afterAll(async () => t.close());

  const as = (user: string) => syncClient(t.baseUrl, user, 'reader')<Reply>;
  const create = async (user: string) => {
    const res = await as(user)({ method: 'POST', path: '/sync/snapshot-sessions' });
    expect(res.status).toBe(200);
    return res.json;
  };
  const chunk = (user: string, id: string, after: number, maxRows: number) =>
    as(user)({ path: `/sync/snapshot-sessions/${id}?after_row_ordinal=${after}&max_rows=${maxRows}` });
  const write = (user: string, fn: Parameters<ScopeManager['execWrite']>[2]) =>
    t.get(ScopeManager).execWrite(user, { writerId: 'seed' }, fn);
  const blocks = async (id: string) =>
    (
      await q(
        t,
        `SELECT first_row_ordinal::int AS first, row_count AS n, octet_length(rows_json) AS bytes,
                row_end_offsets[row_count] - coalesce(row_end_offsets[row_count - 1], start_offset) - 1 AS last_row_bytes
           FROM sync.snapshot_session_blocks WHERE snapshot_id = $1 ORDER BY first_row_ordinal`,
        [id],
      )
    ).rows as { first: number; n: number; bytes: number; last_row_bytes: string }[];

  it('serves every (after_row_ordinal, max_rows) window exactly, inside and across blocks and tables', async () => {
    const user = 'blocks-windows';
    await write(user, async (trx) => {
      await sql`INSERT INTO business.posts (id, title, content)
                SELECT gen_random_uuid(), 'post ' || g, 'content ' || g FROM generate_series(1, 2300) g`.execute(
        trx,
      );
      await sql`INSERT INTO business.users (id, name, email)
                SELECT gen_random_uuid(), 'user ' || g, 'u' || g || '@example.test' FROM generate_series(1, 1200) g`.execute(
        trx,
      );
    });
    const total = 3500;
    const { snapshot_id: id, row_count } = await create(user);
    expect(row_count).toBe(total);
    // Blocks never span tables (posts sort before users): posts 1…2300, users 2301…3500.
    expect((await blocks(id)).map((b) => [b.first, b.n])).toEqual([
      [1, BLOCK_ROWS],
      [1001, BLOCK_ROWS],
      [2001, 300],
      [2301, BLOCK_ROWS],
      [3301, 200],
    ]);

    const whole = await chunk(user, id, 0, 5000);
    expect(whole.json).toMatchObject({ next_row_ordinal: total, has_more: false });
    const all = whole.json.rows;
    expect(all.map((r) => r.table)).toEqual([...Array(2300).fill('posts'), ...Array(1200).fill('users')]);
    const allText = rowsText(whole.text);

    const windows: [number, number][] = [
      [0, 1],
      [0, BLOCK_ROWS - 1],
      [0, BLOCK_ROWS],
      [0, BLOCK_ROWS + 1],
      [1, BLOCK_ROWS],
      [998, 5],
      [999, 1],
      [999, 2],
      [1000, 1000],
      [1500, 1000],
      [1999, 2000],
      [2000, 300],
      [2299, 2],
      [2299, 1],
      [2300, 1],
      [2250, 1100],
      [3, 3400],
      [3299, 1],
      [3499, 1],
      [3499, 10],
      [3500, 1],
      [3600, 5],
      [0, 6000], // capped at 5000, which covers everything
    ];
    for (let i = 0; i < 12; i++) {
      const after = Math.floor(Math.random() * (total + 10));
      windows.push([after, 1 + Math.floor(Math.random() * 2500)]);
    }
    for (const [after, maxRows] of windows) {
      const res = await chunk(user, id, after, maxRows);
      const want = all.slice(after, after + Math.min(maxRows, 5000));
      expect(res.status).toBe(200);
      expect(res.json.rows).toEqual(want);
      expect(res.json.next_row_ordinal).toBe(after + want.length);
      expect(res.json.has_more).toBe(after + want.length < total);
      // Byte-identical to the same rows of the whole snapshot (a slice ends on row boundaries).
      if (want.length > 0) expect(allText).toContain(rowsText(res.text));
      expect(res.text.endsWith('}\n')).toBe(true);
    }

    // The client's own paging (after = next_row_ordinal) at a size that never aligns with blocks.
    const paged: SnapshotChunkResponse['rows'] = [];
    for (let after = 0; ;) {
      const res = await chunk(user, id, after, 777);
      paged.push(...res.json.rows);
      after = res.json.next_row_ordinal;
      if (!res.json.has_more) break;
    }
    expect(paged).toEqual(all);
  });

  it('renders rows byte for byte: key JSON, version, the bundle payload text, Go escaping', async () => {
    const user = 'blocks-golden';
    const docIds = ['<a&b>', 'q"b\\s', 'tab\there', 'é', '😀 x', 'line\u2028sep', 'plain', 'ctl\u0001'];
    const fileId = randomUUID();
    const typedId = randomUUID();
    await write(user, async (trx) => {
      for (const [i, docId] of docIds.entries()) {
        await sql`INSERT INTO business.docs (doc_id, body) VALUES (${docId}, ${`body ${i} <tag> & \u2029 😀 é "q" \\ \n`})`.execute(
          trx,
        );
      }
      await sql`INSERT INTO business.files (id, name, data) VALUES (${fileId}, 'bin', ${Buffer.from([0, 1, 2, 250, 251, 252, 253, 254, 255])})`.execute(
        trx,
      );
      await sql`INSERT INTO business.typed_rows (id, name, enabled_flag, rating, amount, tags, active, note, count_value)
                VALUES (${typedId}, 'typed', 1, 0.1, 12.50, '{"z":[1,{"a":"<"}]}', true, 'a<b>&c', 9007199254740993)`.execute(
        trx,
      );
    });
    const { snapshot_id: id } = await create(user);
    const page = await chunk(user, id, 0, 100);
    expect(page.json.rows).toHaveLength(docIds.length + 2);

    // The wire form: prefix, key as a JSON string (Go-escaped), the row_state version, and the
    // payload exactly as the bundle that wrote the row served it (snapshots and pull render alike).
    const BUNDLE_PAYLOAD = `(SELECT br.payload_wire FROM sync.bundle_rows br
        WHERE br.user_pk = rs.user_pk AND br.bundle_seq = rs.bundle_seq AND br.table_id = rs.table_id AND br.key_bytes = rs.key_bytes)`;
    const expected = await q(
      t,
      `SELECT 'docs' AS tbl, 'doc_id' AS key_column, d.doc_id AS key, rs.bundle_seq::text AS version,
              ${BUNDLE_PAYLOAD} AS payload, convert_to(d.doc_id, 'UTF8') AS key_bytes, 2 AS ord
         FROM business.docs d
         JOIN sync.row_state rs ON rs.user_pk = (SELECT user_pk FROM sync.user_state WHERE user_id = $1)
          AND rs.table_id = 2 AND rs.key_bytes = convert_to(d.doc_id, 'UTF8')
        WHERE d._sync_scope_id = $1
       UNION ALL
       SELECT 'files', 'id', f.id::text, rs.bundle_seq::text,
              ${BUNDLE_PAYLOAD}, uuid_send(f.id), 3
         FROM business.files f
         JOIN sync.row_state rs ON rs.user_pk = (SELECT user_pk FROM sync.user_state WHERE user_id = $1)
          AND rs.table_id = 3 AND rs.key_bytes = uuid_send(f.id)
        WHERE f._sync_scope_id = $1
       UNION ALL
       SELECT 'typed_rows', 'id', r.id::text, rs.bundle_seq::text,
              ${BUNDLE_PAYLOAD}, uuid_send(r.id), 5
         FROM business.typed_rows r
         JOIN sync.row_state rs ON rs.user_pk = (SELECT user_pk FROM sync.user_state WHERE user_id = $1)
          AND rs.table_id = 5 AND rs.key_bytes = uuid_send(r.id)
        WHERE r._sync_scope_id = $1
       ORDER BY ord, key_bytes`,
      [user],
    );
    const want = expected.rows.map(
      (r: { tbl: string; key_column: string; key: string; version: string; payload: string }) =>
        `{"schema":"business","table":"${r.tbl}","key":{"${r.key_column}":${canonicalJsonString(r.key)}},` +
        `"row_version":${r.version},"payload":${goEscape(r.payload)}}`,
    );
    expect(rowsText(page.text)).toBe(want.join(','));
    expect(page.json.rows.slice(0, docIds.length).map((r) => r.key.doc_id)).toEqual(
      [...docIds].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))),
    );
    // Single-row pages cut out of the block are the same bytes.
    for (let after = 0; after < want.length; after++) {
      expect(rowsText((await chunk(user, id, after, 1)).text)).toBe(want[after]);
    }
  });

  it('ends blocks at the byte bound and cuts multibyte rows by byte offset', async () => {
    const user = 'blocks-bytes';
    // ~1 MiB of JSON per row, mixing 1-, 2-, 3- and 4-byte UTF-8 characters and Go-escaped ones.
    const unit = 'aé\u2028😀<';
    const contents = Array.from({ length: 12 }, (_, i) => `${i}:` + unit.repeat(90_000 + i));
    const ids = contents.map(() => randomUUID()).sort();
    await write(user, async (trx) => {
      for (const [i, content] of contents.entries()) {
        await sql`INSERT INTO business.posts (id, title, content) VALUES (${ids[i]}, ${`big ${i}`}, ${content})`.execute(
          trx,
        );
      }
    });
    const { snapshot_id: id, row_count } = await create(user);
    expect(row_count).toBe(12);
    const stored = await blocks(id);
    expect(stored.length).toBeGreaterThan(2);
    for (const b of stored) {
      // A block passes the bound by at most the row that crossed it.
      expect(b.bytes - Number(b.last_row_bytes) - 1).toBeLessThan(BLOCK_BYTES);
    }
    expect(stored.reduce((n, b) => n + b.n, 0)).toBe(12);

    const whole = await chunk(user, id, 0, 100);
    expect(whole.json.rows.map((r) => r.payload.content)).toEqual(contents);
    expect(whole.text).not.toMatch(/[<\u2028]/);
    expect(whole.text).toContain('é\\u2028😀\\u003c'); // Go-escaped, other characters raw
    const allText = rowsText(whole.text);
    for (let after = 0; after < 12; after++) {
      for (const maxRows of [1, 4]) {
        const res = await chunk(user, id, after, maxRows);
        expect(res.json.rows).toEqual(whole.json.rows.slice(after, after + maxRows));
        expect(allText).toContain(rowsText(res.text));
      }
    }
  }, 60000);

  it('fails closed (500 snapshot_chunk_failed) when a stored block has gone missing', async () => {
    const user = 'blocks-damaged';
    await write(user, (trx) =>
      sql`INSERT INTO business.posts (id, title, content)
          SELECT gen_random_uuid(), 'post ' || g, 'c' FROM generate_series(1, 2500) g`.execute(trx),
    );
    const { snapshot_id: id } = await create(user);
    await q(
      t,
      `DELETE FROM sync.snapshot_session_blocks WHERE snapshot_id = $1 AND first_row_ordinal = 1001`,
      [id],
    );
    expect((await chunk(user, id, 0, 1000)).status).toBe(200);
    for (const [after, maxRows] of [
      [0, 1001],
      [1500, 10],
      [999, 5000],
    ]) {
      const res = await chunk(user, id, after, maxRows);
      expect(res.status).toBe(500);
      expect(res.json.error).toBe('snapshot_chunk_failed');
    }
    expect((await chunk(user, id, 2000, 1000)).json).toMatchObject({
      next_row_ordinal: 2500,
      has_more: false,
    });
  });

  it('keeps sessions in unlogged tables: after a crash empties them, an open session is 404', async () => {
    const user = 'blocks-crash';
    await write(user, (trx) =>
      sql`INSERT INTO business.docs (doc_id, body) VALUES ('a', 'x'), ('b', 'y')`.execute(trx),
    );
    const { snapshot_id: id } = await create(user);
    const persistence = await q(
      t,
      `SELECT relname, relpersistence FROM pg_class
        WHERE relnamespace = 'sync'::regnamespace AND relname IN ('snapshot_sessions', 'snapshot_session_blocks')
        ORDER BY relname`,
    );
    expect(persistence.rows).toEqual([
      { relname: 'snapshot_session_blocks', relpersistence: 'u' },
      { relname: 'snapshot_sessions', relpersistence: 'u' },
    ]);
    // Crash recovery resets every unlogged table to empty, which is what TRUNCATE leaves.
    await q(t, `TRUNCATE sync.snapshot_session_blocks, sync.snapshot_sessions`);
    const res = await chunk(user, id, 0, 10);
    expect(res.status).toBe(404);
    expect(res.json.error).toBe('snapshot_session_not_found');
    expect((await create(user)).row_count).toBe(2);
  });
});
