/**
 * The storage floor: the least any engine must write to keep the reference's tables for a bundle
 * (`bundle_rows` history with a payload per row, a `row_state` version per row, one `bundle_log`
 * entry with the SHA-256 of the payloads), measured with none of Oversync's code in the way. Rows
 * are rendered by PostgreSQL's built-in `row_to_json` straight from the INSERT's RETURNING, so
 * there is no capture trigger, no read-back, no canonical JSON, no lock, no context and no
 * conflict check. Its ratio to the plain INSERT is the lowest ratio that layout allows on the
 * machine, in the same run: a target below it cannot be met by tuning, only by storing less.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';

export const FLOOR_SCHEMA = `
CREATE SCHEMA floor;
CREATE TABLE floor.items (LIKE bench.items INCLUDING ALL);
CREATE TABLE floor.push_rows (
  push_id uuid NOT NULL, row_ordinal bigint NOT NULL, key_bytes bytea NOT NULL, payload_apply json,
  PRIMARY KEY (push_id, row_ordinal));
CREATE TABLE floor.bundle_rows (
  user_pk bigint NOT NULL, bundle_seq bigint NOT NULL, row_ordinal bigint NOT NULL, table_id integer NOT NULL,
  key_bytes bytea NOT NULL, op_code smallint NOT NULL, payload_wire text,
  PRIMARY KEY (user_pk, bundle_seq, row_ordinal));
CREATE TABLE floor.row_state (
  user_pk bigint NOT NULL, table_id integer NOT NULL, key_bytes bytea NOT NULL, bundle_seq bigint NOT NULL,
  deleted boolean NOT NULL DEFAULT false, PRIMARY KEY (user_pk, table_id, key_bytes));
CREATE TABLE floor.bundle_log (
  user_pk bigint NOT NULL, bundle_seq bigint NOT NULL, row_count bigint NOT NULL, bundle_hash bytea NOT NULL,
  PRIMARY KEY (user_pk, bundle_seq));
`;

let nextSeq = 1;

/**
 * The history, version and log writes of bundle `seq`, from the CTE `ins` (the inserted business
 * rows). `seq` is an integer this module counts, so it is inlined. Every key is new, so the
 * `row_state` write is a plain INSERT (an engine must upsert: the floor errs low).
 */
function historySql(seq) {
  return `
    img AS MATERIALIZED (
      SELECT row_number() OVER () AS n, uuid_send(ins.id) AS k, row_to_json(ins)::text AS p FROM ins
    ), br AS (
      INSERT INTO floor.bundle_rows SELECT 1, ${seq}, n, 1, k, 1, p FROM img
    ), rs AS (
      INSERT INTO floor.row_state SELECT 1, 1, k, ${seq}, false FROM img
    )
    INSERT INTO floor.bundle_log
    SELECT 1, ${seq}, count(*), sha256(convert_to(string_agg(p, ',' ORDER BY n), 'UTF8')) FROM img`;
}

/** `n` generated rows written with their bundle's history, as one transaction on `db` (Kysely). */
export async function floorWrite(db, n, scope) {
  const seq = nextSeq++;
  await db.transaction().execute((trx) =>
    sql`
      WITH ins AS (
        INSERT INTO floor.items (_sync_scope_id, id, title, body, qty, price)
        SELECT ${scope}, gen_random_uuid(), 'title ' || g, repeat('x', 64), g, g * 1.5 FROM generate_series(1, ${n}::int) g
        RETURNING *
      ), ${sql.raw(historySql(seq))}`.execute(trx),
  );
}

/**
 * A push of `rows` (the bench's wire rows) at the floor: staged as JSON in chunks of 1,000 (one
 * statement each), applied in one transaction with the bundle's history, then read back as the
 * committed-rows pages of 5,000 would be. No HTTP, no validation, no conflict check.
 */
export async function floorPush(pool, scope, rows) {
  const pushId = randomUUID();
  const seq = nextSeq++;
  for (let start = 0; start < rows.length; start += 1000) {
    const payloads = rows.slice(start, start + 1000).map((r) => r.payload);
    await pool.query(
      `INSERT INTO floor.push_rows
       SELECT $1, $2 + o - 1, uuid_send((p->>'id')::uuid), p FROM json_array_elements($3::json) WITH ORDINALITY AS t (p, o)`,
      [pushId, start, JSON.stringify(payloads)],
    );
  }
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(
      `WITH ins AS (
         INSERT INTO floor.items (_sync_scope_id, id, title, body, qty, price)
         SELECT $2, r.id, r.title, r.body, r.qty, r.price
           FROM floor.push_rows s, json_populate_record(NULL::floor.items, s.payload_apply) r
          WHERE s.push_id = $1
         RETURNING *
       ), staged AS (DELETE FROM floor.push_rows WHERE push_id = $1), ${historySql(seq)}`,
      [pushId, scope],
    );
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  } finally {
    client.release();
  }
  let served = 0;
  for (let after = 0; after < rows.length; after += 5000) {
    const { rows: page } = await pool.query(
      `SELECT '[' || string_agg(payload_wire, ',' ORDER BY row_ordinal) || ']' AS rows FROM floor.bundle_rows
        WHERE user_pk = 1 AND bundle_seq = $1 AND row_ordinal > $2 AND row_ordinal <= $3`,
      [seq, after, after + 5000],
    );
    served += JSON.parse(page[0].rows).length;
  }
  if (served !== rows.length) throw new Error(`floor push served ${served} of ${rows.length}`);
}
