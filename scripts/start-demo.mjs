/**
 * `npm start`: builds the libraries, the demo web page (apps/demo-web → apps/demo-web/dist) and the
 * demo server, then runs the server, which serves the page and the sync routes on one port. Without
 * DATABASE_URL the demo starts an embedded PostgreSQL with its data in .oversync/pgdata (kept across
 * runs).
 */
import { spawnSync, spawn } from 'node:child_process';
import { constants } from 'node:os';

const run = (cmd, args) => {
  const r = spawnSync(cmd, args, { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
};
run('npm', ['run', 'build', '--silent']);
run(process.execPath, ['apps/demo-web/build.mjs', '--minify']);
run('npx', ['tsc', '-p', 'apps/demo-server/tsconfig.app.json']);
// Its own process group (detached): a terminal's Ctrl-C reaches the whole foreground group, and the
// embedded PostgreSQL would stop at once under requests still in flight. This script forwards the
// signal instead; the server closes the app, then PostgreSQL, and exits 0. The IPC channel makes
// the server stop too when this script dies without forwarding anything (e.g. SIGKILL).
const child = spawn(process.execPath, ['apps/demo-server/dist/main.js'], {
  stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  detached: true,
});
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => child.kill(signal === 'SIGHUP' ? 'SIGTERM' : signal));
}
// Killed by a signal it did not handle: report it the shell's way (128 + n), not as success.
child.on('exit', (code, signal) => process.exit(code ?? 128 + (constants.signals[signal] ?? 0)));
