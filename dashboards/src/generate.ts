import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildDashboards, dashboardJson } from './index.js';

/**
 * `npm run dashboards` writes dashboards/generated/*.json (what Grafana's provider loads);
 * `npm run dashboards -- --check` fails when the committed files differ from the code.
 * Paths are relative to the repository root (npm scripts run there).
 */
const DIR = 'dashboards/generated';
const built = buildDashboards();
const wanted = new Map(built.map((b) => [b.file, dashboardJson(b)]));

if (process.argv.includes('--check')) {
  const present = readdirSync(DIR).filter((f) => f.endsWith('.json'));
  const stale = [...wanted].filter(([file, json]) => !present.includes(file) || readFileSync(join(DIR, file), 'utf8') !== json).map(([file]) => file);
  const extra = present.filter((f) => !wanted.has(f));
  if (stale.length + extra.length > 0) {
    process.stderr.write(`dashboards/generated is out of date (${[...stale, ...extra].join(', ')}): run \`npm run dashboards\` and commit it\n`);
    process.exit(1);
  }
  process.stdout.write(`${DIR} is up to date (${wanted.size} dashboards)\n`);
} else {
  mkdirSync(DIR, { recursive: true });
  for (const file of readdirSync(DIR).filter((f) => f.endsWith('.json') && !wanted.has(f))) rmSync(join(DIR, file));
  for (const [file, json] of wanted) writeFileSync(join(DIR, file), json);
  process.stdout.write(`wrote ${wanted.size} dashboards to ${DIR}\n`);
}
