import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const resultsDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'results');

/**
 * One benchmark row: what was measured, our figure, the baseline measured in the same run, the
 * ratio and the target it is judged against.
 */
export function row(name, ours, baseline, unit, ratio, target, pass) {
  return { name, ours, baseline, unit, ratio, target, pass };
}

export function printTable(title, rows) {
  console.log(`\n## ${title}\n`);
  console.log('| benchmark | ours | baseline | ratio | target | ok |');
  console.log('|---|---|---|---|---|---|');
  for (const r of rows) {
    console.log(
      `| ${r.name} | ${r.ours} ${r.unit} | ${r.baseline ?? '–'}${r.baseline === undefined ? '' : ' ' + r.unit} | ${r.ratio ?? '–'} | ${r.target ?? '–'} | ${r.pass === undefined ? '–' : r.pass ? 'yes' : 'NO'} |`,
    );
  }
}

export function writeJson(name, data) {
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, `${name}.json`);
  writeFileSync(
    file,
    JSON.stringify({ at: new Date().toISOString(), node: process.version, ...data }, null, 2),
  );
  return file;
}
