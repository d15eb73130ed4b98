// `npm start`: the fresh-machine promise in one command. Installs dependencies when missing or
// stale, builds, then runs the single-process composition (broker + embedded database + worker).
import { existsSync, statSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';

function run(cmd, args) {
  const result = spawnSync(cmd, args, { stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}
const stamp = 'node_modules/.package-lock.json';
if (!existsSync(stamp) || statSync('package-lock.json').mtimeMs > statSync(stamp).mtimeMs) {
  run('npm', ['ci', '--no-audit', '--no-fund']);
}
run('npm', ['run', '--silent', 'build']);
// A bigger young generation: heartbeats held until their batch commits die young (see docs/benchmarks.md).
const child = spawn(process.execPath, ['--max-semi-space-size=64', 'dist/apps/fleet/src/main.js', ...process.argv.slice(2)], { stdio: 'inherit' });
// The app shuts down gracefully on SIGINT/SIGTERM; wait for it rather than dying first.
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
