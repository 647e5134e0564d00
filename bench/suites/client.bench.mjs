/**
 * Issue 4 benchmarks of `@oversync/client` (built) against the real Nest app over loopback:
 * - apply rate of a 100k-row pull and of a 100k-row snapshot, timed on answers replayed from memory
 *   (JSON parsing + validation + SQLite apply), against the baseline of parsing the same answers and
 *   inserting their payloads with one prepared sql.js statement in one transaction;
 * - initial sync of 100k rows end to end (open + attach → snapshot over HTTP → applied + persisted);
 * - write on device A → applied on device B through `/sync/watch` (p50 / p95).
 */
import { BundleChangeHub, ScopeManager } from '@oversync/nestjs';
import { sql } from 'kysely';
import { itemCount, openBenchDevice, rawApply } from '../lib/client-device.mjs';
import { ReplayFetch } from '../lib/client-replay-fetch.mjs';
import { startHttpApp } from '../lib/http-app.mjs';
import { row } from '../lib/report.mjs';
import { round, summarize, timeOnce } from '../lib/stats.mjs';

const N = 100_000;
/** Runs per measurement (medians): the 2-core VM varies by ±20 % from run to run. */
const RUNS = 5;

const seed = (scopes, user, n) =>
  scopes.execWrite(user, { writerId: 'seed' }, (trx) =>
    sql`INSERT INTO bench.items (id, title, body, qty, price)
        SELECT gen_random_uuid(), 'title ' || g, repeat('x', 64), g, g * 1.5 FROM generate_series(1, ${n}::int) g`.execute(
      trx,
    ),
  );

function expectCount(device, n) {
  const count = itemCount(device);
  if (count !== n) throw new Error(`device holds ${count} rows, expected ${n}`);
}

/**
 * Applies the recorded answers on fresh devices, alternating with the baseline so a change in the
 * machine's speed during the measurement hits both sides alike; returns the medians.
 */
async function timeApply(devices, apply, bodies, payloadsOf) {
  const ours = [];
  const raw = [];
  for (const device of devices) {
    ours.push((await timeOnce(() => apply(device))).ms);
    expectCount(device, N);
    await device.close();
    raw.push(await rawApply(bodies, payloadsOf));
  }
  return { ours, raw, o: summarize(ours).p50, b: summarize(raw).p50 };
}

function rateRow(name, t) {
  const ratio = t.b / t.o;
  return row(
    name,
    round(N / (t.o / 1000), 0),
    round(N / (t.b / 1000), 0),
    'rows/s',
    round(ratio),
    '≥ 0.8×',
    ratio >= 0.8,
  );
}

async function watchLatency(http) {
  const user = 'client-bench-watch';
  const a = await openBenchDevice({ baseUrl: http.baseUrl, user });
  const b = await openBenchDevice({
    baseUrl: http.baseUrl,
    user,
    background: {
      watch: 'auto',
      pollIntervalMs: 600_000,
      watchFallbackIntervalMs: 600_000,
      minBackoffMs: 20,
    },
  });
  const hub = http.app.get(BundleChangeHub);
  b.client.start();
  while (hub.subscriberCount() === 0) await new Promise((r) => setTimeout(r, 5));
  const samples = [];
  const pushes = [];
  try {
    for (let i = 0; i < 45; i++) {
      const t0 = performance.now();
      const target = a.client.lastBundleSeqSeen() + 1;
      const applied = new Promise((resolve) => {
        const off = b.client.onStatus((e) => {
          if (e.state === 'synced' && e.lastBundleSeqSeen >= target) {
            off();
            resolve(performance.now());
          }
        });
      });
      a.db.run('INSERT INTO items (id, title, body, qty, price, created_at) VALUES (?, ?, ?, ?, ?, ?)', [
        crypto.randomUUID(),
        `watch ${i}`,
        'b',
        i,
        1.5,
        new Date().toISOString(),
      ]);
      await a.client.pushPending();
      const pushed = performance.now();
      const done = await applied;
      if (i >= 5) {
        samples.push(done - t0);
        pushes.push(pushed - t0);
      }
    }
  } finally {
    await b.close();
    await a.close();
  }
  return { latency: summarize(samples), push: summarize(pushes) };
}

export async function run({ pg }) {
  const database = await pg.database();
  const http = await startHttpApp(database.url);
  const scopes = http.app.get(ScopeManager);
  const rows = [];
  const extra = {};
  try {
    // Pull: devices attach while the scope is empty, then one 100k-row bundle is committed.
    const user = 'client-bench-pull';
    const pullReplay = new ReplayFetch();
    const pullDevices = [];
    for (let i = 0; i <= RUNS; i++) {
      pullDevices.push(
        await openBenchDevice({ baseUrl: http.baseUrl, user, fetch: pullReplay.fetch, persist: false }),
      );
    }
    await seed(scopes, user, N);
    const overHttp = await timeOnce(() => pullDevices[0].client.pullToStable());
    expectCount(pullDevices[0], N);
    await pullDevices[0].close();
    pullReplay.recording = false;
    const pull = await timeApply(
      pullDevices.slice(1),
      (d) => d.client.pullToStable(),
      pullReplay.bodies(/^GET .*\/sync\/pull/),
      (page) => page.bundles.flatMap((b) => b.rows.map((r) => r.payload)),
    );
    extra.pull = { overHttpMs: overHttp.ms, ...pull };
    rows.push(rateRow(`pull apply, ${N} rows in one bundle (replayed answer)`, pull));
    rows.push(row(`pull ${N} rows over HTTP (fetch + apply)`, round(overHttp.ms, 0), undefined, 'ms'));

    // Initial sync end to end, then the snapshot apply path on replayed answers.
    const snapUser = 'client-bench-snapshot';
    await seed(scopes, snapUser, N);
    const initial = [];
    for (let i = 0; i < RUNS; i++) {
      initial.push(
        (
          await timeOnce(async () => {
            const device = await openBenchDevice({ baseUrl: http.baseUrl, user: snapUser });
            expectCount(device, N);
            await device.close();
          })
        ).ms,
      );
    }
    const init = summarize(initial).p50;
    extra.initialSync = initial;
    rows.push(
      row(
        `initial sync of ${N} rows (open + attach + snapshot + persist), p50`,
        round(init, 0),
        undefined,
        'ms',
        undefined,
        '< 2000 ms',
        init < 2000,
      ),
    );

    const snapReplay = new ReplayFetch();
    const first = await openBenchDevice({
      baseUrl: http.baseUrl,
      user: snapUser,
      fetch: snapReplay.fetch,
      attach: false,
    });
    await first.client.attach(snapUser);
    await first.close();
    snapReplay.recording = false;
    const snapDevices = [];
    for (let i = 0; i < RUNS; i++) {
      snapDevices.push(
        await openBenchDevice({
          baseUrl: http.baseUrl,
          user: snapUser,
          fetch: snapReplay.fetch,
          attach: false,
          persist: false,
        }),
      );
    }
    const snapshot = await timeApply(
      snapDevices,
      (d) => d.client.attach(snapUser),
      snapReplay.bodies(/^GET .*snapshot-sessions\/:id/),
      (page) => page.rows.map((r) => r.payload),
    );
    extra.snapshot = snapshot;
    rows.push(rateRow(`snapshot apply, ${N} rows in 20 chunks (replayed answers)`, snapshot));

    const watch = await watchLatency(http);
    extra.watch = watch;
    rows.push(
      row(
        'write on A → applied on B via watch, p50',
        round(watch.latency.p50, 1),
        undefined,
        'ms',
        undefined,
        '≤ 50 ms',
        watch.latency.p50 <= 50,
      ),
    );
    rows.push(row('write on A → applied on B via watch, p95', round(watch.latency.p95, 1), undefined, 'ms'));
    rows.push(
      row(
        '  of which: A push (create+chunk+commit+rows+replay), p50',
        round(watch.push.p50, 1),
        undefined,
        'ms',
      ),
    );
  } finally {
    await http.close();
    await database.drop();
  }
  return { title: '@oversync/client: apply rates, initial sync and watch latency (loopback)', rows, extra };
}
