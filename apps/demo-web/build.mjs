/**
 * Builds the demo page into `dist/` (or `--outdir <dir>`): `app.js` bundled by esbuild from
 * `src/main.ts` with `@oversync/client` and sql.js's browser build, the static files of `public/`,
 * and sql.js's `sql-wasm.wasm`. `@oversync/client` resolves through its package exports: the built
 * `dist/` of the libraries (run `npm run build` first), or their TypeScript sources with
 * `--from-source` (the browser tests use that).
 *
 *   node apps/demo-web/build.mjs [--outdir <dir>] [--from-source] [--minify]
 */
import { copyFileSync, cpSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as esbuild from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));

/**
 * @param {{ outdir?: string, fromSource?: boolean, minify?: boolean }} [options]
 * @returns {Promise<{ outdir: string }>}
 */
export async function buildDemoWeb(options = {}) {
  const outdir = resolve(options.outdir ?? join(here, 'dist'));
  mkdirSync(outdir, { recursive: true });
  await esbuild.build({
    entryPoints: [join(here, 'src', 'main.ts')],
    outfile: join(outdir, 'app.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    tsconfig: join(here, 'tsconfig.json'),
    conditions: options.fromSource ? ['@oversync/source'] : [],
    sourcemap: true,
    minify: options.minify ?? false,
    logLevel: 'warning',
  });
  cpSync(join(here, 'public'), outdir, { recursive: true });
  const require = createRequire(import.meta.url);
  copyFileSync(require.resolve('sql.js/dist/sql-wasm.wasm'), join(outdir, 'sql-wasm.wasm'));
  return { outdir };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const at = args.indexOf('--outdir');
  try {
    const { outdir } = await buildDemoWeb({
      outdir: at >= 0 ? args[at + 1] : undefined,
      fromSource: args.includes('--from-source'),
      minify: args.includes('--minify'),
    });
    console.log(`demo web page built into ${outdir}`);
  } catch (error) {
    if (!args.includes('--from-source')) {
      console.error('Building the demo page needs the built libraries: run `npm run build` first.');
    }
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  }
}
