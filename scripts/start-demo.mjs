/**
 * `npm start`: builds the libraries, the demo web page (apps/demo-web → apps/demo-web/dist) and the
 * demo server, then runs the server, which serves the page and the sync routes on one port. Without
 * DATABASE_URL the demo starts an embedded PostgreSQL with its data in .oversync/pgdata (kept across
 * runs).
 */
import { spawnSync, spawn } from 'node:child_process';

const run = (cmd, args) => {
  const r = spawnSync(cmd, args, { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
};
run('npm', ['run', 'build', '--silent']);
run(process.execPath, ['apps/demo-web/build.mjs', '--minify']);
run('npx', ['tsc', '-p', 'apps/demo-server/tsconfig.app.json']);
const child = spawn(process.execPath, ['apps/demo-server/dist/main.js'], { stdio: 'inherit' });
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('exit', (code) => process.exit(code ?? 0));
