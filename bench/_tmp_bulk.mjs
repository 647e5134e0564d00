import 'reflect-metadata';
import { ScopeManager } from '@oversync/nestjs';
import { sql } from 'kysely';
import pg from 'pg';
import { benchPostgres } from '/work/main/bench/lib/postgres.mjs';
import { startEngine } from '/work/main/bench/lib/engine-app.mjs';
const p = await benchPostgres();
const db = await p.database();
const name = new URL(db.url).pathname.slice(1);
const c = new pg.Client({ connectionString: p.server.adminUrl });
await c.connect();
await c.query(`ALTER DATABASE "${name}" SET session_preload_libraries = 'auto_explain'`);
await c.query(`ALTER DATABASE "${name}" SET auto_explain.log_min_duration = 150`);
await c.query(`ALTER DATABASE "${name}" SET auto_explain.log_analyze = on`);
await c.query(`ALTER DATABASE "${name}" SET auto_explain.log_nested_statements = on`);
await c.end();
const e = await startEngine(db.url);
const s = e.app.get(ScopeManager);
const t0 = performance.now();
await s.execWrite('b', { writerId: 'w' }, (trx) =>
  sql`INSERT INTO bench.items (id, title, body, qty, price) SELECT gen_random_uuid(), 'title ' || g, repeat('x', 64), g, g * 1.5 FROM generate_series(1, 100000) g`.execute(
    trx,
  ),
);
console.log('total', performance.now() - t0);
await e.close();
await db.drop();
await p.server.stop();
