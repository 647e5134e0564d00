/**
 * Adversarial review of server-originated writes (`ScopeManager.execWrite`, `@ScopeWrite` behind
 * `OversyncExceptionFilter`) with values the wire cannot carry and with unusual host triggers, on a
 * real Nest app and real PostgreSQL:
 *
 * - values refused at finalisation (numerics beyond float64 in plain, domain, array, composite and
 *   jsonb columns; json holding both \u0000 and \u0001; json nested too deep): typed error, no
 *   bundle, no sequence gap, no row, and the HTTP status the host's route answers;
 * - values carried (NaN/±Infinity, numeric underflow, year 1, 9999, BC, ±infinity and far-future
 *   timestamps, bytea, enums, json with \u0000, deep json): served alike by pull, committed rows and
 *   snapshots with a bundle_hash a client recomputes, and pushable back by a device;
 * - host triggers: an AFTER ROW trigger deleting the row it inserted, one updating another
 *   registered row, one writing an unregistered table, BEFORE triggers returning NULL,
 *   statement-level triggers and deferred constraint triggers;
 * - callbacks that swallow a PostgreSQL error, or COMMIT / ROLLBACK through raw SQL.
 */
import { Controller, Injectable, Param, Post } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import {
  OversyncExceptionFilter,
  RegisteredWriteRejectedError,
  ScopeManager,
  ScopeWrite,
  ScopeWriteContext,
  ScopeWriteInvalidError,
  ScopeWriteNoCapturedChangesError,
  ScopeWriteTransactionBrokenError,
  type CommittedBundle,
} from '@oversync/nestjs';
import {
  computeBundleHash,
  type BundleRow,
  type JsonObject,
  type JsonValue,
  type PullResponse,
} from '@oversync/protocol';
import { randomUUID } from 'node:crypto';
import { sql, type Transaction } from 'kysely';
import { businessSchemaSql, businessTables, execSql } from '../support/business-schema.js';
import { closeDevice, openDevice, sqliteRows, type Device } from '../support/client-devices.js';
import { createOversyncTestApp, type OversyncTestApp } from '../support/oversync-app.js';
import {
  commitSession,
  createSession,
  fetchCommittedRows,
  newUser,
  uploadChunk,
} from '../support/push-builders.js';
import { snapshotRowsOf } from '../support/read-builders.js';
import { syncCall, syncClient } from '../support/sync-http.js';

const HW_SCHEMA = `
CREATE SCHEMA hw;
CREATE TYPE hw.mood AS ENUM ('ok', 'sad <3');
CREATE TYPE hw.pair AS (x double precision, n numeric);
CREATE DOMAIN hw.big AS numeric;
CREATE TABLE hw.vals (_sync_scope_id text NOT NULL, id text NOT NULL,
  n numeric, d double precision, r real, j json, jb jsonb, t text, b bytea,
  ts timestamptz, tsn timestamp, dt date, arr double precision[], narr numeric[], p hw.pair, m hw.mood, dn hw.big,
  PRIMARY KEY (_sync_scope_id, id));
CREATE TABLE hw.items (_sync_scope_id text NOT NULL, id text NOT NULL, name text, counter integer NOT NULL DEFAULT 0,
  PRIMARY KEY (_sync_scope_id, id));
CREATE TABLE hw.audit (_sync_scope_id text NOT NULL, id text NOT NULL, note text,
  PRIMARY KEY (_sync_scope_id, id));
CREATE TABLE hw.outside (n bigserial PRIMARY KEY, scope text, note text);

-- AFTER ROW trigger removing the row its INSERT just wrote (a host "reject silently" rule).
CREATE FUNCTION hw.self_destruct() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM hw.items WHERE _sync_scope_id = NEW._sync_scope_id AND id = NEW.id;
  RETURN NULL;
END $$;
CREATE TRIGGER self_destruct AFTER INSERT ON hw.items FOR EACH ROW
  WHEN (NEW.name = 'self-destruct') EXECUTE FUNCTION hw.self_destruct();
CREATE CONSTRAINT TRIGGER deferred_self_destruct AFTER INSERT ON hw.items DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW WHEN (NEW.name = 'deferred-self-destruct') EXECUTE FUNCTION hw.self_destruct();

-- AFTER ROW trigger bumping another registered row of the same scope.
CREATE FUNCTION hw.bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE hw.items SET counter = counter + 1 WHERE _sync_scope_id = NEW._sync_scope_id AND id = 'counter';
  RETURN NULL;
END $$;
CREATE TRIGGER bump AFTER INSERT ON hw.items FOR EACH ROW WHEN (NEW.name = 'bump') EXECUTE FUNCTION hw.bump();

-- AFTER ROW trigger writing a table Oversync does not know.
CREATE FUNCTION hw.note_outside() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO hw.outside (scope, note) VALUES (NEW._sync_scope_id, NEW.id);
  RETURN NULL;
END $$;
CREATE TRIGGER note_outside AFTER INSERT ON hw.items FOR EACH ROW
  WHEN (NEW.name = 'outside') EXECUTE FUNCTION hw.note_outside();

-- BEFORE ROW trigger skipping the row (INSERT and UPDATE).
CREATE FUNCTION hw.skip() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE TRIGGER skip BEFORE INSERT OR UPDATE ON hw.items FOR EACH ROW
  WHEN (NEW.name = 'skip') EXECUTE FUNCTION hw.skip();

-- Statement-level triggers: one summarising an INSERT through its transition table, one that
-- fires for an UPDATE matching no row at all.
CREATE FUNCTION hw.summarise() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO hw.audit (_sync_scope_id, id, note)
  SELECT min(_sync_scope_id), 'stmt-' || min(id), count(*)::text || ' row(s)' FROM new_rows
   WHERE name LIKE 'stmt%' HAVING count(*) > 0;
  RETURN NULL;
END $$;
CREATE TRIGGER summarise AFTER INSERT ON hw.items REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION hw.summarise();
CREATE FUNCTION hw.mark() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- The owner guard fills _sync_scope_id with the bundle's scope.
  INSERT INTO hw.items (id, name) VALUES ('stmt-mark', 'statement') ON CONFLICT (_sync_scope_id, id)
    DO UPDATE SET counter = hw.items.counter + 1;
  RETURN NULL;
END $$;
CREATE TRIGGER mark AFTER UPDATE ON hw.audit FOR EACH STATEMENT EXECUTE FUNCTION hw.mark();

-- Deferred constraint triggers: one writing a registered row, one refusing the transaction.
CREATE FUNCTION hw.deferred_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO hw.audit (_sync_scope_id, id, note) VALUES (NEW._sync_scope_id, 'def-' || NEW.id, 'deferred');
  RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER deferred_audit AFTER INSERT ON hw.items DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW WHEN (NEW.name = 'deferred-audit') EXECUTE FUNCTION hw.deferred_audit();
CREATE FUNCTION hw.deferred_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'item % refused by a deferred host check', NEW.id;
END $$;
CREATE CONSTRAINT TRIGGER deferred_refuse AFTER INSERT ON hw.items DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW WHEN (NEW.name = 'deferred-refuse') EXECUTE FUNCTION hw.deferred_refuse();

-- The same self-destruct rule on a table the client test devices know.
CREATE FUNCTION hw.doc_self_destruct() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM business.docs WHERE _sync_scope_id = NEW._sync_scope_id AND doc_id = NEW.doc_id;
  RETURN NULL;
END $$;
CREATE TRIGGER doc_self_destruct AFTER INSERT ON business.docs FOR EACH ROW
  WHEN (NEW.body = 'self-destruct') EXECUTE FUNCTION hw.doc_self_destruct();
`;

const HW_TABLES = ['vals', 'items', 'audit'].map((table) => ({
  schema: 'hw',
  table,
  syncKeyColumns: ['id'],
}));

type Write = (trx: Transaction<unknown>) => Promise<unknown>;
/** A callback running raw SQL on the bundle's transaction. */
const raw =
  (...statements: string[]): Write =>
  async (trx) => {
    for (const text of statements) await sql.raw(text).execute(trx);
  };
const nested = (open: string, close: string, depth: number, inner = ''): string =>
  open.repeat(depth) + inner + close.repeat(depth);

/** Values of `hw.vals` the server refuses at finalisation: label, column, VALUES of `(id, column)`. */
const REFUSED: ReadonlyArray<readonly [label: string, column: string, value: string]> = [
  ['a numeric of 1e400', 'n', `1e400`],
  ['a numeric domain of -1e400', 'dn', `-1e400`],
  ['a numeric[] holding 1e400', 'narr', `ARRAY[1, 1e400]`],
  ['a composite holding 1e400', 'p', `ROW(1, 1e400)`],
  ['a jsonb number of 1e400', 'jb', `'{"a": 1e400}'`],
  ['a json holding both \\u0000 and \\u0001', 'j', `'["\\u0000", "\\u0001"]'`],
  ['a json nested 700 levels deep', 'j', `'${nested('[', ']', 700)}'`],
];

/** Writes through the host's own routes: `@ScopeWrite` methods, as an admin panel would. */
const ROUTE_WRITES: Readonly<Record<string, Write>> = {
  'numeric-overflow': raw(`INSERT INTO hw.vals (id, n) VALUES ('a', 1e400)`),
  'json-nul-and-soh': raw(`INSERT INTO hw.vals (id, j) VALUES ('a', '["\\u0000", "\\u0001"]')`),
  'json-too-deep': raw(`INSERT INTO hw.vals (id, j) VALUES ('a', '${nested('[', ']', 700)}')`),
  skipped: raw(`INSERT INTO hw.items (id, name) VALUES ('a', 'skip')`),
  'self-destruct': raw(`INSERT INTO hw.items (id, name) VALUES ('a', 'self-destruct')`),
  swallowed: async (trx) => {
    await sql`INSERT INTO hw.items (id, name) VALUES ('a', 'kept?')`.execute(trx);
    await sql`SELECT 1 / 0`.execute(trx).catch(() => undefined);
  },
};

@Injectable()
class HostWrites {
  constructor(private readonly scope: ScopeWriteContext) {}

  @ScopeWrite('host-admin')
  async run(scopeId: string, name: string): Promise<{ scope: string }> {
    await ROUTE_WRITES[name](this.scope.trx);
    return { scope: scopeId };
  }
}

@Controller('host')
class HostWritesController {
  constructor(private readonly writes: HostWrites) {}

  @Post(':scope/:write')
  run(@Param('scope') scope: string, @Param('write') write: string): Promise<{ scope: string }> {
    return this.writes.run(scope, write);
  }
}

/** What a scope holds on the server: bundles, the next sequence, and the rows of the hw tables. */
interface ScopeFootprint {
  bundles: number;
  nextSeq: number | null;
  tombstones: number;
  rows: number;
}

describe('server writes with bad data and unusual host triggers (real PostgreSQL, real HTTP)', () => {
  let t: OversyncTestApp;
  let scopes: ScopeManager;
  const devices: Device[] = [];
  const q = (text: string, values: unknown[] = []) => execSql(t.db.url, text, values);
  const write = (scope: string, fn: Write, writerId = 'w') => scopes.execWrite(scope, { writerId }, fn);
  /** The rejection of a write (fails the test when it commits). */
  const refusal = async (scope: string, fn: Write): Promise<Error> => {
    const outcome = await write(scope, fn).then(
      (r) => r.bundle,
      (e: unknown) => e as Error,
    );
    if (!(outcome instanceof Error))
      throw new Error(`expected a refusal, got bundle ${JSON.stringify(outcome)}`);
    return outcome;
  };
  const footprint = async (scope: string): Promise<ScopeFootprint> => {
    const { rows } = await q(
      `SELECT (SELECT count(*)::int FROM sync.bundle_log b JOIN sync.user_state u USING (user_pk) WHERE u.user_id = $1) AS bundles,
              (SELECT next_bundle_seq::int FROM sync.user_state WHERE user_id = $1) AS "nextSeq",
              (SELECT count(*)::int FROM sync.row_state r JOIN sync.user_state u USING (user_pk) WHERE u.user_id = $1 AND r.deleted) AS tombstones,
              (SELECT count(*)::int FROM (SELECT 1 FROM hw.vals WHERE _sync_scope_id = $1 UNION ALL
                                           SELECT 1 FROM hw.items WHERE _sync_scope_id = $1 UNION ALL
                                           SELECT 1 FROM hw.audit WHERE _sync_scope_id = $1) x) AS rows`,
      [scope],
    );
    return rows[0] as ScopeFootprint;
  };
  /** Nothing of a refused first write is left, and the next write of the scope is bundle 1. */
  const expectNothingLeft = async (scope: string) => {
    expect(await footprint(scope)).toEqual({ bundles: 0, nextSeq: null, tombstones: 0, rows: 0 });
    const next = await write(scope, raw(`INSERT INTO hw.items (id, name) VALUES ('after', 'fine')`));
    expect(next.bundle).toMatchObject({ bundle_seq: 1, source_bundle_id: 1, row_count: 1 });
  };
  const pullBundle = async (scope: string, seq: number) => {
    const reply = await syncClient(
      t.baseUrl,
      scope,
      'reader',
    )<PullResponse>({ path: `/sync/pull?after_bundle_seq=${seq - 1}&max_bundles=1` });
    expect(reply.status).toBe(200);
    const bundle = reply.json.bundles[0];
    expect(bundle.bundle_seq).toBe(seq);
    return bundle;
  };
  const hashOf = (rows: readonly BundleRow[]) =>
    computeBundleHash(rows.map((r) => ({ ...r, payload: r.payload ?? null })));
  /**
   * Checks that pull, committed rows and the bundle summary agree on `bundle`, and that a client
   * recomputes its hash from the rows it was served; returns the pulled rows.
   */
  const servedAlike = async (scope: string, bundle: CommittedBundle): Promise<BundleRow[]> => {
    const pulled = await pullBundle(scope, bundle.bundle_seq);
    const committed = await fetchCommittedRows(syncClient(t.baseUrl, scope, 'reader'), bundle.bundle_seq);
    expect(committed.rows).toEqual(pulled.rows);
    expect({
      pulled: pulled.bundle_hash,
      committed: committed.pages[0].bundle_hash,
      recomputed: hashOf(pulled.rows),
    }).toEqual({ pulled: bundle.bundle_hash, committed: bundle.bundle_hash, recomputed: bundle.bundle_hash });
    return pulled.rows;
  };
  const hostRoute = async (scope: string, name: string) => {
    const reply = await syncCall<{ statusCode?: number; error?: string; message?: string }>(t.baseUrl, {
      method: 'POST',
      path: `/host/${scope}/${name}`,
    });
    return { status: reply.status, body: reply.json };
  };

  beforeAll(async () => {
    t = await createOversyncTestApp({
      schemaSql: businessSchemaSql('business') + HW_SCHEMA,
      listen: true,
      options: { registeredTables: [...businessTables('business'), ...HW_TABLES] },
      providers: [HostWrites, { provide: APP_FILTER, useClass: OversyncExceptionFilter }],
      controllers: [HostWritesController],
    });
    scopes = t.get(ScopeManager);
  });
  afterAll(async () => {
    for (const d of devices) await closeDevice(d).catch(() => undefined);
    await t?.close();
  });

  describe('values the wire cannot carry', () => {
    it.each(REFUSED)(
      'refuses %s with nothing committed: no bundle, no sequence gap, no row',
      async (_label, column, value) => {
        const scope = newUser('refused');
        await refusal(
          scope,
          raw(
            `INSERT INTO hw.items (id, name) VALUES ('beside', 'a valid row in the same bundle')`,
            `INSERT INTO hw.vals (id, ${column}) VALUES ('a', ${value})`,
          ),
        );
        await expectNothingLeft(scope);
      },
    );

    it('refuses every such value with a typed ScopeWriteInvalidError naming the table and column', async () => {
      const seen: Array<{ value: string; error: string; names: boolean }> = [];
      for (const [label, column, value] of REFUSED) {
        const error = await refusal(
          newUser('typed'),
          raw(`INSERT INTO hw.vals (id, ${column}) VALUES ('a', ${value})`),
        );
        seen.push({
          value: label,
          error: error instanceof ScopeWriteInvalidError ? 'ScopeWriteInvalidError' : error.constructor.name,
          // PostgreSQL's stack-depth error says nothing of where it was: only the depth is named.
          names: label.includes('levels deep') || error.message.includes(`hw.vals.${column}`),
        });
      }
      // Only the too-deep json used to get a typed error; a number beyond float64 (22003) and a json
      // holding \u0000 and \u0001 (22P05) reached the host as a bare database error (a 500 on a
      // host route) naming the column alone. Finalisation now types them, naming schema.table.column.
      expect(seen).toEqual(
        REFUSED.map(([label]) => ({ value: label, error: 'ScopeWriteInvalidError', names: true })),
      );
    });

    it('answers a value too deep to canonicalise 400 oversync_scope_write_invalid on a host route', async () => {
      const scope = newUser('route-deep');
      expect(await hostRoute(scope, 'json-too-deep')).toMatchObject({
        status: 400,
        body: { error: 'oversync_scope_write_invalid' },
      });
      await expectNothingLeft(scope);
    });

    it.each(['numeric-overflow', 'json-nul-and-soh'])(
      'answers a host route whose write holds an unrenderable value (%s) 400, not a generic 500',
      async (name) => {
        const scope = newUser('route-value');
        const reply = await hostRoute(scope, name);
        expect(await footprint(scope)).toEqual({ bundles: 0, nextSeq: null, tombstones: 0, rows: 0 });
        // The caller's data used to be answered like a crash (a bare DatabaseError, so Nest's 500);
        // finalisation now types it, and OversyncExceptionFilter answers 400.
        expect(reply).toMatchObject({ status: 400, body: { error: 'oversync_scope_write_invalid' } });
      },
    );

    it.each([
      [
        'jsonb holding a \\u0000 escape',
        raw(`INSERT INTO hw.vals (id, jb) VALUES ('a', '["\\u0000"]')`),
        '22P05',
      ],
      ['text holding NUL', raw(`INSERT INTO hw.vals (id, t) VALUES ('a', 'a' || chr(0))`), '54000'],
      [
        'text bound with NUL',
        (trx: Transaction<unknown>) =>
          sql`INSERT INTO hw.vals (id, t) VALUES ('a', ${'a\u0000b'})`.execute(trx),
        '22021',
      ],
      ['a double precision of 1e400', raw(`INSERT INTO hw.vals (id, d) VALUES ('a', 1e400)`), '22003'],
    ] as const)(
      "passes PostgreSQL's own refusal of %s through unchanged, with nothing committed",
      async (_label, fn, state) => {
        const scope = newUser('pg-refused');
        const error = await refusal(scope, fn);
        expect((error as Error & { code?: string }).code).toBe(state);
        await expectNothingLeft(scope);
      },
    );
  });

  describe('values that are carried', () => {
    const DEEP = 600;
    const deepArray = (depth: number): JsonValue => (depth === 0 ? [] : [deepArray(depth - 1)]);
    const CARRIED: ReadonlyArray<
      readonly [label: string, values: string, expected: JsonObject, pushable: boolean]
    > = [
      [
        'non-finite double, real, numeric, array and composite values',
        `(id, d, r, n, arr, p) VALUES ('a', 'NaN', 'Infinity', '-Infinity', ARRAY['NaN'::float8, '-Infinity'], ROW('NaN', 'NaN'))`,
        { d: 'NaN', r: 'Infinity', n: '-Infinity', arr: ['NaN', '-Infinity'], p: { n: 'NaN', x: 'NaN' } },
        true,
      ],
      [
        'numeric NaN, Infinity and an underflow to 0',
        `(id, n, dn, narr) VALUES ('a', 'NaN', 'Infinity', ARRAY[1e-400, 2])`,
        { n: 'NaN', dn: 'Infinity', narr: [0, 2] },
        true,
      ],
      [
        'timestamps in year 1, 9999 and a BC date',
        `(id, ts, tsn, dt) VALUES ('a', '0001-01-01 00:00:00+00', '9999-12-31 23:59:59.999999', '0044-03-15 BC')`,
        { ts: '0001-01-01T00:00:00+00:00', tsn: '9999-12-31T23:59:59.999999', dt: '0044-03-15 BC' },
        true,
      ],
      [
        'BC timestamps',
        `(id, ts, tsn) VALUES ('a', '0044-03-15 12:00:00+00 BC', '4713-01-01 00:00:00 BC')`,
        { ts: '0044-03-15T12:00:00+00:00 BC', tsn: '4713-01-01T00:00:00 BC' },
        true,
      ],
      [
        '±infinity timestamps and dates',
        `(id, ts, tsn, dt) VALUES ('a', 'infinity', '-infinity', 'infinity')`,
        { ts: 'infinity', tsn: '-infinity', dt: 'infinity' },
        true,
      ],
      [
        'the last timestamptz and date PostgreSQL holds',
        `(id, ts, dt) VALUES ('a', '294276-12-31 23:59:59.999999+00', '5874897-12-31')`,
        { ts: '294276-12-31T23:59:59.999999+00:00', dt: '5874897-12-31' },
        true,
      ],
      [
        'bytea with NUL bytes and an enum needing escapes',
        `(id, b, m, t) VALUES ('a', '\\x00ff00', 'sad <3', E'\\u0001 <&> \\u2028')`,
        { b: 'AP8A', m: 'sad <3', t: '\u0001 <&> \u2028' },
        true,
      ],
      [
        'json holding a \\u0000 escape (no \\u0001)',
        `(id, j) VALUES ('a', '{"\\u0000k": ["\\u0000", "x"]}')`,
        { j: { '\u0000k': ['\u0000', 'x'] } },
        false,
      ],
      [
        `jsonb nested ${DEEP} levels deep`,
        `(id, jb) VALUES ('a', '${nested('[', ']', DEEP)}')`,
        { jb: deepArray(DEEP - 1) },
        true,
      ],
    ];

    it.each(CARRIED)(
      'serves %s alike through pull, committed rows and snapshots, with a hash the client recomputes',
      async (_label, values, expected) => {
        const scope = newUser('carried');
        const { bundle } = await write(scope, raw(`INSERT INTO hw.vals ${values}`));
        const rows = await servedAlike(scope, bundle);
        expect(rows).toHaveLength(1);
        expect(rows[0].payload).toMatchObject(expected);
        const snapshot = await snapshotRowsOf(t, scope);
        expect(snapshot.map((r) => r.payload)).toEqual([rows[0].payload]);
      },
    );

    it.each(CARRIED)(
      'lets a device push back a row holding %s unchanged, as it was served',
      async (label, values, _expected, pushable) => {
        const scope = newUser('echo');
        const { bundle } = await write(scope, raw(`INSERT INTO hw.vals ${values}`));
        const served = (await pullBundle(scope, bundle.bundle_seq)).rows[0];
        const device = syncClient(t.baseUrl, scope, 'device-1');
        const pushId = (await createSession(device, 1, 1)).json.push_id as string;
        const chunk = await uploadChunk(device, pushId, 0, [
          {
            schema: 'hw',
            table: 'vals',
            key: served.key,
            op: 'UPDATE',
            base_row_version: bundle.bundle_seq,
            payload: served.payload,
          },
        ]);
        const reply = chunk.status === 200 ? await commitSession(device, pushId) : chunk;
        if (pushable) {
          expect(reply.status).toBe(200);
          const echoed = await pullBundle(scope, reply.json.bundle_seq as number);
          expect(echoed.rows[0].payload).toEqual(served.payload);
          return;
        }
        // Known limitation (README, "Values"): a json (not jsonb) value holding a \u0000 escape, which
        // a server write can store, cannot be pushed back, since a push applies payloads through
        // jsonb. The refusal is clear and names the row, so the device's other changes are not
        // held back once the app drops or rewrites it. (Nesting used to be one: uploads stopped at
        // 500 levels while server writes reach about 650; both now stop at the canonicaliser's limit.)
        expect({ label, status: reply.status, error: reply.json.error }).toEqual({
          label,
          status: 400,
          error: 'push_chunk_invalid',
        });
        expect(reply.json.message).toContain(`hw.vals "a" holds the character U+0000`);
      },
    );

    it('lets a real device edit a server-written row whose jsonb is nested 600 levels deep', async () => {
      const scope = newUser('device-deep');
      const device = await openDevice({ baseUrl: t.baseUrl, userId: scope });
      devices.push(device);
      const id = randomUUID();
      await write(scope, (trx) =>
        sql`INSERT INTO business.typed_rows (id, name, enabled_flag, tags)
            VALUES (${id}, 'deep', 1, ${nested('[', ']', DEEP)}::jsonb)`.execute(trx),
      );
      await device.client.sync();
      expect(sqliteRows(device.db, 'SELECT name FROM typed_rows')).toEqual([{ name: 'deep' }]);
      // The user renames the row on the device and, separately, writes an unrelated doc.
      device.db.run(`UPDATE typed_rows SET name = 'renamed on the device' WHERE id = ?`, [id]);
      device.db.run(`INSERT INTO docs (doc_id, body) VALUES ('unrelated', 'pending beside it')`);
      const outcome = await device.client.pushPending().then(
        (r) => r.outcome as string,
        (e: unknown) => `${(e as Error).name}: ${(e as Error).message}`,
      );
      const server = {
        typed: (await q(`SELECT name FROM business.typed_rows WHERE _sync_scope_id = $1`, [scope])).rows,
        docs: (await q(`SELECT doc_id FROM business.docs WHERE _sync_scope_id = $1`, [scope])).rows,
      };
      // The upload limit (500 levels) used to be below what server writes reach: the device's
      // re-sent row was refused for good and held back the unrelated doc beside it.
      expect({ outcome, server }).toEqual({
        outcome: 'committed',
        server: { typed: [{ name: 'renamed on the device' }], docs: [{ doc_id: 'unrelated' }] },
      });
    });
  });

  describe('host triggers', () => {
    it('refuses, 422 on a host route, an INSERT that a BEFORE ROW trigger skipped, and an UPDATE it skipped', async () => {
      const scope = newUser('skip');
      const inserted = await refusal(scope, raw(`INSERT INTO hw.items (id, name) VALUES ('a', 'skip')`));
      expect(inserted).toBeInstanceOf(ScopeWriteNoCapturedChangesError);
      expect(await hostRoute(scope, 'skipped')).toMatchObject({
        status: 422,
        body: { error: 'oversync_scope_write_no_captured_changes' },
      });
      await expectNothingLeft(scope);
      const updated = await refusal(
        scope,
        raw(`UPDATE hw.items SET name = 'skip' WHERE _sync_scope_id = '${scope}' AND id = 'after'`),
      );
      expect(updated).toBeInstanceOf(ScopeWriteNoCapturedChangesError);
      expect(await footprint(scope)).toEqual({ bundles: 1, nextSeq: 2, tombstones: 0, rows: 1 });
    });

    it('leaves out a row that a deferred constraint trigger deleted again (nothing else: no bundle)', async () => {
      const scope = newUser('deferred-gone');
      const error = await refusal(
        scope,
        raw(`INSERT INTO hw.items (id, name) VALUES ('x', 'deferred-self-destruct')`),
      );
      expect(error).toBeInstanceOf(ScopeWriteNoCapturedChangesError);
      await expectNothingLeft(scope);
      const { bundle } = await write(
        scope,
        raw(`INSERT INTO hw.items (id, name) VALUES ('x', 'deferred-self-destruct'), ('y', 'real')`),
      );
      expect((await servedAlike(scope, bundle)).map((r) => `${r.op} ${r.key.id}`)).toEqual(['INSERT y']);
    });

    it('captures nothing for a row an AFTER ROW trigger deleted right after its INSERT', async () => {
      const scope = newUser('self-destruct');
      const outcome = await write(
        scope,
        raw(`INSERT INTO hw.items (id, name) VALUES ('x', 'self-destruct')`),
      ).then(
        (r) => (r.bundle.row_count > 0 ? `bundle ${r.bundle.bundle_seq}` : 'empty bundle'),
        (e: unknown) => (e instanceof Error ? e.constructor.name : String(e)),
      );
      const served =
        outcome === 'bundle 1' ? (await pullBundle(scope, 1)).rows.map((r) => `${r.op} ${r.key.id}`) : [];
      // The row never existed outside the transaction, yet a DELETE of it (and a row_state
      // tombstone) used to be committed: the host's nested DELETE is staged before the INSERT's
      // statement-level capture. Equal INSERT and DELETE counts with no row at the end mean the row
      // was absent at the start too, whatever the staging order, so it is left out.
      expect({ outcome, served, footprint: await footprint(scope) }).toEqual({
        outcome: 'ScopeWriteNoCapturedChangesError',
        served: [],
        footprint: { bundles: 0, nextSeq: null, tombstones: 0, rows: 0 },
      });
    });

    it('answers 422 on a host route whose only row a trigger removed, like any write that changed nothing', async () => {
      const scope = newUser('route-self-destruct');
      const reply = await hostRoute(scope, 'self-destruct');
      // The phantom DELETE used to make this a committed bundle, 201.
      expect(reply).toMatchObject({
        status: 422,
        body: { error: 'oversync_scope_write_no_captured_changes' },
      });
    });

    it('leaves a trigger-removed row out of what a real client device applies, which can then create that key', async () => {
      const scope = newUser('device-phantom');
      const device = await openDevice({ baseUrl: t.baseUrl, userId: scope });
      devices.push(device);
      const { bundle } = await write(
        scope,
        raw(
          `INSERT INTO business.docs (doc_id, body) VALUES ('phantom', 'self-destruct'), ('kept', 'a real doc')`,
        ),
      );
      await device.client.sync();
      expect(device.client.lastBundleSeqSeen()).toBe(bundle.bundle_seq);
      expect(sqliteRows(device.db, 'SELECT doc_id, body FROM docs ORDER BY doc_id')).toEqual([
        { doc_id: 'kept', body: 'a real doc' },
      ]);
      // The device then creates the removed row's key itself (no tombstone stands in its way).
      device.db.run(`INSERT INTO docs (doc_id, body) VALUES ('phantom', 'made on the device')`);
      await device.client.sync();
      const expected = [
        { doc_id: 'kept', body: 'a real doc' },
        { doc_id: 'phantom', body: 'made on the device' },
      ];
      expect(
        (await q(`SELECT doc_id, body FROM business.docs WHERE _sync_scope_id = $1 ORDER BY doc_id`, [scope]))
          .rows,
      ).toEqual(expected);
      expect(sqliteRows(device.db, 'SELECT doc_id, body FROM docs ORDER BY doc_id')).toEqual(expected);
    });

    it('keeps a doc a device created offline under a key that a host trigger removed inside a server write', async () => {
      const scope = newUser('device-ghost');
      const offline = await openDevice({ baseUrl: t.baseUrl, userId: scope });
      devices.push(offline);
      // The device creates "ghost" before it has seen the server write below.
      offline.db.run(`INSERT INTO docs (doc_id, body) VALUES ('ghost', 'made offline')`);
      await write(
        scope,
        raw(
          `INSERT INTO business.docs (doc_id, body) VALUES ('ghost', 'self-destruct'), ('kept', 'a real doc')`,
        ),
      );
      const result = await offline.client.sync();
      const server = (
        await q(`SELECT doc_id, body FROM business.docs WHERE _sync_scope_id = $1 ORDER BY doc_id`, [scope])
      ).rows;
      const local = sqliteRows(offline.db, 'SELECT doc_id, body FROM docs ORDER BY doc_id');
      // The phantom DELETE of "ghost" used to leave a tombstone at version 1, so the device's INSERT
      // (base 0) conflicted and the default serverWins resolver dropped the user's offline doc.
      expect({ push: result.pushOutcome, server, local }).toEqual({
        push: 'committed',
        server: [
          { doc_id: 'ghost', body: 'made offline' },
          { doc_id: 'kept', body: 'a real doc' },
        ],
        local: [
          { doc_id: 'ghost', body: 'made offline' },
          { doc_id: 'kept', body: 'a real doc' },
        ],
      });
    });

    it('captures a trigger’s UPDATE of another registered row of the scope in the same bundle', async () => {
      const scope = newUser('bump');
      await write(scope, raw(`INSERT INTO hw.items (id, name) VALUES ('counter', 'counts bumps')`));
      const { bundle } = await write(
        scope,
        raw(`INSERT INTO hw.items (id, name) VALUES ('b1', 'bump'), ('b2', 'bump')`),
      );
      const rows = await servedAlike(scope, bundle);
      expect(rows.map((r) => [r.op, r.key.id, r.payload?.counter])).toEqual([
        ['UPDATE', 'counter', 2],
        ['INSERT', 'b1', 0],
        ['INSERT', 'b2', 0],
      ]);
    });

    it('keeps a trigger’s write to an unregistered table out of the bundle, committed or rolled back with it', async () => {
      const scope = newUser('outside');
      const { bundle } = await write(scope, raw(`INSERT INTO hw.items (id, name) VALUES ('o1', 'outside')`));
      expect((await servedAlike(scope, bundle)).map((r) => `${r.op} ${r.table}.${r.key.id}`)).toEqual([
        'INSERT items.o1',
      ]);
      const failed = await refusal(
        scope,
        raw(
          `INSERT INTO hw.items (id, name) VALUES ('o2', 'outside')`,
          `INSERT INTO hw.vals (id, n) VALUES ('bad', 1e400)`,
        ),
      );
      expect(failed.message).toMatch(/beyond the float64 range/);
      expect((await q(`SELECT note FROM hw.outside WHERE scope = $1 ORDER BY n`, [scope])).rows).toEqual([
        { note: 'o1' },
      ]);
      expect(await footprint(scope)).toEqual({ bundles: 1, nextSeq: 2, tombstones: 0, rows: 1 });
    });

    it('captures the writes of statement-level triggers, including one fired by an UPDATE of no row', async () => {
      const scope = newUser('statement');
      const first = await write(
        scope,
        raw(`INSERT INTO hw.items (id, name) VALUES ('s1', 'stmt one'), ('s2', 'stmt two'), ('s3', 'plain')`),
      );
      expect(
        (await servedAlike(scope, first.bundle)).map((r) => [r.op, r.table, r.key.id, r.payload?.note]),
      ).toEqual([
        ['INSERT', 'items', 's1', undefined],
        ['INSERT', 'items', 's2', undefined],
        ['INSERT', 'items', 's3', undefined],
        ['INSERT', 'audit', 'stmt-s1', '2 row(s)'],
      ]);
      const second = await write(
        scope,
        raw(`UPDATE hw.audit SET note = 'none' WHERE _sync_scope_id = '${scope}' AND id = 'no such row'`),
      );
      expect((await servedAlike(scope, second.bundle)).map((r) => [r.op, r.key.id, r.payload?.name])).toEqual(
        [['INSERT', 'stmt-mark', 'statement']],
      );
    });

    it('captures a deferred constraint trigger’s write in the same bundle (fired before finalisation)', async () => {
      const scope = newUser('deferred');
      const { bundle } = await write(
        scope,
        raw(`INSERT INTO hw.items (id, name) VALUES ('d1', 'deferred-audit')`),
      );
      expect((await servedAlike(scope, bundle)).map((r) => `${r.op} ${r.table}.${r.key.id}`)).toEqual([
        'INSERT items.d1',
        'INSERT audit.def-d1',
      ]);
      expect(await footprint(scope)).toEqual({ bundles: 1, nextSeq: 2, tombstones: 0, rows: 2 });
    });

    it("fails the write with the host's own error when a deferred constraint trigger refuses it", async () => {
      const scope = newUser('deferred-refuse');
      const error = await refusal(
        scope,
        raw(
          `INSERT INTO hw.items (id, name) VALUES ('ok', 'fine')`,
          `INSERT INTO hw.items (id, name) VALUES ('r1', 'deferred-refuse')`,
        ),
      );
      expect(error).toMatchObject({ code: 'P0001', message: 'item r1 refused by a deferred host check' });
      await expectNothingLeft(scope);
    });
  });

  describe('callbacks that break or end the transaction', () => {
    it('reports a swallowed PostgreSQL error as a broken transaction (500 on a host route), committing nothing', async () => {
      const scope = newUser('swallow');
      const error = await refusal(scope, async (trx) => {
        await sql`INSERT INTO hw.items (id, name) VALUES ('a', 'first')`.execute(trx);
        // A host that logs and carries on after a failed statement.
        await sql`INSERT INTO hw.vals (id, jb) VALUES ('bad', '["\\u0000"]')`
          .execute(trx)
          .catch(() => undefined);
      });
      expect(error).toBeInstanceOf(ScopeWriteTransactionBrokenError);
      expect(error).toMatchObject({ details: { reason: 'aborted', scope_id: scope } });
      await expectNothingLeft(scope);
      const other = newUser('route-swallow');
      expect(await hostRoute(other, 'swallowed')).toEqual({
        status: 500,
        body: {
          statusCode: 500,
          error: 'oversync_scope_write_transaction_broken',
          message: 'Internal server error',
        },
      });
      expect(await footprint(other)).toEqual({ bundles: 0, nextSeq: null, tombstones: 0, rows: 0 });
    });

    it('commits the rest of a callback that caught the error inside its own savepoint', async () => {
      const scope = newUser('savepoint');
      const { bundle } = await write(scope, async (trx) => {
        await sql`INSERT INTO hw.items (id, name) VALUES ('a', 'kept')`.execute(trx);
        await sql`SAVEPOINT host_try`.execute(trx);
        try {
          await sql`INSERT INTO hw.items (id, name) VALUES ('b', 'rolled back')`.execute(trx);
          await sql`INSERT INTO hw.vals (id, jb) VALUES ('bad', '["\\u0000"]')`.execute(trx);
        } catch {
          await sql`ROLLBACK TO SAVEPOINT host_try`.execute(trx);
        }
        await sql`INSERT INTO hw.items (id, name) VALUES ('c', 'after')`.execute(trx);
      });
      expect((await servedAlike(scope, bundle)).map((r) => `${r.op} ${r.key.id}`)).toEqual([
        'INSERT a',
        'INSERT c',
      ]);
    });

    it('reports a raw ROLLBACK in the callback, commits nothing, and the next write of the scope is bundle 1', async () => {
      const scope = newUser('rollback');
      const error = await refusal(
        scope,
        raw(`INSERT INTO hw.items (id, name) VALUES ('a', 'undone')`, `ROLLBACK`),
      );
      expect(error).toBeInstanceOf(ScopeWriteTransactionBrokenError);
      expect(error).toMatchObject({ details: { reason: 'ended' } });
      await expectNothingLeft(scope);
    });

    it('reports a raw COMMIT (its rows stay, unsynced, as documented) and leaves the scope and pool usable', async () => {
      const scope = newUser('commit');
      const error = await refusal(
        scope,
        raw(`INSERT INTO hw.items (id, name) VALUES ('orphan', 'committed by the callback')`, `COMMIT`),
      );
      expect(error).toBeInstanceOf(ScopeWriteTransactionBrokenError);
      expect(error).toMatchObject({ details: { reason: 'ended' } });
      // Documented hazard: PostgreSQL cannot refuse the host's COMMIT, so the row exists without a
      // bundle. The scope itself was initialised in the committed part.
      expect(await footprint(scope)).toEqual({ bundles: 0, nextSeq: 1, tombstones: 0, rows: 1 });
      // Writes after the callback's COMMIT run outside any bundle context and are refused.
      const after = await refusal(
        scope,
        raw(`COMMIT`, `INSERT INTO hw.items (id, name) VALUES ('later', 'outside the bundle')`),
      );
      expect(after).toBeInstanceOf(RegisteredWriteRejectedError);
      expect(after.message).toMatch(/requires oversync sync bundle context/);
      // The scope lock was released and the connections went back clean: ten writes in parallel.
      const parallel = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          write(scope, raw(`INSERT INTO hw.items (id, name) VALUES ('p${i}', 'parallel')`)),
        ),
      );
      expect(parallel.map((r) => r.bundle.bundle_seq).sort((a, b) => a - b)).toEqual([
        1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
      ]);
    });
  });
});
