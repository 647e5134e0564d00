/**
 * `npm run bench`: runs every suite against the BUILT packages (as a host app consumes them),
 * prints a markdown table per suite and writes JSON to bench/results/. Ratios compare against raw
 * PostgreSQL / raw sql.js measured in the same run. `node bench/run.mjs engine http` runs a subset.
 */
import 'reflect-metadata';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchPostgres } from './lib/postgres.mjs';
import { printTable, writeJson } from './lib/report.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const wanted = process.argv.slice(2);
const suites = readdirSync(join(here, 'suites'))
  .filter((f) => f.endsWith('.bench.mjs'))
  .filter((f) => wanted.length === 0 || wanted.some((w) => f.startsWith(w)))
  .sort();

const pg = await benchPostgres();
console.log(`PostgreSQL from ${pg.server.source}; node ${process.version}`);
let failed = 0;
try {
  for (const file of suites) {
    const suite = await import(join(here, 'suites', file));
    const { title, rows, extra } = await suite.run({ pg });
    printTable(title, rows);
    const out = writeJson(file.replace('.bench.mjs', ''), { title, rows, extra });
    console.log(`\n(written to ${out})`);
    failed += rows.filter((r) => r.pass === false).length;
  }
} finally {
  await pg.server.stop();
}
if (failed > 0) console.log(`\n${failed} figure(s) missed their target.`);
