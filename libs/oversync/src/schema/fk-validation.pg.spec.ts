import { sql, type Kysely } from 'kysely';

import { createTestDatabase, type TestDatabase } from '../../../../test/support/test-database.js';
import { createTestKysely } from '../../../../test/support/test-kysely.js';
import { UnsupportedSchemaError } from '../errors/index.js';
import { validateForeignKeys } from './fk-validator.js';
import { validateRegisteredTables, type ValidatedTable } from './table-validator.js';

let database: TestDatabase;
let db: Kysely<unknown>;
/** Runs (multi-statement) DDL on the test database. */
const runSql = (text: string) => sql.raw(text).execute(db);
let schemaCounter = 0;

beforeAll(async () => {
  database = await createTestDatabase('oversync_fk_validation');
  db = createTestKysely(database.url);
});

afterAll(async () => {
  await db?.destroy();
  await database?.drop();
});

/** A business table with PK (_sync_scope_id, id) and optional extra columns. */
const table = (name: string, extra = ''): string =>
  `CREATE TABLE S.${name} (_sync_scope_id text NOT NULL, id uuid NOT NULL${extra}, PRIMARY KEY (_sync_scope_id, id));`;

/** A scope-inclusive FK child(column) → parent(id). */
const fk = (
  child: string,
  column: string,
  parent: string,
  name: string,
  tail = 'DEFERRABLE INITIALLY DEFERRED',
) =>
  `ALTER TABLE S.${child} ADD CONSTRAINT ${name} FOREIGN KEY (_sync_scope_id, ${column})
     REFERENCES S.${parent} (_sync_scope_id, id) ${tail};`;

/** Runs `ddl` in a fresh schema (`S.` stands for it) and returns the schema name. */
async function schemaWith(...ddl: string[]): Promise<string> {
  schemaCounter += 1;
  const schema = `fk${schemaCounter}`;
  await runSql(`CREATE SCHEMA ${schema}; ${ddl.join('\n').replaceAll('S.', `${schema}.`)}`);
  return schema;
}

function register(schema: string, ...tables: string[]): Promise<ValidatedTable[]> {
  return validateRegisteredTables(
    db,
    tables.map((t) => ({ schema, table: t, syncKeyColumns: ['id'] })),
  );
}

async function rejection(
  tables: ValidatedTable[],
  overrides: Record<string, string[]> = {},
): Promise<UnsupportedSchemaError> {
  const error: unknown = await validateForeignKeys(db, tables, overrides).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(UnsupportedSchemaError);
  return error as UnsupportedSchemaError;
}

describe('validateForeignKeys: accepted graphs', () => {
  it('orders the example schema parents first, reports the cycle and lists every edge', async () => {
    const s = await schemaWith(
      table('users'),
      table('posts', ', author_id uuid'),
      table('categories', ', parent_id uuid'),
      table('teams', ', captain_member_id uuid'),
      table('team_members', ', team_id uuid NOT NULL'),
      table('files'),
      table('file_reviews', ', file_id uuid NOT NULL'),
      fk('posts', 'author_id', 'users', 'posts_author_fk'),
      // A5: self-reference, DEFERRABLE INITIALLY IMMEDIATE is enough (A9).
      fk(
        'categories',
        'parent_id',
        'categories',
        'categories_parent_fk',
        'ON DELETE CASCADE DEFERRABLE INITIALLY IMMEDIATE',
      ),
      fk('teams', 'captain_member_id', 'team_members', 'teams_captain_fk'),
      fk(
        'team_members',
        'team_id',
        'teams',
        'team_members_team_fk',
        'ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED',
      ),
      fk(
        'file_reviews',
        'file_id',
        'files',
        'file_reviews_file_fk',
        'ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED',
      ),
    );
    const tables = await register(
      s,
      'teams',
      'posts',
      'users',
      'file_reviews',
      'categories',
      'team_members',
      'files',
    );
    const result = await validateForeignKeys(db, tables, {});
    expect(result.tableOrder).toEqual(
      ['categories', 'files', 'file_reviews', 'team_members', 'teams', 'users', 'posts'].map(
        (t) => `${s}.${t}`,
      ),
    );
    expect(result.cycles).toEqual([[`${s}.team_members`, `${s}.teams`]]);
    expect(result.edges).toEqual([
      { child: `${s}.categories`, parent: `${s}.categories`, constraintName: 'categories_parent_fk' },
      { child: `${s}.file_reviews`, parent: `${s}.files`, constraintName: 'file_reviews_file_fk' },
      { child: `${s}.posts`, parent: `${s}.users`, constraintName: 'posts_author_fk' },
      { child: `${s}.team_members`, parent: `${s}.teams`, constraintName: 'team_members_team_fk' },
      { child: `${s}.teams`, parent: `${s}.team_members`, constraintName: 'teams_captain_fk' },
    ]);
  });

  it('ignores FKs from unregistered tables into registered ones', async () => {
    const s = await schemaWith(
      table('users'),
      table('audit', ', user_id uuid'),
      // Non-deferrable and MATCH FULL: both would be rejected on a registered child.
      fk('audit', 'user_id', 'users', 'audit_user_fk', 'MATCH FULL NOT DEFERRABLE'),
    );
    const result = await validateForeignKeys(db, await register(s, 'users'), {});
    expect(result).toEqual({ tableOrder: [`${s}.users`], cycles: [], edges: [] });
  });

  it('accepts a registered child of a partitioned registered parent', async () => {
    const s = await schemaWith(
      `CREATE TABLE S.projects (_sync_scope_id text NOT NULL, id uuid NOT NULL, PRIMARY KEY (_sync_scope_id, id))
         PARTITION BY HASH (_sync_scope_id);
       CREATE TABLE S.projects_0 PARTITION OF S.projects FOR VALUES WITH (MODULUS 2, REMAINDER 0);
       CREATE TABLE S.projects_1 PARTITION OF S.projects FOR VALUES WITH (MODULUS 2, REMAINDER 1);`,
      table('tasks', ', project_id uuid NOT NULL'),
      fk('tasks', 'project_id', 'projects', 'tasks_project_fk'),
    );
    const result = await validateForeignKeys(db, await register(s, 'tasks', 'projects'), {});
    expect(result.tableOrder).toEqual([`${s}.projects`, `${s}.tasks`]);
    expect(result.edges).toEqual([
      { child: `${s}.tasks`, parent: `${s}.projects`, constraintName: 'tasks_project_fk' },
    ]);
  });

  it('adds dependency overrides, defaulting to public and skipping malformed or unregistered names', async () => {
    await runSql(`${table('a')} ${table('b')} ${table('c')}`.replaceAll('S.', 'public.'));
    const tables = await register('public', 'a', 'b', 'c');
    const result = await validateForeignKeys(db, tables, {
      a: ['B', 'public.c'],
      ' Public.B ': ['c'],
      'x.y.z': ['a'],
      c: ['', 'nope', 'a.b.c', 'other.a', '.a'],
      ghost: ['a'],
      'a.': ['c'],
    });
    expect(result).toEqual({ tableOrder: ['public.c', 'public.b', 'public.a'], cycles: [], edges: [] });

    const cyclic = await validateForeignKeys(db, tables, { a: ['b'], b: ['a'] });
    expect(cyclic).toEqual({
      tableOrder: ['public.a', 'public.b', 'public.c'],
      cycles: [['public.a', 'public.b']],
      edges: [],
    });
  });

  it('returns an empty result for no tables', async () => {
    await expect(validateForeignKeys(db, [], { a: ['b'] })).resolves.toEqual({
      tableOrder: [],
      cycles: [],
      edges: [],
    });
  });
});

describe('validateForeignKeys: rejected graphs', () => {
  it('rejects a registered set that is not FK-closed (A4)', async () => {
    const s = await schemaWith(
      table('users'),
      table('posts', ', author_id uuid'),
      fk('posts', 'author_id', 'users', 'posts_author_fk'),
    );
    const error = await rejection(await register(s, 'posts'));
    expect(error.details).toMatchObject({ table: `${s}.posts`, rule: 'fk_not_closed' });
    expect(error.message).toContain(
      `registered tables are not FK-closed: ${s}.posts -> ${s}.users (posts_author_fk)`,
    );
    expect(error.message).toMatch(
      new RegExp(`Fix: register ${s}\\.users too, or drop the foreign key posts_author_fk\\.$`),
    );
  });

  it('rejects MATCH FULL', async () => {
    const s = await schemaWith(
      table('parent'),
      table('child', ', parent_id uuid'),
      fk('child', 'parent_id', 'parent', 'child_parent_fk', 'MATCH FULL DEFERRABLE'),
    );
    const error = await rejection(await register(s, 'parent', 'child'));
    expect(error.details).toMatchObject({ table: `${s}.child`, rule: 'fk_match_full' });
    expect(error.message).toContain('child_parent_fk uses MATCH FULL');
    expect(error.message).toContain('Fix: recreate it with the default MATCH SIMPLE.');
  });

  it('rejects an FK whose columns put the scope second (A12)', async () => {
    const s = await schemaWith(
      table('parent'),
      table('child', ', parent_id uuid'),
      `ALTER TABLE S.child ADD CONSTRAINT child_parent_fk FOREIGN KEY (parent_id, _sync_scope_id)
         REFERENCES S.parent (id, _sync_scope_id) DEFERRABLE;`,
    );
    const error = await rejection(await register(s, 'parent', 'child'));
    expect(error.details).toMatchObject({ table: `${s}.child`, rule: 'fk_not_scope_inclusive' });
    expect(error.message).toContain('child_parent_fk (parent_id, _sync_scope_id)');
    expect(error.message).toContain('scope-inclusive');
    expect(error.message).toContain(
      `Fix: recreate it as FOREIGN KEY (_sync_scope_id, parent_id) REFERENCES ${s}.parent (_sync_scope_id, id)`,
    );
  });

  it('rejects a single-column FK', async () => {
    const s = await schemaWith(
      table('parent'),
      'CREATE UNIQUE INDEX parent_id_key ON S.parent (id);',
      table('child', ', parent_id uuid'),
      'ALTER TABLE S.child ADD CONSTRAINT child_parent_fk FOREIGN KEY (parent_id) REFERENCES S.parent (id) DEFERRABLE;',
    );
    // The parent's ownerless UNIQUE (id) fails table validation, so describe it by hand.
    const [child] = await register(s, 'child');
    const parent: ValidatedTable = { ...child, table: 'parent', qualifiedName: `${s}.parent` };
    const error = await rejection([parent, child]);
    expect(error.details).toMatchObject({ table: `${s}.child`, rule: 'fk_not_scope_inclusive' });
    expect(error.message).toContain(`child_parent_fk (parent_id) -> ${s}.parent (id) is not scope-inclusive`);
  });

  it('rejects an FK that references a parent column other than its sync key', async () => {
    const s = await schemaWith(
      table('parent', ', external_id uuid NOT NULL, UNIQUE (_sync_scope_id, external_id)'),
      table('child', ', parent_ext uuid'),
      `ALTER TABLE S.child ADD CONSTRAINT child_parent_ext_fk FOREIGN KEY (_sync_scope_id, parent_ext)
         REFERENCES S.parent (_sync_scope_id, external_id) DEFERRABLE;`,
    );
    const error = await rejection(await register(s, 'parent', 'child'));
    expect(error.details).toMatchObject({ rule: 'fk_not_scope_inclusive' });
    expect(error.message).toContain(`referencing ${s}.parent (_sync_scope_id, id)`);
  });

  it('rejects a three-column FK', async () => {
    const s = await schemaWith(
      table('parent', ', v int NOT NULL, UNIQUE (_sync_scope_id, id, v)'),
      table('child', ', parent_id uuid, parent_v int'),
      `ALTER TABLE S.child ADD CONSTRAINT child_parent_fk FOREIGN KEY (_sync_scope_id, parent_id, parent_v)
         REFERENCES S.parent (_sync_scope_id, id, v) DEFERRABLE;`,
    );
    const error = await rejection(await register(s, 'parent', 'child'));
    expect(error.details).toMatchObject({ rule: 'fk_not_scope_inclusive' });
  });

  it('rejects non-deferrable FKs, listing every offending constraint (A9)', async () => {
    const s = await schemaWith(
      table('parent'),
      table('child', ', parent_id uuid'),
      table('other', ', parent_id uuid, child_id uuid'),
      fk('child', 'parent_id', 'parent', 'child_parent_fk', ''),
      fk('other', 'parent_id', 'parent', 'other_parent_fk', 'NOT DEFERRABLE'),
      fk('other', 'child_id', 'child', 'other_child_fk', 'DEFERRABLE INITIALLY IMMEDIATE'),
    );
    const error = await rejection(await register(s, 'parent', 'child', 'other'));
    expect(error.details).toMatchObject({ table: `${s}.child, ${s}.other`, rule: 'fk_not_deferrable' });
    expect(error.message).toContain(
      `registered tables have non-deferrable FK constraints ${s}.child_parent_fk, ${s}.other_parent_fk; ` +
        'make these constraints DEFERRABLE before bootstrap',
    );
    expect(error.message).not.toContain('other_child_fk');
    expect(error.message).toMatch(
      /Fix: ALTER TABLE .+ ALTER CONSTRAINT child_parent_fk DEFERRABLE; ALTER TABLE/,
    );
  });
});
