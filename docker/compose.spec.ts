// The compose stack cannot run here (no Docker engine), so this checks what can go wrong without one:
// the file against the Compose Specification, every command against the build, every application
// variable against the config schema (and its values through the real loader), the Dockerfile's
// shape, Prometheus targets against the services' ports and Grafana's mounts against the
// provisioning files.
// docker/compose-spec.schema.json is vendored unmodified from github.com/compose-spec/compose-spec,
// schema/compose-spec.json at commit 170098ba07d9f53c383a41bfd4c5166b0a4529a6 (the file's last change:
// a08f8d51631b7127ddac3d2c65537db429d0f1d0, 2025-10-21). To update: copy the newer file over it.
import { describe, expect, it } from '@jest/globals';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { envSchema, loadConfig } from '#config';
import { parseCliOptions } from '../devices-sim/src/cli-options.js';

const dockerDir = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(dockerDir, '..');
const read = (file: string): string => readFileSync(join(dockerDir, file), 'utf8');

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

function isObject(v: Json | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
function obj(v: Json | undefined, what: string): JsonObject {
  if (!isObject(v)) throw new Error(`${what} is not a mapping`);
  return v;
}
function strings(v: Json | undefined, what: string): string[] {
  if (!Array.isArray(v)) throw new Error(`${what} is not a list`);
  return v.map((s, i) => str(s, `${what}[${i}]`));
}
/** A scalar as Compose reads it (numbers and booleans in environment maps become strings). */
function str(v: Json | undefined, what: string): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw new Error(`${what} is not a scalar`);
}

/** docker/.env.example as Compose would read docker/.env; commented `# NAME=value` lines count as documented. */
function readEnvExample(): { values: Map<string, string>; documented: Set<string> } {
  const values = new Map<string, string>();
  const documented = new Set<string>();
  for (const line of read('.env.example').split('\n')) {
    const m = /^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (!m) continue;
    documented.add(m[2]);
    if (!m[1]) values.set(m[2], m[3]);
  }
  return { values, documented };
}

// Values an operator would put into docker/.env, long enough for the config's minimum lengths.
const FILLED = 'x'.repeat(40);

/** Compose interpolation (${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}, $VAR, $$). */
function interpolate(text: string, env: ReadonlyMap<string, string>, seen: Set<string>): string {
  return text.replace(
    /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (whole, braced?: string, op?: string, arg?: string, bare?: string) => {
      if (whole === '$$') return '$';
      const name = braced ?? bare ?? '';
      seen.add(name);
      const value = env.get(name);
      // With a colon an empty value counts as unset.
      const unsetOrEmpty = value === undefined || (op !== undefined && op.startsWith(':') && value === '');
      if (op === ':-' || op === '-') return unsetOrEmpty ? (arg ?? '') : (value ?? '');
      if (op === ':?' || op === '?') {
        if (unsetOrEmpty) throw new Error(`\${${name}} is required: ${arg ?? ''}`);
        return value ?? '';
      }
      return value ?? '';
    },
  );
}

function interpolateAll(node: Json, env: ReadonlyMap<string, string>, seen: Set<string>): Json {
  if (typeof node === 'string') return interpolate(node, env, seen);
  if (Array.isArray(node)) return node.map((n) => interpolateAll(n, env, seen));
  if (isObject(node)) return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, interpolateAll(v, env, seen)]));
  return node;
}

const rawCompose = parse(read('compose.yml'), { merge: true }) as Json;
const example = readEnvExample();
/** Variables the file requires (${VAR:?...}): the secrets an operator fills in. */
const required = new Set([...read('compose.yml').matchAll(/\$\{([A-Z0-9_]+):\?/g)].map((m) => m[1]));
const operatorEnv = new Map([...example.values].map(([k, v]) => [k, v === '' && required.has(k) ? FILLED : v]));
const referenced = new Set<string>();
const compose = obj(interpolateAll(rawCompose, operatorEnv, referenced), 'compose.yml');
const services = obj(compose.services, 'services');

interface AppService {
  name: string;
  command: string[];
  /** The script node runs: the first argument after node's own flags. */
  entry: string;
  environment: Record<string, string>;
}

/** Services running the project's image, with their command and environment. */
const appServices: AppService[] = Object.entries(services)
  .filter(([, s]) => isObject(s) && typeof s.image === 'string' && s.image.startsWith('pos-fleet:'))
  .map(([name, s]) => {
    const service = obj(s, name);
    const env = service.environment === undefined ? {} : obj(service.environment, `${name}.environment`);
    const command = strings(service.command, `${name}.command`);
    return {
      name,
      command,
      entry: command.slice(1).find((arg) => !arg.startsWith('-')) ?? '',
      environment: Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v === null ? '' : str(v, `${name}.environment.${k}`)])),
    };
  });
const byRole = (prefix: string): AppService[] => appServices.filter((s) => s.entry.startsWith(prefix));
/** Long-running application processes (not the one-shot migration, not the simulator). */
const processes = appServices.filter((s) => /^dist\/apps\/(gateway|api|worker)\//.test(s.entry));

describe('docker/compose.yml', () => {
  const validate = new Ajv({ strict: false, allErrors: true, validateSchema: false }).compile(JSON.parse(read('compose-spec.schema.json')) as JsonObject);

  it('is valid against the Compose Specification schema', () => {
    const ok = validate(compose);
    expect(validate.errors ?? []).toEqual([]);
    expect(ok).toBe(true);
  });

  it('the schema check refuses a misspelt service key and a bad depends_on condition', () => {
    const broken = structuredClone(compose);
    obj(obj(broken.services, 'services').gateway, 'gateway').commnad = ['node'];
    expect(validate(broken)).toBe(false);
    const broken2 = structuredClone(compose);
    obj(obj(broken2.services, 'services').api, 'api').depends_on = { migrate: { condition: 'service_finished' } };
    expect(validate(broken2)).toBe(false);
  });

  it('runs the gateway, api, worker, migration and simulator as separate processes of one image', () => {
    expect(new Set(appServices.map((s) => s.entry))).toEqual(
      new Set([
        'dist/apps/gateway/src/main.js',
        'dist/apps/api/src/main.js',
        'dist/apps/worker/src/main.js',
        'dist/apps/cli/src/migrate.js',
        'dist/devices-sim/src/main.js',
      ]),
    );
    for (const s of appServices) expect(s.command[0]).toBe('node');
    expect(obj(services.simulator, 'simulator').profiles).toEqual(['sim']);
  });

  it("every service's command is an entry point the Dockerfile builds", () => {
    const copied = [...read('Dockerfile').matchAll(/^COPY\s+(?!--)(.+)$/gm)].flatMap((m) => m[1].trim().split(/\s+/).slice(0, -1));
    const buildExcluded = /\.(spec|int-spec|e2e-spec)\.ts$/;
    for (const s of appServices) {
      const entry = /^dist\/(.+)\.js$/.exec(s.entry);
      expect(entry).not.toBeNull();
      const source = `${entry?.[1]}.ts`;
      expect({ service: s.name, source, exists: existsSync(join(repoRoot, source)) }).toEqual({ service: s.name, source, exists: true });
      expect(source).toMatch(/^(apps\/[a-z-]+\/src|devices-sim\/src)\/[a-z-]+\.ts$/);
      expect(source).not.toMatch(buildExcluded);
      // The top-level source directory is copied into the build stage.
      expect(copied).toContain(source.split('/')[0]);
    }
  });

  it('application services set only settings the config schema knows, with values it accepts', () => {
    const known = new Set(Object.keys(envSchema.shape));
    expect(byRole('dist/apps/').length).toBe(4);
    for (const s of byRole('dist/apps/')) {
      const unknown = Object.keys(s.environment).filter((k) => !known.has(k));
      expect({ service: s.name, unknown }).toEqual({ service: s.name, unknown: [] });
      // The real loader: a value it refuses would stop the process at start.
      expect(() => loadConfig(s.environment)).not.toThrow();
      expect(loadConfig(s.environment).database.url).toMatch(/^postgres:\/\/fleet:.+@timescaledb:5432\/fleet$/);
    }
  });

  it('the loader check catches a bad value (a too-short CREDENTIAL_PEPPER)', () => {
    const gateway = processes.find((s) => s.name === 'gateway');
    expect(() => loadConfig({ ...gateway?.environment, CREDENTIAL_PEPPER: 'short' })).toThrow(/CREDENTIAL_PEPPER/);
  });

  it("the simulator's arguments parse and each variable it sets is one the simulator reads", () => {
    const [sim] = byRole('dist/devices-sim/');
    expect(sim).toBeDefined();
    const accessed = new Set<string>();
    const env = new Proxy(sim.environment, {
      get(target, key) {
        if (typeof key === 'string') accessed.add(key);
        return target[key as string];
      },
    });
    const parsed = parseCliOptions(sim.command.slice(2), env);
    expect(parsed.kind).toBe('run');
    const unread = Object.keys(sim.environment).filter((k) => !accessed.has(k));
    expect(unread).toEqual([]);
    if (parsed.kind !== 'run') return;
    // It enrols and connects through the gateway service on the gateway's ports.
    const gateway = processes.find((s) => s.name === 'gateway');
    expect(new URL(parsed.options.brokerUrl).host).toBe(`gateway:${gateway?.environment.MQTT_PORT ?? '1883'}`);
    expect(new URL(parsed.options.httpUrl).host).toBe(`gateway:${gateway?.environment.HTTP_PORT ?? '8080'}`);
    expect(parsed.options.adminToken).not.toBeNull();
  });

  it('every variable the file uses is in docker/.env.example, and every required one is needed there', () => {
    const undocumented = [...referenced].filter((v) => !example.documented.has(v));
    expect(undocumented).toEqual([]);
    expect(required.size).toBeGreaterThan(0);
    for (const name of required) expect({ name, inExample: example.values.has(name) }).toEqual({ name, inExample: true });
  });

  it('long-running services have health checks; stateful ones use named volumes declared at the top', () => {
    const declared = new Set(Object.keys(obj(compose.volumes, 'volumes')));
    for (const [name, s] of Object.entries(services)) {
      const service = obj(s, name);
      if (service.restart !== 'no' && name !== 'simulator') expect({ name, healthcheck: isObject(service.healthcheck) }).toEqual({ name, healthcheck: true });
      for (const v of Array.isArray(service.volumes) ? service.volumes : []) {
        const source = typeof v === 'string' ? v.split(':')[0] : str(obj(v, `${name} volume`).source, `${name} volume source`);
        if (!source.startsWith('.') && !source.startsWith('/')) expect(declared).toContain(source);
      }
    }
    expect(services.timescaledb).toMatchObject({ volumes: ['timescale-data:/var/lib/postgresql/data'] });
  });

  it('pins every third-party image to a version tag', () => {
    for (const [name, s] of Object.entries(services)) {
      const image = str(obj(s, name).image, `${name}.image`);
      if (image.startsWith('pos-fleet:')) continue;
      expect(image).toMatch(/^[a-z0-9./-]+:v?\d+\.\d+\.\d+[\w.-]*$/);
    }
  });

  it('lets the gateway hold 100k+ connections (nofile ulimit)', () => {
    const ulimits = obj(obj(services.gateway, 'gateway').ulimits, 'gateway.ulimits');
    const nofile = obj(ulimits.nofile, 'nofile');
    expect(Number(nofile.soft)).toBeGreaterThanOrEqual(200_000);
    expect(Number(nofile.hard)).toBeGreaterThanOrEqual(Number(nofile.soft));
  });
});

/** package.json, for its dependencies and its #imports map. */
const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  imports: Record<string, { types: string }>;
};

/**
 * Bare package names the module graph from `entry` (a .ts source) loads at run time: follows relative
 * and #subpath imports and re-exports; type-only imports are erased by the compiler and skipped.
 */
function runtimePackages(entry: string): Map<string, string> {
  const found = new Map<string, string>();
  const seen = new Set<string>();
  const queue = [entry];
  const specifiers = /^\s*(?:import|export)\s+(?!type\s)(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/gm;
  for (let file = queue.pop(); file !== undefined; file = queue.pop()) {
    if (seen.has(file)) continue;
    seen.add(file);
    for (const m of readFileSync(join(repoRoot, file), 'utf8').matchAll(specifiers)) {
      const spec = m[1] ?? m[2];
      if (spec.startsWith('node:')) continue;
      if (spec.startsWith('.')) {
        queue.push(posix.join(posix.dirname(file), spec).replace(/\.js$/, '.ts'));
      } else if (spec.startsWith('#')) {
        const exact = pkg.imports[spec];
        const wildcard = Object.entries(pkg.imports).find(([k]) => k.endsWith('/*') && spec.startsWith(k.slice(0, -1)));
        const target = exact ? exact.types : wildcard?.[1].types.replace('*', spec.slice(wildcard[0].length - 1)).replace(/\.js$/, '.ts');
        if (target === undefined) throw new Error(`${file}: ${spec} is not in package.json imports`);
        queue.push(posix.normalize(target));
      } else {
        const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
        if (!found.has(name)) found.set(name, file);
      }
    }
  }
  return found;
}

describe('the runtime image', () => {
  it('has every package the entry points load: production dependencies only (dev ones are pruned)', () => {
    for (const s of appServices) {
      const entry = `${/^dist\/(.+)\.js$/.exec(s.entry)?.[1]}.ts`;
      const packages = runtimePackages(entry);
      // The graph really was walked: the gateway reaches the broker, the simulator the MQTT client.
      if (s.name === 'gateway') expect([...packages.keys()]).toEqual(expect.arrayContaining(['aedes', '@nestjs/core', 'pg']));
      if (s.name === 'simulator') expect([...packages.keys()]).toContain('mqtt');
      const missing = [...packages].filter(([name]) => !(name in pkg.dependencies)).map(([name, file]) => `${name} (${file})`);
      expect({ service: s.name, missing }).toEqual({ service: s.name, missing: [] });
    }
  });
});

describe('docker/prometheus.yml', () => {
  it('scrapes exactly the gateway, api and worker on their HTTP ports', () => {
    const prometheus = obj(parse(read('prometheus.yml')) as Json, 'prometheus.yml');
    const targets = (prometheus.scrape_configs as JsonObject[]).flatMap((job) =>
      (job.static_configs as JsonObject[]).flatMap((c) => strings(c.targets, `${str(job.job_name, 'job_name')} targets`)),
    );
    expect(processes.length).toBe(3);
    const expected = processes.map((s) => `${s.name}:${s.environment.HTTP_PORT ?? '8080'}`);
    expect(targets.sort()).toEqual(expected.sort());
    // Distinct ports, so a target cannot silently scrape the wrong process.
    expect(new Set(processes.map((s) => s.environment.HTTP_PORT)).size).toBe(3);
    const mounts = strings(obj(services.prometheus, 'prometheus').volumes, 'prometheus.volumes');
    expect(mounts).toContain('./prometheus.yml:/etc/prometheus/prometheus.yml:ro');
  });
});

describe('docker/Dockerfile', () => {
  const dockerfile = read('Dockerfile');
  const stages = dockerfile.split(/^FROM\s+/m).slice(1);

  it('is multi-stage: builds once (npm ci, nest build, prune) and copies only the build output into the runtime', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const build = stages[0];
    expect(build).toMatch(/npm ci\b/);
    expect(build).toMatch(/npm run build\b/);
    expect(build).toMatch(/npm prune --omit=dev/);
    const runtime = stages[stages.length - 1];
    for (const copy of runtime.matchAll(/^COPY\s+(.+)$/gm)) expect(copy[1]).toMatch(/^--from=build\s/);
    expect(runtime).not.toMatch(/npm (ci|install)\b/);
  });

  it('runs as a non-root user, the role chosen by the command', () => {
    const runtime = stages[stages.length - 1];
    const users = [...runtime.matchAll(/^USER\s+(\S+)/gm)].map((m) => m[1]);
    expect(users.length).toBeGreaterThan(0);
    expect(users[users.length - 1]).not.toMatch(/^(root|0)(:|$)/);
    expect(runtime).toMatch(/^CMD \["node", ("--[a-z-]+=\d+", )*"dist\/apps\/[a-z]+\/src\/main\.js"\]$/m);
  });

  it('the sources the build compiles are not excluded by .dockerignore', () => {
    const ignored = readFileSync(join(repoRoot, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    for (const dir of ['apps', 'libs', 'devices-sim', 'package.json', 'package-lock.json']) expect(ignored).not.toContain(dir);
    // docker/.env holds the secrets: never part of the build context (nor of git, see .gitignore).
    expect(ignored).toContain('**/.env');
  });
});

describe('Grafana in docker/compose.yml', () => {
  const grafana = obj(services.grafana, 'grafana');
  const mounts = strings(grafana.volumes, 'grafana.volumes').map((v) => {
    const [source, target] = v.split(':');
    return { source: posix.normalize(posix.join('docker', source)), target };
  });
  const mountOf = (source: string): string | undefined => mounts.find((m) => m.source === source)?.target;
  const providerDir = join(repoRoot, 'dashboards/provisioning/dashboards');
  const datasourceDir = join(repoRoot, 'dashboards/provisioning/datasources');
  const yamlFiles = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)) : []).map((f) => join(dir, f));
  // The provisioning files come from the dashboards work (dashboards/); until they exist these are skipped, not passed.
  const providers = yamlFiles(providerDir);
  const datasources = yamlFiles(datasourceDir);

  it('mounts dashboards/provisioning at /etc/grafana/provisioning and dashboards/generated read-only', () => {
    expect(mountOf('dashboards/provisioning')).toBe('/etc/grafana/provisioning');
    expect(mountOf('dashboards/generated')).toBeDefined();
    for (const v of strings(grafana.volumes, 'grafana.volumes')) if (v.startsWith('..')) expect(v).toMatch(/:ro$/);
  });

  it("gives the read-only role Grafana's password before Grafana starts", () => {
    const setter = obj(services['reader-password'], 'reader-password');
    const setterEnv = obj(setter.environment, 'reader-password.environment');
    expect(setterEnv.FLEET_READER_PASSWORD).toBe(obj(grafana.environment, 'grafana.environment').FLEET_READER_PASSWORD);
    expect(strings(setter.command, 'reader-password.command').join(' ')).toContain("ALTER ROLE fleet_reader WITH LOGIN PASSWORD :'pw'");
    expect(grafana.depends_on).toMatchObject({ 'reader-password': { condition: 'service_completed_successfully' } });
    expect(setter.depends_on).toMatchObject({ migrate: { condition: 'service_completed_successfully' } });
  });

  (providers.length > 0 ? it : it.skip)('every dashboards provider points at the mounted dashboards/generated', () => {
    const target = mountOf('dashboards/generated');
    for (const file of providers) {
      const doc = obj(parse(readFileSync(file, 'utf8')) as Json, file);
      const list = doc.providers as JsonObject[];
      expect(list.length).toBeGreaterThan(0);
      for (const p of list)
        expect({ file: relative(repoRoot, file), path: obj(p.options, 'options').path }).toEqual({ file: relative(repoRoot, file), path: target });
    }
  });

  (datasources.length > 0 ? it : it.skip)('the datasources reach stack services and every variable they use is set for Grafana', () => {
    const env = obj(grafana.environment, 'grafana.environment');
    let readerRole = false;
    for (const file of datasources) {
      const text = readFileSync(file, 'utf8');
      // Values only (comments may mention $VAR as an example).
      const values: string[] = [];
      const collect = (node: Json): void => {
        if (typeof node === 'string') values.push(node);
        else if (Array.isArray(node)) node.forEach(collect);
        else if (isObject(node)) Object.values(node).forEach(collect);
      };
      collect(parse(text) as Json);
      for (const m of values.join('\n').matchAll(/\$\{?([A-Za-z_][A-Za-z0-9_]*)/g)) {
        if (m[1].startsWith('__')) continue; // Grafana's own $__file{}, $__env{} forms
        expect({ file: relative(repoRoot, file), variable: m[1], set: m[1] in env }).toEqual({ file: relative(repoRoot, file), variable: m[1], set: true });
      }
      const doc = obj(parse(text) as Json, file);
      for (const ds of doc.datasources as JsonObject[]) {
        const url = ds.url === undefined ? '' : str(ds.url, `${file} url`);
        const host = url.replace(/^\w+:\/\//, '').split(/[:/]/)[0];
        expect(Object.keys(services)).toContain(host);
        if (ds.user === 'fleet_reader') readerRole = true;
      }
    }
    expect(readerRole).toBe(true);
  });
});
