/**
 * Issue 2 benchmarks: `ScopeManager.execWrite` of 1 / 100 / 1,000 rows against the same INSERT in a
 * plain transaction (p50/p95 and ratio), and bulk capture of 100k rows against a plain INSERT. The
 * storage floor (storage-floor.mjs) is measured beside both: the ratio the reference's tables cost
 * with no engine code at all, in the same run.
 */
import { ScopeManager } from '@oversync/nestjs';
import { sql } from 'kysely';
import { row } from '../lib/report.mjs';
import { round, sample, summarize, timeOnce } from '../lib/stats.mjs';
import { startEngine } from '../lib/engine-app.mjs';
import { floorWrite } from '../lib/storage-floor.mjs';

const insertRows = (table, n, scope) => sql`
  INSERT INTO ${sql.raw(table)} (_sync_scope_id, id, title, body, qty, price)
  SELECT ${scope}, gen_random_uuid(), 'title ' || g, repeat('x', 64), g, g * 1.5 FROM generate_series(1, ${n}::int) g`;

export async function run({ pg }) {
  const db = await pg.database();
  const engine = await startEngine(db.url);
  const scopes = engine.app.get(ScopeManager);
  const rows = [];
  const extra = {};
  try {
    for (const n of [1, 100, 1000]) {
      const ours = summarize(
        await sample(
          () =>
            scopes.execWrite(`bench-${n}`, { writerId: 'bench' }, (trx) =>
              insertRows('bench.items', n, `bench-${n}`).execute(trx),
            ),
          {
            warmup: 5,
            runs: n === 1000 ? 30 : 60,
          },
        ),
      );
      const plain = summarize(
        await sample(
          () =>
            engine.plain
              .transaction()
              .execute((trx) => insertRows('bench.items_plain', n, `bench-${n}`).execute(trx)),
          {
            warmup: 5,
            runs: n === 1000 ? 30 : 60,
          },
        ),
      );
      const floor =
        n === 1000
          ? summarize(await sample(() => floorWrite(engine.plain, n, `bench-${n}`), { warmup: 5, runs: 30 }))
          : undefined;
      const ratio = round(ours.p50 / plain.p50);
      extra[`execWrite_${n}`] = { ours, plain, floor };
      rows.push(
        row(
          `execWrite ${n} row(s), p50`,
          round(ours.p50),
          round(plain.p50),
          'ms',
          ratio,
          n === 1000 ? '≤ 3×' : undefined,
          n === 1000 ? ratio <= 3 : undefined,
        ),
        row(
          `execWrite ${n} row(s), p95`,
          round(ours.p95),
          round(plain.p95),
          'ms',
          round(ours.p95 / plain.p95),
        ),
      );
      if (floor) {
        rows.push(
          row(
            `storage floor ${n} rows (no engine: row_to_json + the three writes), p50`,
            round(floor.p50),
            round(plain.p50),
            'ms',
            round(floor.p50 / plain.p50),
          ),
        );
      }
    }
    const bulkOurs = [];
    const bulkPlain = [];
    const bulkFloor = [];
    for (let i = 0; i < 3; i++) {
      bulkOurs.push(
        (
          await timeOnce(() =>
            scopes.execWrite(`bulk-${i}`, { writerId: 'bench' }, (trx) =>
              insertRows('bench.items', 100_000, `bulk-${i}`).execute(trx),
            ),
          )
        ).ms,
      );
      bulkPlain.push(
        (
          await timeOnce(() =>
            engine.plain
              .transaction()
              .execute((trx) => insertRows('bench.items_plain', 100_000, `bulk-${i}`).execute(trx)),
          )
        ).ms,
      );
      bulkFloor.push((await timeOnce(() => floorWrite(engine.plain, 100_000, `bulk-${i}`))).ms);
    }
    const o = summarize(bulkOurs).p50;
    const p = summarize(bulkPlain).p50;
    const f = summarize(bulkFloor).p50;
    extra.bulk_100k = { ours: bulkOurs, plain: bulkPlain, floor: bulkFloor };
    rows.push(
      row(
        'bulk capture 100k rows (median of 3)',
        round(o, 0),
        round(p, 0),
        'ms',
        round(o / p),
        '≤ 3.5×',
        o / p <= 3.5,
      ),
      row('storage floor 100k rows (no engine), median of 3', round(f, 0), round(p, 0), 'ms', round(f / p)),
    );
  } finally {
    await engine.close();
    await db.drop();
  }
  return { title: 'Engine: captured bundles vs plain PostgreSQL transactions', rows, extra };
}
