// Runs compiled tests with node's test runner: unit specs in parallel, integration specs two at a time.
// Usage: node scripts/run-tests.mjs [unit|int|all]
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const mode = process.argv[2] ?? 'all';
function find(dir, suffix, out = []) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) find(path, suffix, out);
    else if (name.endsWith(suffix)) out.push(path);
  }
  return out;
}
const roots = ['dist/apps', 'dist/libs', 'dist/devices-sim'].filter((d) => {
  try {
    return statSync(d).isDirectory();
  } catch {
    return false;
  }
});
const unit = roots.flatMap((r) => find(r, '.spec.js'));
const integration = roots.flatMap((r) => [...find(r, '.int-spec.js'), ...find(r, '.e2e-spec.js')]);

let failed = false;
function run(files, concurrency) {
  if (files.length === 0) return;
  const result = spawnSync(process.execPath, ['--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...files], {
    stdio: 'inherit',
  });
  if (result.status !== 0) failed = true;
}
if (mode === 'unit' || mode === 'all') run(unit, 2);
if (mode === 'int' || mode === 'all') run(integration, Number(process.env.TEST_INT_CONCURRENCY ?? 2));
process.exit(failed ? 1 : 0);
