import { sql, type Kysely } from 'kysely';

import { createTestDatabase, type TestDatabase } from '../../../../test/support/test-database.js';
import { createTestKysely } from '../../../../test/support/test-kysely.js';
import { OversyncConfigError, UnsupportedSchemaError } from '../errors/index.js';
import { validateRegisteredTables, type RegisteredTableInput } from './table-validator.js';

let database: TestDatabase;
let db: Kysely<unknown>;
/** Runs (multi-statement) DDL on the test database. */
const runSql = (text: string) => sql.raw(text).execute(db);
let schemaCounter = 0;

beforeAll(async () => {
  database = await createTestDatabase('oversync_table_validation');
  db = createTestKysely(database.url);
});

afterAll(async () => {
  await db?.destroy();
  await database?.drop();
});

/** Runs `ddl` (with `S` standing for a fresh schema) and returns that schema's name. */
async function schemaWith(ddl: string): Promise<string> {
  schemaCounter += 1;
  const schema = `tv${schemaCounter}`;
  await runSql(`CREATE SCHEMA ${schema}; ${ddl.replaceAll('S.', `${schema}.`)}`);
  return schema;
}

async function rejection(tables: RegisteredTableInput[]): Promise<UnsupportedSchemaError> {
  const error: unknown = await validateRegisteredTables(db, tables).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(UnsupportedSchemaError);
  return error as UnsupportedSchemaError;
}

const scoped = (key: string, type = 'uuid'): string =>
  `_sync_scope_id text NOT NULL, ${key} ${type} NOT NULL, PRIMARY KEY (_sync_scope_id, ${key})`;

/** An ICU case-insensitive (nondeterministic) collation, shared by the test schemas. */
const CASE_INSENSITIVE =
  "CREATE COLLATION IF NOT EXISTS public.tv_ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false)";

describe('validateRegisteredTables: accepted shapes', () => {
  it('accepts a uuid key and reports columns, kind and bytea columns', async () => {
    const s = await schemaWith(`
      CREATE TABLE S.files (_sync_scope_id text NOT NULL, id uuid NOT NULL, name text NOT NULL, data bytea NOT NULL,
        thumb bytea, tags text[], PRIMARY KEY (_sync_scope_id, id));`);
    const [files] = await validateRegisteredTables(db, [
      { schema: s, table: 'files', syncKeyColumns: ['id'] },
    ]);
    expect(files).toEqual({
      schema: s,
      table: 'files',
      qualifiedName: `${s}.files`,
      keyColumn: 'id',
      keyKind: 'uuid',
      columns: new Map([
        ['_sync_scope_id', 'text'],
        ['id', 'uuid'],
        ['name', 'text'],
        ['data', 'bytea'],
        ['thumb', 'bytea'],
        ['tags', '_text'],
      ]),
      byteaColumns: ['data', 'thumb'],
    });
    expect(Object.isFrozen(files)).toBe(true);
  });

  it('accepts a text key (A6) and normalizes names, blank schema and repeated key columns', async () => {
    await runSql(`CREATE TABLE public.products (_sync_scope_id text NOT NULL, code text NOT NULL,
      PRIMARY KEY (_sync_scope_id, code))`);
    const [products] = await validateRegisteredTables(db, [
      { schema: '  ', table: ' Products ', syncKeyColumns: [' CODE', 'code', ''] },
    ]);
    expect(products).toMatchObject({
      schema: 'public',
      table: 'products',
      qualifiedName: 'public.products',
      keyColumn: 'code',
      keyKind: 'text',
      byteaColumns: [],
    });
  });

  it('accepts a visible key that differs from the primary key when (scope, key) is unique (A7)', async () => {
    const s = await schemaWith(`
      CREATE TABLE S.users (_sync_scope_id text NOT NULL, pk_id uuid NOT NULL, external_id uuid NOT NULL,
        PRIMARY KEY (_sync_scope_id, pk_id), UNIQUE (_sync_scope_id, external_id));`);
    const [users] = await validateRegisteredTables(db, [
      { schema: s, table: 'users', syncKeyColumns: ['external_id'] },
    ]);
    expect(users).toMatchObject({ keyColumn: 'external_id', keyKind: 'uuid' });
  });

  it('accepts a domain over text as the scope column, and INCLUDE columns on the identity index', async () => {
    const s = await schemaWith(`
      CREATE DOMAIN S.owner_id AS text;
      CREATE TABLE S.notes (_sync_scope_id S.owner_id NOT NULL, id uuid NOT NULL, title text);
      CREATE UNIQUE INDEX notes_identity ON S.notes (_sync_scope_id, id) INCLUDE (title);`);
    const [notes] = await validateRegisteredTables(db, [
      { schema: s, table: 'notes', syncKeyColumns: ['id'] },
    ]);
    expect(notes?.columns.get('_sync_scope_id')).toBe('text');
  });

  it('resolves nested domains to their base type and NOT NULL', async () => {
    const s = await schemaWith(`
      CREATE DOMAIN S.owner AS text NOT NULL;
      CREATE DOMAIN S.owner2 AS S.owner;
      CREATE DOMAIN S.bytes AS bytea;
      CREATE DOMAIN S.bytes2 AS S.bytes;
      CREATE DOMAIN S.bytes3 AS S.bytes2;
      CREATE TABLE S.blobs (_sync_scope_id S.owner2, id text NOT NULL, raw1 S.bytes, raw3 S.bytes3,
        PRIMARY KEY (_sync_scope_id, id));`);
    const [blobs] = await validateRegisteredTables(db, [
      { schema: s, table: 'blobs', syncKeyColumns: ['id'] },
    ]);
    expect(blobs).toMatchObject({
      columns: new Map([
        ['_sync_scope_id', 'text'],
        ['id', 'text'],
        ['raw1', 'bytea'],
        ['raw3', 'bytea'],
      ]),
      byteaColumns: ['raw1', 'raw3'],
    });
  });

  it('accepts a deterministically collated text key next to a case-insensitive non-key column', async () => {
    const s = await schemaWith(`
      ${CASE_INSENSITIVE};
      CREATE TABLE S.tags (_sync_scope_id text COLLATE "default" NOT NULL, id text COLLATE "C" NOT NULL,
        label text COLLATE public.tv_ci, PRIMARY KEY (_sync_scope_id, id));`);
    const [tags] = await validateRegisteredTables(db, [{ schema: s, table: 'tags', syncKeyColumns: ['id'] }]);
    expect(tags).toMatchObject({ keyColumn: 'id', keyKind: 'text' });
  });

  it('accepts a partitioned table (bootstrap covers its partitions)', async () => {
    const s = await schemaWith(`
      CREATE TABLE S.events (${scoped('id')}) PARTITION BY LIST (_sync_scope_id);
      CREATE TABLE S.events_rest PARTITION OF S.events DEFAULT;`);
    const [events] = await validateRegisteredTables(db, [
      { schema: s, table: 'events', syncKeyColumns: ['id'] },
    ]);
    expect(events).toMatchObject({ qualifiedName: `${s}.events`, keyKind: 'uuid' });
  });

  it('validates several tables in one call and keeps the configured order', async () => {
    const s = await schemaWith(`
      CREATE TABLE S.users (_sync_scope_id text NOT NULL, id uuid NOT NULL, PRIMARY KEY (_sync_scope_id, id));
      CREATE TABLE S.files (_sync_scope_id text NOT NULL, id text NOT NULL, PRIMARY KEY (_sync_scope_id, id));`);
    const result = await validateRegisteredTables(db, [
      { schema: s, table: 'users', syncKeyColumns: ['id'] },
      { schema: s, table: 'files', syncKeyColumns: ['id'] },
    ]);
    expect(result.map((t) => [t.table, t.keyKind])).toEqual([
      ['users', 'uuid'],
      ['files', 'text'],
    ]);
    await expect(validateRegisteredTables(db, [])).resolves.toEqual([]);
  });
});

describe('validateRegisteredTables: rejected shapes', () => {
  /** `table` defaults to the first `S.<name>` of `ddl`. */
  const cases: {
    name: string;
    ddl: string;
    table?: string;
    keys: string[];
    rule: string;
    parts: string[];
  }[] = [
    {
      name: 'no sync key column',
      ddl: `CREATE TABLE S.t (${scoped('id')});`,
      keys: [' ', ''],
      rule: 'sync_key_count',
      parts: ['must resolve to exactly one sync key column', 'found none'],
    },
    {
      name: 'two sync key columns',
      ddl: `CREATE TABLE S.t (${scoped('id')}, b uuid);`,
      keys: ['id', 'B'],
      rule: 'sync_key_count',
      parts: ['exactly one sync key column', 'found id, b', 'composite sync keys are not supported'],
    },
    {
      name: 'the scope column as key',
      ddl: `CREATE TABLE S.t (${scoped('id')});`,
      keys: ['_SYNC_SCOPE_ID'],
      rule: 'sync_key_is_scope',
      parts: ['cannot be _sync_scope_id'],
    },
    {
      name: 'a missing table',
      ddl: '',
      keys: ['id'],
      rule: 'table_missing',
      parts: ['no column metadata', 'create the table'],
    },
    {
      name: 'a view',
      ddl: `CREATE VIEW S.t AS SELECT 'u'::text AS _sync_scope_id, gen_random_uuid() AS id;`,
      keys: ['id'],
      rule: 'table_missing',
      parts: ['not an ordinary or partitioned table'],
    },
    {
      name: 'no scope column',
      ddl: 'CREATE TABLE S.t (id uuid PRIMARY KEY);',
      keys: ['id'],
      rule: 'scope_column_missing',
      parts: ['must define _sync_scope_id TEXT', 'missing'],
    },
    {
      name: 'a uuid scope column (A10)',
      ddl: 'CREATE TABLE S.t (_sync_scope_id uuid NOT NULL, id uuid NOT NULL, PRIMARY KEY (_sync_scope_id, id));',
      keys: ['id'],
      rule: 'scope_column_type',
      parts: ['must define _sync_scope_id TEXT', 'found uuid', 'TYPE text'],
    },
    {
      name: 'a varchar scope column',
      ddl: 'CREATE TABLE S.t (_sync_scope_id varchar(64) NOT NULL, id uuid NOT NULL, PRIMARY KEY (_sync_scope_id, id));',
      keys: ['id'],
      rule: 'scope_column_type',
      parts: ['found varchar'],
    },
    {
      name: 'a nullable scope column',
      ddl: 'CREATE TABLE S.t (_sync_scope_id text, id uuid NOT NULL, UNIQUE (_sync_scope_id, id));',
      keys: ['id'],
      rule: 'scope_column_nullable',
      parts: ['must be NOT NULL', 'SET NOT NULL'],
    },
    {
      name: 'a case-insensitive scope column',
      ddl: `${CASE_INSENSITIVE}; CREATE TABLE S.t (_sync_scope_id text COLLATE public.tv_ci NOT NULL, id uuid NOT NULL,
        PRIMARY KEY (_sync_scope_id, id));`,
      keys: ['id'],
      rule: 'scope_column_collation',
      parts: ['_sync_scope_id uses the nondeterministic collation public.tv_ci', 'COLLATE "C"'],
    },
    {
      name: 'a unique index that declares a case-insensitive collation',
      ddl: `${CASE_INSENSITIVE}; CREATE TABLE S.t (_sync_scope_id text NOT NULL, id text NOT NULL);
        CREATE UNIQUE INDEX t_ci_key ON S.t (_sync_scope_id, id COLLATE public.tv_ci);`,
      keys: ['id'],
      rule: 'unique_index_collation',
      parts: [
        'unique index t_ci_key uses the nondeterministic collation public.tv_ci',
        'without a COLLATE clause',
      ],
    },
    {
      name: 'a table with inheritance children',
      ddl: `CREATE TABLE S.t (${scoped('id')}); CREATE TABLE S.t_archive () INHERITS (S.t);`,
      keys: ['id'],
      rule: 'table_inheritance_parent',
      parts: ['has inheritance children (', '.t_archive)', 'NO INHERIT', 'PARTITION BY'],
    },
    {
      name: 'an inheritance child',
      ddl: `CREATE TABLE S.base (${scoped('id')}); CREATE TABLE S.t (${scoped('id')}) INHERITS (S.base);`,
      table: 't',
      keys: ['id'],
      rule: 'table_inheritance_child',
      parts: ['inherits from', '.base, and writes through', 'NO INHERIT'],
    },
    {
      name: 'a partition of another table',
      ddl: `CREATE TABLE S.p (${scoped('id')}) PARTITION BY LIST (_sync_scope_id); CREATE TABLE S.t PARTITION OF S.p DEFAULT;`,
      table: 't',
      keys: ['id'],
      rule: 'table_inheritance_child',
      parts: ['is a partition of', '.p, and writes through', 'register', '(the partitioned table) instead'],
    },
    {
      name: 'a missing key column',
      ddl: `CREATE TABLE S.t (${scoped('id')});`,
      keys: ['uid'],
      rule: 'sync_key_missing',
      parts: ['sync key column uid does not exist'],
    },
    {
      name: 'a bigint key (A6)',
      ddl: `CREATE TABLE S.memberships (${scoped('membership_no', 'bigint')});`,
      keys: ['membership_no'],
      rule: 'sync_key_type',
      parts: [
        '.memberships:',
        'is int8',
        'allows only uuid and text',
        'change the column type to uuid or text',
      ],
    },
    {
      name: 'an integer key (A6)',
      ddl: `CREATE TABLE S.counters (${scoped('counter_id', 'integer')});`,
      keys: ['counter_id'],
      rule: 'sync_key_type',
      parts: ['.counters:', 'is int4', 'allows only uuid and text'],
    },
    {
      name: 'a varchar key',
      ddl: `CREATE TABLE S.t (${scoped('code', 'varchar(20)')});`,
      keys: ['code'],
      rule: 'sync_key_type',
      parts: ['is varchar'],
    },
    {
      name: 'a numeric key',
      ddl: `CREATE TABLE S.t (${scoped('n', 'numeric')});`,
      keys: ['n'],
      rule: 'sync_key_type',
      parts: ['is numeric'],
    },
    {
      // Capture would pair a rename 'a' → 'A' as an UPDATE of 'A' and leave 'a' live in row_state.
      name: 'a case-insensitive (nondeterministic collation) text key',
      ddl: `${CASE_INSENSITIVE}; CREATE TABLE S.tags (_sync_scope_id text NOT NULL, id text COLLATE public.tv_ci NOT NULL,
        label text, PRIMARY KEY (_sync_scope_id, id));`,
      table: 'tags',
      keys: ['id'],
      rule: 'sync_key_collation',
      parts: [
        'sync key column id uses the nondeterministic collation public.tv_ci',
        'use a deterministic collation',
        'COLLATE "C" (or "default")',
      ],
    },
    {
      name: 'a key of a case-insensitive domain',
      ddl: `${CASE_INSENSITIVE}; CREATE DOMAIN S.ci_text AS text COLLATE public.tv_ci;
        CREATE TABLE S.t (_sync_scope_id text NOT NULL, id S.ci_text NOT NULL, PRIMARY KEY (_sync_scope_id, id));`,
      table: 't',
      keys: ['id'],
      rule: 'sync_key_collation',
      parts: ['nondeterministic collation public.tv_ci'],
    },
    {
      name: 'no unique index',
      ddl: 'CREATE TABLE S.t (_sync_scope_id text NOT NULL, id uuid NOT NULL);',
      keys: ['id'],
      rule: 'unique_index_missing',
      parts: ['has no unique index', 'PRIMARY KEY (_sync_scope_id, id)'],
    },
    {
      name: 'a partial unique index (A11)',
      ddl: `CREATE TABLE S.t (${scoped('id')}, deleted_at timestamptz); CREATE UNIQUE INDEX t_live ON S.t (_sync_scope_id, id) WHERE deleted_at IS NULL;`,
      keys: ['id'],
      rule: 'unique_index_partial_or_expression',
      parts: ['partial or expression unique index t_live'],
    },
    {
      name: 'an expression unique index (A11)',
      ddl: `CREATE TABLE S.t (${scoped('id')}, title text); CREATE UNIQUE INDEX t_title ON S.t (_sync_scope_id, lower(title));`,
      keys: ['id'],
      rule: 'unique_index_partial_or_expression',
      parts: ['partial or expression unique index t_title'],
    },
    {
      name: 'an ownerless unique constraint (A8)',
      ddl: `CREATE TABLE S.profiles (${scoped('id')}, name text, CONSTRAINT profiles_name_key UNIQUE (name));`,
      keys: ['id'],
      rule: 'unique_index_not_scoped',
      parts: [
        '.profiles:',
        'profiles_name_key (name) does not begin with _sync_scope_id',
        'UNIQUE (_sync_scope_id, name)',
      ],
    },
    {
      name: 'a unique key with the scope second',
      ddl: `CREATE TABLE S.t (${scoped('id')}, CONSTRAINT t_rev UNIQUE (id, _sync_scope_id));`,
      keys: ['id'],
      rule: 'unique_index_not_scoped',
      parts: ['t_rev (id, _sync_scope_id) does not begin with _sync_scope_id'],
    },
    {
      name: 'no (scope, key) identity (A7)',
      ddl: 'CREATE TABLE S.docs (_sync_scope_id text NOT NULL, pk_id uuid NOT NULL, doc_id uuid NOT NULL, PRIMARY KEY (_sync_scope_id, pk_id));',
      keys: ['doc_id'],
      rule: 'sync_key_identity',
      parts: [
        '.docs:',
        'must provide unique identity (_sync_scope_id, doc_id)',
        'add UNIQUE (_sync_scope_id, doc_id)',
      ],
    },
    {
      name: 'only a wider unique key',
      ddl: 'CREATE TABLE S.t (_sync_scope_id text NOT NULL, id uuid NOT NULL, v int NOT NULL, PRIMARY KEY (_sync_scope_id, id, v));',
      keys: ['id'],
      rule: 'sync_key_identity',
      parts: ['(_sync_scope_id, id)'],
    },
  ];

  it.each(cases)('rejects $name with rule $rule', async ({ ddl, keys, rule, parts, ...c }) => {
    const s = await schemaWith(ddl);
    const table = c.table ?? /S\.(\w+)/.exec(ddl)?.[1] ?? 't';
    const error = await rejection([{ schema: s, table, syncKeyColumns: keys }]);
    expect(error.code).toBe('oversync_unsupported_schema');
    expect(error.details).toMatchObject({ table: `${s}.${table}`, rule });
    expect(error.message).toMatch(new RegExp(`^Table ${s}\\.${table}: .+\\. Fix: .+\\.$`));
    expect(error.message).toContain(String(error.details.fix));
    for (const part of parts) expect(error.message).toContain(part);
  });

  it('reports the first broken table in configured order', async () => {
    const s = await schemaWith(`
      CREATE TABLE S.good (${scoped('id')});
      CREATE TABLE S.bad_type (${scoped('id', 'int')});
      CREATE TABLE S.bad_unique (${scoped('id')}, name text UNIQUE);`);
    const error = await rejection([
      { schema: s, table: 'good', syncKeyColumns: ['id'] },
      { schema: s, table: 'bad_unique', syncKeyColumns: ['id'] },
      { schema: s, table: 'bad_type', syncKeyColumns: ['id'] },
    ]);
    expect(error.details).toMatchObject({ table: `${s}.bad_unique`, rule: 'unique_index_not_scoped' });
  });

  it('rejects a table registered twice and a blank table name as configuration errors', async () => {
    const s = await schemaWith(`CREATE TABLE S.t (${scoped('id')});`);
    await expect(
      validateRegisteredTables(db, [
        { schema: s, table: 't', syncKeyColumns: ['id'] },
        { schema: s.toUpperCase(), table: ' T', syncKeyColumns: ['id'] },
      ]),
    ).rejects.toThrow(OversyncConfigError);
    await expect(
      validateRegisteredTables(db, [{ schema: s, table: ' ', syncKeyColumns: ['id'] }]),
    ).rejects.toThrow(/blank table name/);
  });
});
