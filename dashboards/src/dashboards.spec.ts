import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import { MetricsService } from '#observability';
import { buildDashboards, dashboardJson, POSTGRES, PROMETHEUS } from './index.js';

const GENERATED = join(process.cwd(), 'dashboards', 'generated');
const PROVISIONING = join(process.cwd(), 'dashboards', 'provisioning');

interface JsonPanel {
  id?: number;
  type: string;
  title?: string;
  targets?: { refId: string; datasource?: { type?: string; uid?: string }; rawSql?: string; expr?: string }[];
  panels?: JsonPanel[];
}

describe('dashboards as code', () => {
  const built = buildDashboards();

  it('the committed JSON is what the code generates (run `npm run dashboards` and commit)', () => {
    const committed = readdirSync(GENERATED)
      .filter((f) => f.endsWith('.json'))
      .sort();
    expect(committed).toStrictEqual(built.map((b) => b.file).sort());
    for (const b of built) expect(readFileSync(join(GENERATED, b.file), 'utf8')).toBe(dashboardJson(b));
  });

  it('uids are fixed and unique, and each file is named after its uid', () => {
    const uids = built.map((b) => b.dashboard.uid);
    expect(new Set(uids).size).toBe(uids.length);
    for (const b of built) {
      expect(b.dashboard.uid).toBe(b.uid);
      expect(b.file).toBe(`${b.uid}.json`);
      expect(b.uid).toMatch(/^[a-z0-9-]{1,40}$/);
    }
  });

  it('panel ids are unique per dashboard and every SQL target is one the query test runs', () => {
    for (const b of built) {
      const panels = (b.dashboard.panels ?? []) as JsonPanel[];
      const ids = panels.map((p) => p.id);
      expect(ids.every((id) => typeof id === 'number' && id > 0)).toBe(true);
      expect(new Set(ids).size).toBe(ids.length);
      const sqlTargets = panels.flatMap((p) => (p.targets ?? []).filter((t) => t.rawSql !== undefined).map((t) => ({ panel: p.title, t })));
      for (const { t } of sqlTargets) {
        expect(t.datasource).toStrictEqual(POSTGRES);
        expect(b.queries.some((q) => q.sql === t.rawSql && q.refId === t.refId)).toBe(true);
      }
      // ... and every recorded panel query is in the JSON (nothing tested that Grafana would not run).
      const panelQueries = b.queries.filter((q) => !q.panel.startsWith('variable '));
      expect(panelQueries.length).toBe(sqlTargets.length);
    }
  });

  it('every metric a PromQL expression names is registered by the app (MetricsService)', async () => {
    const registered = new Set<string>();
    for (const metric of await new MetricsService().registry.getMetricsAsJSON()) {
      registered.add(metric.name);
      // Series of histograms and summaries.
      if (String(metric.type) === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) registered.add(metric.name + suffix);
      if (String(metric.type) === 'summary') for (const suffix of ['_sum', '_count']) registered.add(metric.name + suffix);
    }
    const expressions = built.flatMap((b) => b.promql);
    expect(expressions.length).toBeGreaterThan(10);
    const named = expressions.flatMap((e) => e.match(/\bfleet_[a-z0-9_]+/g) ?? []);
    expect(named.length).toBeGreaterThanOrEqual(expressions.length);
    expect(named.filter((n) => !registered.has(n))).toStrictEqual([]);
  });

  it('the Prometheus panels carry their expressions and the fixed Prometheus datasource', () => {
    const gateway = built.find((b) => b.uid === 'fleet-gateway');
    const targets = ((gateway?.dashboard.panels ?? []) as JsonPanel[]).flatMap((p) => p.targets ?? []);
    expect(targets.length).toBeGreaterThan(10);
    for (const t of targets) {
      expect(t.datasource).toStrictEqual({ type: 'prometheus', uid: 'fleet-prometheus' });
      expect(gateway?.promql).toContain(t.expr);
    }
  });

  it('provisioning: the datasources the dashboards name, read-only role, TimescaleDB on, every variable documented', () => {
    const text = readFileSync(join(PROVISIONING, 'datasources', 'fleet.yaml'), 'utf8');
    const { datasources } = parse(text) as {
      datasources: { uid: string; type: string; user?: string; jsonData?: Record<string, unknown>; secureJsonData?: Record<string, string> }[];
    };
    const postgres = datasources.find((d) => d.uid === POSTGRES.uid);
    expect(postgres).toMatchObject({ type: POSTGRES.type, user: 'fleet_reader', jsonData: { timescaledb: true } });
    expect(postgres?.secureJsonData?.password).toBe('${FLEET_READER_PASSWORD}');
    expect(datasources.find((d) => d.uid === PROMETHEUS.uid)).toMatchObject({ type: PROMETHEUS.type });
    const readme = readFileSync(join(process.cwd(), 'dashboards', 'README.md'), 'utf8');
    // Outside comments: the variables Grafana substitutes.
    const variables = [...text.replace(/^\s*#.*$/gm, '').matchAll(/\$\{?([A-Z][A-Z0-9_]*)\}?/g)].map((m) => m[1]);
    expect(variables.length).toBeGreaterThan(0);
    for (const name of variables) expect(readme).toContain(name);
  });

  it('provisioning: the dashboards provider loads the folder compose mounts dashboards/generated at', () => {
    const { providers } = parse(readFileSync(join(PROVISIONING, 'dashboards', 'fleet.yaml'), 'utf8')) as {
      providers: { type: string; options: { path: string } }[];
    };
    expect(providers).toHaveLength(1);
    expect(providers[0]).toMatchObject({ type: 'file', options: { path: '/var/lib/grafana/dashboards/fleet' } });
  });
});
