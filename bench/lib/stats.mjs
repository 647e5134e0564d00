/** Small statistics and timing helpers for the benchmarks (no dependencies). */
export function percentile(samples, p) {
  const sorted = [...samples].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx];
}

export function summarize(samples) {
  return {
    n: samples.length,
    p50: percentile(samples, 50),
    p95: percentile(samples, 95),
    mean: samples.reduce((a, b) => a + b, 0) / samples.length,
  };
}

/** Runs `fn` `warmup` times untimed, then `runs` times timed (ms). */
export async function sample(fn, { warmup = 3, runs = 20 } = {}) {
  for (let i = 0; i < warmup; i++) await fn(i);
  const out = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn(warmup + i);
    out.push(performance.now() - t0);
  }
  return out;
}

export async function timeOnce(fn) {
  const t0 = performance.now();
  const result = await fn();
  return { ms: performance.now() - t0, result };
}

export const round = (x, d = 2) => (Number.isFinite(x) ? Math.round(x * 10 ** d) / 10 ** d : x);
