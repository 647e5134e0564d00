/**
 * Issue 3 benchmarks over real HTTP on loopback: a 10,000-row push (create, chunks, commit,
 * committed-rows fetch) against a plain multi-row INSERT of the same rows; pull serving rate
 * against a raw SELECT + JSON of the same bundle rows; a 100k-row snapshot's time and the server's
 * heap growth (compared with a 10k-row snapshot: bounded, not proportional). The push is also
 * compared with its storage floor (storage-floor.mjs: staging, applying and the history writes with
 * no HTTP and no engine code), measured in the same run.
 */
import { randomUUID } from 'node:crypto';
import { ScopeManager } from '@oversync/nestjs';
import { sql } from 'kysely';
import pg from 'pg';
import { caller, startHttpApp } from '../lib/http-app.mjs';
import { row } from '../lib/report.mjs';
import { floorPush } from '../lib/storage-floor.mjs';
import { round, summarize, timeOnce } from '../lib/stats.mjs';

const N_PUSH = 10_000;

function pushRows(n) {
  return Array.from({ length: n }, (_, i) => {
    const id = randomUUID();
    return {
      schema: 'bench',
      table: 'items',
      key: { id },
      op: 'INSERT',
      base_row_version: 0,
      payload: { id, title: `title ${i}`, body: 'x'.repeat(64), qty: i, price: i * 1.5 },
    };
  });
}

async function pushOverHttp(call, sourceBundleId, rows) {
  const created = await call('POST', '/sync/push-sessions', {
    source_bundle_id: sourceBundleId,
    planned_row_count: rows.length,
  });
  for (let start = 0; start < rows.length; start += 1000) {
    await call('POST', `/sync/push-sessions/${created.push_id}/chunks`, {
      start_row_ordinal: start,
      rows: rows.slice(start, start + 1000),
    });
  }
  const committed = await call('POST', `/sync/push-sessions/${created.push_id}/commit`);
  let after;
  let fetched = 0;
  for (;;) {
    const page = await call(
      'GET',
      `/sync/committed-bundles/${committed.bundle_seq}/rows?max_rows=5000${after === undefined ? '' : `&after_row_ordinal=${after}`}`,
    );
    fetched += page.rows.length;
    after = page.next_row_ordinal;
    if (!page.has_more) break;
  }
  if (fetched !== rows.length) throw new Error(`fetched ${fetched} of ${rows.length}`);
  return committed;
}

async function plainInsert(pool, scope, rows) {
  const values = [];
  const params = [];
  rows.forEach((r, i) => {
    values.push(`($${i * 6 + 1}, $${i * 6 + 2}, $${i * 6 + 3}, $${i * 6 + 4}, $${i * 6 + 5}, $${i * 6 + 6})`);
    params.push(scope, r.payload.id, r.payload.title, r.payload.body, r.payload.qty, r.payload.price);
  });
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    // pg allows at most 65535 parameters per statement: 10 statements of 1,000 rows.
    for (let off = 0; off < rows.length; off += 1000) {
      const part = rows.slice(off, off + 1000);
      const v = part
        .map(
          (_, i) =>
            `($${i * 6 + 1}, $${i * 6 + 2}, $${i * 6 + 3}, $${i * 6 + 4}, $${i * 6 + 5}, $${i * 6 + 6})`,
        )
        .join(',');
      await client.query(
        `INSERT INTO bench.items_plain (_sync_scope_id, id, title, body, qty, price) VALUES ${v}`,
        params.slice(off * 6, (off + part.length) * 6),
      );
    }
    await client.query('COMMIT');
  } finally {
    client.release();
  }
  return values.length;
}

export async function run({ pg: server }) {
  const db = await server.database();
  const http = await startHttpApp(db.url);
  const pool = new pg.Pool({ connectionString: db.url, max: 2 });
  const rows = [];
  const extra = {};
  try {
    // Push: initialise the scope empty, then 3 pushes vs 3 plain inserts.
    const call = caller(http.baseUrl, 'bench-push', 'device-1');
    await call('POST', '/sync/connect', { has_local_pending_rows: false });
    const ours = [];
    const plain = [];
    const floor = [];
    for (let i = 0; i < 3; i++) {
      const data = pushRows(N_PUSH);
      ours.push((await timeOnce(() => pushOverHttp(call, i + 1, data))).ms);
      plain.push((await timeOnce(() => plainInsert(pool, 'bench-push', pushRows(N_PUSH)))).ms);
      floor.push((await timeOnce(() => floorPush(pool, 'bench-push', pushRows(N_PUSH)))).ms);
    }
    const o = summarize(ours).p50;
    const p = summarize(plain).p50;
    const f = summarize(floor).p50;
    extra.push = { ours, plain, floor };
    rows.push(
      row(
        'push 10,000 rows over HTTP (create+chunks+commit+rows), median of 3',
        round(o, 0),
        round(p, 0),
        'ms',
        round(o / p),
        '≤ 4×',
        o / p <= 4,
      ),
      row(
        'storage floor of that push (stage, apply, history; no HTTP, no engine), median of 3',
        round(f, 0),
        round(p, 0),
        'ms',
        round(f / p),
      ),
    );

    // Pull serving rate: the 3 pushed bundles (30k rows) pulled from 0, vs raw SELECT + JSON.
    const pullTimes = [];
    let pulled = 0;
    for (let i = 0; i < 3; i++) {
      pulled = 0;
      pullTimes.push(
        (
          await timeOnce(async () => {
            let after = 0;
            let target = 0;
            for (;;) {
              const page = await call(
                'GET',
                `/sync/pull?after_bundle_seq=${after}&max_bundles=1000${target ? `&target_bundle_seq=${target}` : ''}`,
              );
              for (const b of page.bundles) pulled += b.rows.length;
              target = page.stable_bundle_seq;
              after = page.bundles.length ? page.bundles[page.bundles.length - 1].bundle_seq : after;
              if (!page.has_more) break;
            }
          })
        ).ms,
      );
    }
    const rawTimes = [];
    for (let i = 0; i < 3; i++) {
      rawTimes.push(
        (
          await timeOnce(async () => {
            const r = await pool.query(
              `SELECT r.bundle_seq, r.row_ordinal, r.op_code, r.key_bytes, r.payload_wire::text AS payload FROM sync.bundle_rows r
                JOIN sync.user_state u USING (user_pk) WHERE u.user_id = 'bench-push' ORDER BY r.bundle_seq, r.row_ordinal`,
            );
            JSON.stringify(
              r.rows.map((x) => ({
                bundle_seq: x.bundle_seq,
                op: x.op_code,
                key: x.key_bytes.toString('hex'),
                payload: JSON.parse(x.payload),
              })),
            );
          })
        ).ms,
      );
    }
    const pullRate = pulled / (summarize(pullTimes).p50 / 1000);
    const rawRate = pulled / (summarize(rawTimes).p50 / 1000);
    extra.pull = { pulled, pullTimes, rawTimes };
    rows.push(
      row(
        `pull serving (${pulled} rows), rows/s`,
        round(pullRate, 0),
        round(rawRate, 0),
        'rows/s',
        round(pullRate / rawRate),
        '≥ 0.6×',
        pullRate / rawRate >= 0.6,
      ),
    );

    // Snapshot of 100k rows vs 10k rows: time and server heap growth.
    const scopes = http.app.get(ScopeManager);
    for (const n of [10_000, 100_000]) {
      const user = `bench-snap-${n}`;
      await scopes.execWrite(user, { writerId: 'seed' }, (trx) =>
        sql`INSERT INTO bench.items (id, title, body, qty, price) SELECT gen_random_uuid(), 'title ' || g, repeat('x', 64), g, g * 1.5 FROM generate_series(1, ${n}::int) g`.execute(
          trx,
        ),
      );
      const snapCall = caller(http.baseUrl, user, 'device-snap');
      globalThis.gc?.();
      const heapBefore = process.memoryUsage().heapUsed;
      let heapPeak = heapBefore;
      const sampler = setInterval(() => {
        heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed);
      }, 5);
      const created = await timeOnce(() => snapCall('POST', '/sync/snapshot-sessions'));
      clearInterval(sampler);
      const createGrowthMb = (heapPeak - heapBefore) / 1048576;
      let after = 0;
      let got = 0;
      const paged = await timeOnce(async () => {
        for (;;) {
          const page = await snapCall(
            'GET',
            `/sync/snapshot-sessions/${created.result.snapshot_id}?after_row_ordinal=${after}&max_rows=5000`,
          );
          got += page.rows.length;
          after = page.next_row_ordinal;
          if (!page.has_more) break;
        }
      });
      if (got !== n) throw new Error(`snapshot served ${got} of ${n}`);
      extra[`snapshot_${n}`] = { createMs: created.ms, pageMs: paged.ms, createHeapGrowthMb: createGrowthMb };
      rows.push(row(`snapshot ${n} rows: create`, round(created.ms, 0), undefined, 'ms'));
      rows.push(row(`snapshot ${n} rows: read all pages`, round(paged.ms, 0), undefined, 'ms'));
      rows.push(
        row(
          `snapshot ${n} rows: server heap growth during create`,
          round(createGrowthMb, 1),
          undefined,
          'MiB',
          undefined,
          'bounded',
        ),
      );
    }
    const g10 = extra.snapshot_10000.createHeapGrowthMb;
    const g100 = extra.snapshot_100000.createHeapGrowthMb;
    const bounded = g100 < 32 && g100 < Math.max(4, g10 * 5);
    rows.push(
      row(
        'snapshot heap growth 100k vs 10k (not proportional)',
        round(g100, 1),
        round(g10, 1),
        'MiB',
        round(g100 / Math.max(g10, 0.1)),
        'bounded (< 32 MiB)',
        bounded,
      ),
    );
  } finally {
    await pool.end();
    await http.close();
    await db.drop();
  }
  return { title: 'HTTP: push, pull and snapshot over loopback vs raw PostgreSQL', rows, extra };
}
