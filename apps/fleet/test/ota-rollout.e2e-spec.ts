/**
 * Issue #9 "done when", end to end with real parts: two gateway processes on embedded PostgreSQL (the
 * first also runs the API and the worker with the campaign runner, the second is a bare gateway), a
 * release signed with the CLI's signing functions and uploaded through the API, campaigns created, dry
 * run, approved by a second ops-admin and started through the API, and a simulated fleet (devices-sim
 * terminals, mqtt.js over TCP, downloads with Range over HTTP) spread over both gateways.
 *
 * Time: every process and every terminal share one clock that runs 10× faster than real time (soaks,
 * offline detection and URL lifetimes pass in seconds) and can jump. It starts more than a day in the
 * past, at night in the terminals' time zone (few transactions), so terminal timestamps are never in
 * the future for the ingest's real-time check.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { COMMAND_CLOCK, type CommandClock } from '#commands';
import { GATEWAY } from '#runtime';
import { OtaInstallService, signArtifactWithKeyFile, writeReleaseKeyPair, type WrittenKeyPair } from '#ota';
import {
  freePort,
  scrapeMetric,
  startTestDatabase,
  startTestGateway,
  testDbKinds,
  waitFor,
  type TestDatabase,
  type TestGateway,
  type TestGatewayOptions,
} from '#testing';
import { loadReleasePublicKey } from '../../../devices-sim/src/artifact-download.js';
import { generateTerminalProfile, type TerminalProfile } from '../../../devices-sim/src/fleet-generator.js';
import { badReleaseFault, type OtaFault, type OtaScenarioKind } from '../../../devices-sim/src/ota-model.js';
import { SimStats } from '../../../devices-sim/src/sim-stats.js';
import { DEFAULT_COMMAND_RUNTIME, DEFAULT_RUNTIME, SimulatedTerminal } from '../../../devices-sim/src/terminal-client.js';

// Fast enough for soaks and offline detection to pass in seconds; slow enough that an event-loop stall of
// a few seconds on a loaded machine does not make a heartbeating terminal look offline (60 s of clock).
const SPEED = 10;
const OLD_VERSION = 'SIM_V1.0.0';
const NEW_VERSION = 'SIM_V2.0.0';
const ALL_DAY = { start: '00:00', end: '00:00', tz: 'Asia/Shanghai' };

/** The ledger's clock for every process and terminal: SPEED× real time from a start in the past, plus jumps. */
class FastClock implements CommandClock {
  private readonly realStart = Date.now();
  private base: number;
  constructor(start: number) {
    this.base = start;
  }
  ms(): number {
    return this.base + (Date.now() - this.realStart) * SPEED;
  }
  now(): Date {
    return new Date(this.ms());
  }
  advance(ms: number): void {
    this.base += ms;
  }
}

/** 02:00 in Shanghai (18:00 UTC), 30 to 54 hours ago. */
function pastNight(): number {
  const d = new Date(Date.now() - 36 * 3_600_000);
  d.setUTCHours(18, 0, 0, 0);
  return d.getTime();
}

interface Answer<T> {
  status: number;
  body: T;
}
type Json = Record<string, unknown>;

interface Progress {
  state: string;
  pauseReason: string | null;
  wave: number;
  totals: { assigned: number; succeeded: number; failed: number; inFlight: number };
  waves: { wave: number; assigned: number; succeeded: number; states: Record<string, number> }[];
  health: {
    wave: number;
    verdict: string;
    updated: number;
    control: number;
    metrics: Record<string, { updatedRate: number; controlRate: number; limit: number; bad: boolean }>;
  }[];
}

interface CommandBody {
  id: string;
  sn: string;
  state: string;
  reason: string | null;
  params: Json;
  sentAt: string | null;
  confirmedAt: string | null;
  history: { state: string; source: string; reason: string | null }[];
}

/** Healthy terminals (active plan, few spontaneous reboots, no alert scenario) of `model`; `keep` filters further. */
function profiles(prefix: string, model: string, n: number, keep: (p: TerminalProfile) => boolean = () => true): TerminalProfile[] {
  const out: TerminalProfile[] = [];
  for (let i = 1; out.length < n && i < 2000; i++) {
    const p = generateTerminalProfile(i, { seed: 'ota-rollout-e2e', snPrefix: prefix });
    if (p.sim.plan.scenario === 'healthy' && p.rebootsPerDay < 0.05 && p.scenario === null && keep(p)) {
      out.push({ ...p, model, firmwareVersion: OLD_VERSION });
    }
  }
  if (out.length < n) throw new Error(`only ${out.length} profiles for ${prefix}`);
  return out;
}

const faultOf = (p: TerminalProfile): OtaFault => badReleaseFault(p.sn, String(p.stateSeed));

const kinds = testDbKinds();
// Two gateway processes need a database with real concurrent sessions (LISTEN/NOTIFY): PostgreSQL.
(kinds.includes('postgres') ? describe : describe.skip)('OTA rollout end to end: two gateways, a simulated fleet, campaigns through the API', () => {
  let db: TestDatabase;
  let gwA: TestGateway;
  let gwB: TestGateway;
  let clock: FastClock;
  let work: string;
  let keys: WrittenKeyPair;
  let opsA: string;
  let opsB: string;
  const terminals: SimulatedTerminal[] = [];
  const secrets = new Map<string, string>();

  const call = async <T = Json>(method: string, path: string, key: string, body?: unknown): Promise<Answer<T>> => {
    const headers: Record<string, string> = { authorization: `Bearer ${key}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${gwA.httpUrl}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as T };
  };
  const progress = async (id: string): Promise<Progress> => (await call<Progress>('GET', `/v1/campaigns/${id}/progress`, opsA)).body;

  /** A simulated terminal on gateway `gw` (the clock is the backend's). */
  const terminal = (p: TerminalProfile, gw: TestGateway, scenario: OtaScenarioKind | null = null): SimulatedTerminal => {
    const t = new SimulatedTerminal(
      p,
      { sn: p.sn, username: p.sn, secret: secrets.get(p.sn) ?? '' },
      {
        ...DEFAULT_RUNTIME,
        brokerUrl: gw.mqttUrl,
        intervalMs: 400,
        backoff: { baseMs: 20, capMs: 200 },
        commands: {
          ...DEFAULT_COMMAND_RUNTIME,
          releasePublicKey: loadReleasePublicKey(keys.configEntry),
          dropAtPercent: 40,
          installDelayMs: 100,
          rebootDelayMs: 200,
          deferRetryMs: 200,
          downloadRetryMs: 100,
        },
      },
      new SimStats(),
      { info: () => {}, limited: () => {} },
      () => clock.ms(),
      scenario,
    );
    terminals.push(t);
    t.start(0);
    return t;
  };

  /** Registers and boots terminals alternately on gateway A and B; resolves once all reported their version. */
  const boot = async (
    ps: TerminalProfile[],
    model: string,
    scenario: (p: TerminalProfile) => OtaScenarioKind | null = () => null,
    gateways: TestGateway[] = [gwA, gwB],
  ) => {
    for (const [sn, secret] of await gwA.register(
      ps.map((p) => p.sn),
      model,
    ))
      secrets.set(sn, secret);
    const started = ps.map((p, i) => terminal(p, gateways[i % gateways.length], scenario(p)));
    await waitFor(
      () =>
        gwA.query<{ n: number }>(`SELECT count(*)::int AS n FROM terminal_state WHERE sn = ANY($1::text[]) AND firmware_version = $2`, [
          ps.map((p) => p.sn),
          OLD_VERSION,
        ]),
      (rows) => rows[0].n === ps.length,
      20_000,
    );
    return started;
  };

  /** A release signed with the CLI's functions (`npm run releases -- sign`), uploaded through the API. */
  const upload = async (model: string, bytes: number): Promise<string> => {
    const data = randomBytes(bytes);
    const file = join(work, `${model}.bin`);
    writeFileSync(file, data);
    const signed = await signArtifactWithKeyFile(keys.privateKeyPath, file);
    const created = await call<{ id: string }>('POST', '/v1/releases', opsA, {
      model,
      component: 'firmware',
      version: NEW_VERSION,
      signature: signed.signature,
      keyId: signed.keyId,
      minBatteryPct: 0,
    });
    expect(created.status).toBe(201);
    const put = await fetch(`${gwA.httpUrl}/v1/releases/${created.body.id}/artifact`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${opsA}`, 'content-type': 'application/octet-stream' },
      body: data,
    });
    expect(put.status).toBe(200);
    return created.body.id;
  };

  /** Created by ops A, approved by ops B (four eyes), started by ops A. */
  const launch = async (body: Json): Promise<string> => {
    const created = await call<{ id: string; state: string }>('POST', '/v1/campaigns', opsA, body);
    expect(created).toMatchObject({ status: 201, body: { state: 'draft' } });
    expect((await call('POST', `/v1/campaigns/${created.body.id}/approve`, opsA)).status).toBe(403);
    expect((await call('POST', `/v1/campaigns/${created.body.id}/approve`, opsB)).status).toBe(200);
    expect((await call('POST', `/v1/campaigns/${created.body.id}/start`, opsA)).status).toBe(200);
    return created.body.id;
  };

  const commandsOf = async (sn: string): Promise<CommandBody[]> =>
    (await call<{ items: CommandBody[] }>('GET', `/v1/terminals/${sn}/commands?limit=10`, opsA)).body.items;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'ota-rollout-e2e-'));
    keys = writeReleaseKeyPair(join(work, 'keys'));
    clock = new FastClock(pastNight());
    db = await startTestDatabase('postgres');
    const port = await freePort();
    const env = {
      OTA_RELEASE_PUBLIC_KEYS: keys.configEntry,
      OTA_ARTIFACT_DIR: join(work, 'artifacts'),
      // Download URLs point at gateway A's API, whichever process signs them.
      OTA_PUBLIC_BASE_URL: `http://127.0.0.1:${port}`,
      API_RATE_LIMIT_PER_MINUTE: '100000',
      ALERTS_ENABLED: 'false',
      CAMPAIGN_TICK_MS: '200',
      COMMAND_SWEEP_INTERVAL_MS: '300',
    };
    const override: TestGatewayOptions['override'] = (b) => b.overrideProvider(COMMAND_CLOCK).useValue(clock);
    gwA = await startTestGateway(db, { ...env, HTTP_PORT: String(port) }, { override });
    gwB = await startTestGateway(db, env, { override, composition: GATEWAY });
    opsA = await gwA.issueKey('ops-a');
    opsB = await gwA.issueKey('ops-b');
  }, 120_000);

  afterAll(async () => {
    await Promise.all(terminals.map((t) => t.disconnect()));
    await gwB?.close();
    await gwA?.close();
    await db?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('a good release rolls out canary → waves → done over both gateways; a terminal offline at dispatch catches up on reconnect', async () => {
    const model = 'SIM-GOOD';
    const fleet = profiles('SGD', model, 10);
    const sims = await boot(fleet, model);
    // One terminal of gateway B goes offline before the campaign exists.
    const offlineIndex = 1;
    await sims[offlineIndex].disconnect();
    const releaseId = await upload(model, 200_000);

    const waves = { canary: { count: 2 }, growth: 2 };
    const dry = await call<Json>('POST', '/v1/campaigns/dry-run', opsA, { releaseId, waves });
    expect(dry).toMatchObject({ status: 200, body: { targetCount: 10, waveSizes: [2, 4, 4], artifactBytes: 200_000 } });
    const id = await launch({
      name: 'good release',
      releaseId,
      waves,
      ratePerMinute: 1000,
      soakSeconds: 30,
      successThreshold: 1,
      guards: { minBatteryPct: 0, orCharging: true, planHeadroomBytes: 0, window: ALL_DAY },
      // Lenient on transaction declines: a wave of two terminals is a small sample.
      healthGate: { minSample: 2, offlineAfterS: 60, points: 0.5, alertRules: [] },
    });

    // The offline terminal's command waits in the ledger, never sent, until the terminal comes back.
    const offline = fleet[offlineIndex];
    const [pending] = await waitFor(
      () => commandsOf(offline.sn),
      (items) => items.length === 1,
      40_000,
      100,
    );
    expect(pending).toMatchObject({ state: 'queued', sentAt: null, reason: null });
    const reconnectedAt = clock.ms();
    terminal(offline, gwB);

    const done = await waitFor(
      () => progress(id),
      (p) => p.state !== 'running',
      50_000,
      200,
    );
    expect(done.state).toBe('completed');
    expect(done.waves.map((w) => [w.wave, w.assigned, w.succeeded])).toEqual([
      [0, 2, 2],
      [1, 4, 4],
      [2, 4, 4],
    ]);
    // The health gate judged each wave after its soak against the terminals not updated yet, and
    // passed it; after the last one nobody is left to compare with.
    expect(done.health.map((h) => [h.wave, h.verdict, h.updated, h.control])).toEqual([
      [0, 'pass', 2, 8],
      [1, 'pass', 6, 4],
      [2, 'insufficient_sample', 10, 0],
    ]);

    for (const p of fleet) {
      const [cmd] = await commandsOf(p.sn);
      expect(cmd).toMatchObject({ state: 'succeeded', sn: p.sn });
      // Terminals on both gateways went through the whole flow, confirmed by a heartbeat on the new version.
      expect(cmd.history.filter((h) => h.source === 'terminal').map((h) => h.state)).toEqual(
        expect.arrayContaining(['accepted', 'downloading', 'downloaded', 'verified', 'installing', 'succeeded']),
      );
    }
    const caughtUp = (await commandsOf(offline.sn))[0];
    expect(Date.parse(caughtUp.sentAt ?? '')).toBeGreaterThanOrEqual(reconnectedAt - 1000);
    const versions = await gwA.query<{ sn: string; v: string }>(`SELECT sn, firmware_version AS v FROM terminal_state WHERE sn = ANY($1::text[])`, [
      fleet.map((p) => p.sn),
    ]);
    expect(versions.every((r) => r.v === NEW_VERSION)).toBe(true);
    await waitFor(
      () => gwA.query<{ n: number }>(`SELECT count(*)::int AS n FROM commands WHERE campaign_id = $1 AND confirmed_at IS NOT NULL`, [id]),
      (rows) => rows[0].n === fleet.length,
      15_000,
    );
    // Every first download was cut at 40 % and resumed with Range (206) from gateway A's artifact route.
    expect(await scrapeMetric(gwA.httpUrl, 'fleet_ota_downloads_total', 'result="partial"')).toBeGreaterThanOrEqual(fleet.length);
    // Gateway B published to its terminals the commands the worker on A created (LISTEN/NOTIFY, sweep).
    expect(await scrapeMetric(gwB.httpUrl, 'fleet_commands_published_total', 'result="ok"')).toBeGreaterThanOrEqual(fleet.length / 2);
    await Promise.all(terminals.map((t) => t.disconnect()));
  }, 120_000);

  it('a bad release (installs fine, then terminals go silent or lose signal) is paused by the health gate before wave 2', async () => {
    const model = 'SIM-BAD';
    // Six that go silent and two that lose signal: any canary of four has at least two silent ones.
    const fleet = [...profiles('SBDS', model, 6, (p) => faultOf(p) === 'silent'), ...profiles('SBDW', model, 2, (p) => faultOf(p) === 'weak-signal')];
    await boot(fleet, model, () => 'ota-bad-release');
    const releaseId = await upload(model, 100_000);
    const id = await launch({
      name: 'bad release',
      releaseId,
      waves: { canary: { count: 4 }, growth: 2 },
      ratePerMinute: 1000,
      // Longer than offlineAfterS: silent terminals count as offline when the gate judges.
      soakSeconds: 90,
      successThreshold: 1,
      guards: { minBatteryPct: 0, orCharging: true, planHeadroomBytes: 0, window: ALL_DAY },
      healthGate: { minSample: 2, offlineAfterS: 60, alertRules: [] },
    });

    const paused = await waitFor(
      () => progress(id),
      (p) => p.state !== 'running',
      50_000,
      200,
    );
    expect(paused.state).toBe('paused');
    // Every canary install succeeded; the second wave never started.
    expect(paused.wave).toBe(0);
    expect(paused.waves.map((w) => [w.wave, w.assigned, w.succeeded])).toEqual([[0, 4, 4]]);
    const canary = (await gwA.query<{ sn: string }>(`SELECT sn FROM commands WHERE campaign_id = $1`, [id])).map((r) => r.sn);
    const silent = fleet.filter((p) => canary.includes(p.sn) && faultOf(p) === 'silent').length;
    expect(silent).toBeGreaterThanOrEqual(2);
    // The comparison and its numbers are in the progress view and the pause reason: the silent
    // terminals are offline, the control group (not updated yet) is not.
    expect(paused.health).toHaveLength(1);
    const [gate] = paused.health;
    expect(gate).toMatchObject({ wave: 0, verdict: 'fail', updated: 4, control: 4 });
    const offline = gate.metrics.offline;
    expect(offline).toMatchObject({ limit: Math.max(2 * offline.controlRate, offline.controlRate + 0.1), bad: true });
    expect(offline.updatedRate).toBeGreaterThanOrEqual(silent / 4);
    expect(offline.controlRate).toBeLessThan(offline.updatedRate);
    expect(paused.pauseReason).toMatch(/^health gate after wave 0: /);
    expect(paused.pauseReason).toContain(`offline ${offline.updatedRate} > ${offline.limit} (control ${offline.controlRate})`);
    // Still paused a soak later: nothing more is dispatched.
    clock.advance(300_000);
    await new Promise((r) => setTimeout(r, 600));
    expect(await progress(id)).toMatchObject({ state: 'paused', totals: { assigned: 4 } });
    await Promise.all(terminals.map((t) => t.disconnect()));
  }, 120_000);

  it('a terminal deferred past the download URL lifetime gets a fresh URL on the resend and the download succeeds', async () => {
    const model = 'SIM-URL';
    const [p] = profiles('SURL', model, 1);
    // On gateway B, on a low battery (the scenario reads 8 %, the floor is 9): it defers (battery)
    // until it is put on its charger.
    const [sim] = await boot([p], model, () => 'ota-low-battery', [gwB]);
    expect(sim.isConnected).toBe(true);
    const releaseId = await upload(model, 100_000);
    const { params } = await gwA.running.app.get(OtaInstallService).installParams({ releaseId, sn: p.sn, commandId: 'operator', now: clock.now() });
    const sent = await call<{ id: string }>('POST', `/v1/terminals/${p.sn}/commands`, opsA, {
      type: 'ota.install',
      params: { ...params, guards: { minBatteryPct: 9, orCharging: true, planHeadroomBytes: 0, window: ALL_DAY } },
    });
    expect(sent.status).toBe(201);
    const get = async () => (await call<CommandBody>('GET', `/v1/commands/${sent.body.id}`, opsA)).body;
    await waitFor(get, (c) => c.state === 'deferred', 15_000);

    // Two hours pass (the URL lives one): the URL the command was created with is refused.
    clock.advance(2 * 3_600_000);
    const stored = String((await get()).params.url);
    const refusedBefore = await scrapeMetric(gwA.httpUrl, 'fleet_ota_downloads_total', 'result="refused"');
    expect((await fetch(stored)).status).toBe(403);
    // The sweep republishes the deferred command (same id, still deferred) with a URL signed now;
    // the terminal answers the resend with its status.
    const resent = await waitFor(get, (c) => c.history.filter((h) => h.state === 'deferred').length >= 2, 15_000);
    expect(resent.state).toBe('deferred');
    sim.otaScenario = null;
    const done = await waitFor(get, (c) => c.state === 'succeeded', 20_000);
    expect(done.history.filter((h) => h.source === 'terminal').map((h) => h.state)).toEqual(expect.arrayContaining(['downloaded', 'verified', 'succeeded']));
    expect(sim.firmware?.version).toBe(NEW_VERSION);
    // Only the probe above was refused: the terminal never used an expired URL.
    expect(await scrapeMetric(gwA.httpUrl, 'fleet_ota_downloads_total', 'result="refused"')).toBe(refusedBefore + 1);
  }, 90_000);
});
