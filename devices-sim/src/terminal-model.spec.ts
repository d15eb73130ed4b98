import { describe, expect, it } from '@jest/globals';
import { HEARTBEAT_MAX_BYTES_DEFAULT, heartbeatSchema, parsePayload, type Heartbeat } from '#contracts';
import { PLAN_GRACE_DAYS } from './fleet-catalog.js';
import { generateFleet, generateTerminalProfile, type PlanProfile, type TerminalProfile } from './fleet-generator.js';
import {
  addDays,
  addYears,
  advanceTerminal,
  formatLocalTimestamp,
  initialTerminalState,
  localDate,
  localMinuteOfDay,
  nextHeartbeat,
  type TerminalState,
} from './terminal-model.js';

const MIN = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
/** 2025-03-03 00:00 China Standard Time. */
const START = Date.parse('2025-03-02T16:00:00Z');

/**
 * Checks a heartbeat against heartbeatSchema without calling `expect` (these run tens of thousands of times):
 * returns why it is invalid, or null when it parses and carries only fields the schema declares.
 */
function validate(hb: Heartbeat): string | null {
  const json = JSON.stringify(hb);
  const result = parsePayload(json, heartbeatSchema, {
    maxBytes: HEARTBEAT_MAX_BYTES_DEFAULT,
    supportedVersions: [1],
  });
  if (!result.ok) return `${result.reason}: ${result.detail}\n${json}`;
  if (result.extra !== null) {
    return `the simulator sends only fields the schema declares; extra: ${JSON.stringify(result.extra)}\n${json}`;
  }
  return null;
}

/**
 * Hot loops record each failed condition (with its context) instead of calling `expect` per sample, which
 * costs tens of microseconds under Jest; this asserts once that none were recorded, showing the count and
 * the first few.
 */
function expectNoViolations(violations: readonly string[]): void {
  expect({ count: violations.length, first: violations.slice(0, 10) }).toStrictEqual({ count: 0, first: [] });
}

interface Sample {
  t: number;
  state: TerminalState;
  heartbeat: Heartbeat | null;
}

function simulate(profile: TerminalProfile, start: number, days: number, stepMs: number, includeLocation = false): Sample[] {
  let state = initialTerminalState(profile, start);
  const out: Sample[] = [];
  for (let t = start + stepMs; t <= start + days * DAY; t += stepMs) {
    const r = nextHeartbeat(profile, state, t, { includeLocation });
    state = r.state;
    out.push({ t, state, heartbeat: r.heartbeat });
  }
  return out;
}

function withPlan(profile: TerminalProfile, plan: Partial<PlanProfile>): TerminalProfile {
  return { ...profile, sim: { ...profile.sim, plan: { ...profile.sim.plan, ...plan } } };
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

describe('terminal model: heartbeat validity', () => {
  it('every heartbeat validates against heartbeatSchema, for many seeds over simulated days', () => {
    let checked = 0;
    const violations: string[] = [];
    const statuses = new Set<string>();
    const rats = new Set<string>();
    for (const seed of ['s1', 's2', 's3', 's4', 'fifth', '6']) {
      const start = START + (seed.length * 7 + seed.charCodeAt(0)) * HOUR; // vary the local start time
      for (const profile of generateFleet(40, { seed, snPrefix: 'SIM' })) {
        const samples = simulate(profile, start, 4, 20 * MIN, seed.charCodeAt(1) % 2 === 0);
        for (let i = 0; i < samples.length; i++) {
          const s = samples[i];
          if (!s.heartbeat) continue;
          const error = validate(s.heartbeat);
          if (error !== null) violations.push(`seed ${seed} ${profile.sn} #${i} t=${s.t}: ${error}`);
          statuses.add(s.heartbeat.sim.plan.status);
          rats.add(s.heartbeat.signal.rat);
          checked++;
        }
      }
    }
    expectNoViolations(violations);
    expect(checked > 50_000).toBeTruthy();
    expect([...statuses].sort()).toStrictEqual(['active', 'expired', 'grace', 'suspended']);
    expect(rats.has('LTE') && (rats.has('GSM') || rats.has('UMTS'))).toBeTruthy();
  });

  it('minute-by-minute heartbeats validate and carry increasing seq, uptime and RFC 3339 local time', () => {
    const violations: string[] = [];
    const localTs = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+08:00$/;
    for (const profile of generateFleet(20, { seed: 'fine', snPrefix: 'SIM' })) {
      let lastSeq = -1;
      let lastUptime = -1;
      const samples = simulate(profile, START, 1, MIN, true);
      for (let i = 0; i < samples.length; i++) {
        const s = samples[i];
        if (!s.heartbeat) {
          lastSeq = -1;
          continue;
        }
        const hb = s.heartbeat;
        const at = (): string => `${profile.sn} #${i} t=${s.t}`;
        const error = validate(hb);
        if (error !== null) violations.push(`${at()}: ${error}`);
        if (typeof hb.ts !== 'string' || !localTs.test(hb.ts)) {
          violations.push(`${at()}: ts ${JSON.stringify(hb.ts)} is not RFC 3339 local time at +08:00`);
        }
        if (!Object.is(Date.parse(hb.ts), s.t)) violations.push(`${at()}: ts ${hb.ts} parses to ${Date.parse(hb.ts)}, not ${s.t}`);
        if (lastSeq >= 0 && hb.seq !== 0) {
          if (!Object.is(hb.seq, lastSeq + 1)) violations.push(`${at()}: seq ${hb.seq} after ${lastSeq}`);
          if (!(hb.uptimeS > lastUptime)) violations.push(`${at()}: uptimeS ${hb.uptimeS} not above ${lastUptime}`);
        }
        lastSeq = hb.seq;
        lastUptime = hb.uptimeS;
        if (!hb.location) violations.push(`${at()}: location requested but ${JSON.stringify(hb.location)}`);
      }
    }
    expectNoViolations(violations);
  });

  it('omits location unless asked, and reports RSRP/SINR only on LTE', () => {
    const fleet = generateFleet(300, { seed: 'rat', snPrefix: 'SIM' });
    let legacy = 0;
    const violations: string[] = [];
    for (const profile of fleet.filter((p) => p.radio.environment === 'weak')) {
      const samples = simulate(profile, START, 3, 20 * MIN);
      for (let i = 0; i < samples.length; i++) {
        const hb = samples[i].heartbeat;
        if (!hb) continue;
        const at = (): string => `${profile.sn} #${i} t=${samples[i].t} rat ${hb.signal.rat}`;
        if (hb.location !== undefined) violations.push(`${at()}: location not asked for but ${JSON.stringify(hb.location)}`);
        if (hb.signal.rat === 'LTE') {
          if (typeof hb.signal.rsrp !== 'number') violations.push(`${at()}: rsrp ${JSON.stringify(hb.signal.rsrp)}`);
          if (typeof hb.signal.sinr !== 'number') violations.push(`${at()}: sinr ${JSON.stringify(hb.signal.sinr)}`);
        } else {
          legacy++;
          if (hb.signal.rsrp !== undefined) violations.push(`${at()}: rsrp ${hb.signal.rsrp} reported off LTE`);
          if (hb.signal.sinr !== undefined) violations.push(`${at()}: sinr ${hb.signal.sinr} reported off LTE`);
          if (typeof hb.signal.rssi !== 'number') violations.push(`${at()}: rssi ${JSON.stringify(hb.signal.rssi)}`);
          if (profile.radio.carrier === 'telecom') violations.push(`${at()}: China Telecom has no 2G/3G fallback`);
        }
      }
    }
    expectNoViolations(violations);
    expect(legacy > 0).toBeTruthy();
  });
});

describe('terminal model: determinism and purity', () => {
  it('the same seed and timestamps give identical heartbeats; another seed does not', () => {
    const run = (seed: string): Array<Heartbeat | null> =>
      generateFleet(10, { seed, snPrefix: 'SIM' }).flatMap((p) => simulate(p, START, 2, 13 * MIN, true).map((s) => s.heartbeat));
    expect(run('same')).toStrictEqual(run('same'));
    expect(run('same')).not.toStrictEqual(run('other'));
  });

  it('does not mutate the state it is given', () => {
    const profile = deepFreeze(generateTerminalProfile(3, { seed: 'pure', snPrefix: 'SIM' }));
    const state = deepFreeze(initialTerminalState(profile, START));
    const copy = structuredClone(state);
    const next = advanceTerminal(profile, state, START + 3 * DAY);
    nextHeartbeat(profile, state, START + HOUR, { includeLocation: true });
    expect(state).toStrictEqual(copy);
    expect(next.atMs).not.toBe(state.atMs);
    expect(advanceTerminal(profile, state, START - 1)).toBe(state);
  });
});

describe('terminal model: battery', () => {
  const fleet = generateFleet(120, { seed: 'battery', snPrefix: 'SIM' });
  const runs = new Map(fleet.map((p) => [p.sn, simulate(p, START, 6, 10 * MIN)] as const));

  it('stays within 0..100 % and a plausible temperature', () => {
    const violations: string[] = [];
    for (const [sn, samples] of runs) {
      for (let i = 0; i < samples.length; i++) {
        const { percent, temperatureC } = samples[i].state.battery;
        if (!(percent >= 0 && percent <= 100)) violations.push(`${sn} #${i} t=${samples[i].t}: battery ${percent} %`);
        if (!(temperatureC > -10 && temperatureC < 60)) {
          violations.push(`${sn} #${i} t=${samples[i].t}: temperature ${temperatureC} °C`);
        }
      }
    }
    expectNoViolations(violations);
  });

  it('drains while in use and not charging, rises while charging', () => {
    let drains = 0;
    let charges = 0;
    const violations: string[] = [];
    for (const profile of fleet) {
      const samples = runs.get(profile.sn) ?? [];
      for (let i = 1; i < samples.length; i++) {
        const a = samples[i - 1].state;
        const b = samples[i].state;
        const at = (): string => `${profile.sn} #${i} t=${samples[i].t}: ${a.battery.percent} -> ${b.battery.percent} %`;
        if (a.power === 'on' && b.power === 'on' && !a.battery.charging && !b.battery.charging && b.battery.percent > 0) {
          if (!(b.battery.percent < a.battery.percent)) violations.push(`${at()}: battery did not drain without charging`);
          drains++;
        }
        if (a.battery.charging && b.battery.charging) {
          if (!(b.battery.percent >= a.battery.percent)) violations.push(`${at()}: battery fell while charging`);
          if (a.battery.percent < 99) {
            if (!(b.battery.percent > a.battery.percent)) violations.push(`${at()}: battery did not rise while charging`);
            charges++;
          }
        }
      }
    }
    expectNoViolations(violations);
    expect(drains > 5_000 && charges > 500).toBeTruthy();
  });

  it('charges overnight and drains over the business day', () => {
    const undocked = fleet.filter((p) => !p.merchant.docked && p.merchant.opensAtMin <= 9 * 60 && p.merchant.closesAtMin >= 20 * 60);
    const meanAt = (localHour: number): number => {
      const values: number[] = [];
      for (const p of undocked) {
        for (const s of runs.get(p.sn) ?? []) {
          if (localMinuteOfDay(s.t, p.utcOffsetMin) === localHour * 60) values.push(s.state.battery.percent);
        }
      }
      return values.reduce((a, b) => a + b, 0) / values.length;
    };
    const morning = meanAt(7);
    const evening = meanAt(19);
    expect(morning > 85).toBeTruthy();
    expect(evening < morning - 20).toBeTruthy();
  });

  it('degraded batteries drop under 10 % and die; docked healthy ones do not', () => {
    const degraded = fleet.filter((p) => p.battery.degraded && !p.merchant.docked);
    expect(degraded.length > 0).toBeTruthy();
    const low = degraded.filter((p) => (runs.get(p.sn) ?? []).some((s) => s.heartbeat !== null && s.heartbeat.battery.percent < 10));
    expect(low.length >= degraded.length / 2).toBeTruthy();
    for (const p of fleet.filter((x) => x.merchant.docked && !x.battery.degraded)) {
      const min = Math.min(...(runs.get(p.sn) ?? []).map((s) => s.state.battery.percent));
      expect(min > 15).toBeTruthy();
    }
  });

  it('a dead terminal sends nothing, then boots with seq 0 once plugged in', () => {
    let rebootsAfterDeath = 0;
    const violations: string[] = [];
    for (const [sn, samples] of runs) {
      for (let i = 1; i < samples.length; i++) {
        const prev = samples[i - 1];
        const cur = samples[i];
        const at = (): string => `${sn} #${i} t=${cur.t}`;
        if (cur.state.power === 'off' && cur.heartbeat !== null) {
          violations.push(`${at()}: powered off but sent ${JSON.stringify(cur.heartbeat)}`);
        }
        if (prev.state.power === 'off' && prev.state.offReason === 'battery' && cur.heartbeat) {
          const hb = cur.heartbeat;
          if (!(cur.state.boots > prev.state.boots)) violations.push(`${at()}: boots ${prev.state.boots} -> ${cur.state.boots}`);
          if (!Object.is(hb.seq, 0)) violations.push(`${at()}: first heartbeat after boot has seq ${hb.seq}`);
          if (!(hb.uptimeS <= 10 * 60)) violations.push(`${at()}: uptimeS ${hb.uptimeS}, not booted within the last sampling step`);
          if (!(hb.battery.charging || hb.battery.percent >= 3)) {
            violations.push(`${at()}: booted at ${hb.battery.percent} % without charging`);
          }
          rebootsAfterDeath++;
        }
      }
    }
    expectNoViolations(violations);
    expect(rebootsAfterDeath > 0).toBeTruthy();
  });
});

describe('terminal model: signal', () => {
  it('wanders around the spot baseline: good spots near -75..-95 dBm, weak spots near -110..-125 dBm', () => {
    const fleet = generateFleet(200, { seed: 'signal', snPrefix: 'SIM' });
    for (const profile of fleet) {
      const rsrps = simulate(profile, START, 2, 15 * MIN).map((s) => s.state.signal.rsrp);
      const mean = rsrps.reduce((a, b) => a + b, 0) / rsrps.length;
      const distinct = new Set(rsrps.map((x) => Math.round(x))).size;
      expect(distinct > 5).toBeTruthy();
      if (profile.radio.environment === 'good') expect(mean > -99 && mean < -71).toBeTruthy();
      if (profile.radio.environment === 'weak') expect(mean > -129 && mean < -106).toBeTruthy();
    }
  });
});

describe('terminal model: data plan', () => {
  const base = generateTerminalProfile(1, { seed: 'plan', snPrefix: 'SIM' });

  it('a failing automatic renewal leads to grace, then expiry after the grace period', () => {
    const profile = withPlan(base, {
      scenario: 'renewal_failed',
      expiryOffsetDays: 2,
      autoRenew: true,
      renewalFails: true,
      failureReason: 'esim_profile_error',
      lastFailedRenewalDaysAgo: 0,
    });
    const samples = simulate(profile, START, 2 + PLAN_GRACE_DAYS + 3, HOUR);
    const expiresAt = addDays(localDate(START, 480), 2);
    const violations: string[] = [];
    for (let i = 0; i < samples.length; i++) {
      const s = samples[i];
      const today = localDate(s.t, 480);
      const plan = s.state.plan;
      const at = (): string => `#${i} t=${s.t} on ${today}`;
      if (plan.expiresAt !== expiresAt) {
        violations.push(`${at()}: a failed renewal extended the plan to ${plan.expiresAt} (was ${expiresAt})`);
      }
      const expected = today <= expiresAt ? 'active' : today <= addDays(expiresAt, PLAN_GRACE_DAYS) ? 'grace' : 'expired';
      if (plan.status !== expected) violations.push(`${at()}: status ${plan.status}, expected ${expected}`);
      if (plan.lastRenewal?.result !== 'failed') violations.push(`${at()}: last renewal result ${plan.lastRenewal?.result}`);
      if (plan.lastRenewal?.reason !== 'esim_profile_error') {
        violations.push(`${at()}: last renewal reason ${plan.lastRenewal?.reason}`);
      }
      const attemptAt = plan.lastRenewal?.at ?? '';
      if (typeof attemptAt !== 'string' || !/T03:[0-2]\d:/.test(attemptAt)) {
        violations.push(`${at()}: renewal at ${attemptAt}, not at the platform run hour`);
      }
      if (!(Date.parse(attemptAt) <= s.t)) violations.push(`${at()}: renewal attempt from the future, ${attemptAt}`);
    }
    expectNoViolations(violations);
    expect(samples[samples.length - 1].state.plan.status).toBe('expired');
  });

  it('a working automatic renewal extends the plan by a year before it lapses', () => {
    const profile = withPlan(base, { scenario: 'expiring_soon', expiryOffsetDays: 5, autoRenew: true, renewalFails: false });
    const samples = simulate(profile, START, 10, HOUR);
    const expiry = addDays(localDate(START, 480), 5);
    const last = samples[samples.length - 1].state.plan;
    expect(last.status).toBe('active');
    expect(last.expiresAt).toBe(addYears(expiry, 1));
    expect(last.lastRenewal?.result).toBe('success');
    expect(samples.every((s) => s.state.plan.status === 'active')).toBeTruthy();
  });

  it('without auto-renew the plan lapses into grace', () => {
    const profile = withPlan(base, { scenario: 'auto_renew_off', expiryOffsetDays: 1, autoRenew: false });
    const last = simulate(profile, START, 4, HOUR).at(-1);
    expect(last?.state.plan.status).toBe('grace');
    expect(last?.state.plan.lastRenewal).toBe(null);
  });

  it('usage grows within the month and resets when the month changes', () => {
    const profile = withPlan(base, { scenario: 'healthy', monthlyUsageMb: 40, allowanceMb: 50 });
    const start = Date.parse('2025-03-27T16:00:00Z'); // 28 March, local midnight
    const samples = simulate(profile, start, 6, HOUR);
    let resets = 0;
    const violations: string[] = [];
    for (let i = 1; i < samples.length; i++) {
      const a = samples[i - 1].state.plan;
      const b = samples[i].state.plan;
      const at = (): string => `#${i} t=${samples[i].t} ${a.billingMonth} -> ${b.billingMonth}`;
      if (a.billingMonth !== b.billingMonth) {
        resets++;
        if (!(b.usedMb < 1)) violations.push(`${at()}: reset to ${b.usedMb} MiB`);
      } else {
        if (!(b.usedMb >= a.usedMb)) violations.push(`${at()}: usage fell ${a.usedMb} -> ${b.usedMb} MiB`);
      }
    }
    expectNoViolations(violations);
    expect(resets).toBe(1);
    const endOfMarch = samples.filter((s) => s.state.plan.billingMonth === '2025-03').at(-1)?.state.plan.usedMb ?? 0;
    expect(endOfMarch > 30 && endOfMarch < 55).toBeTruthy();
  });

  it('suspended and expired plans do not renew or use data', () => {
    const violations: string[] = [];
    for (const scenario of ['suspended', 'expired'] as const) {
      const profile = withPlan(base, { scenario, expiryOffsetDays: scenario === 'expired' ? -30 : 100, monthlyUsageMb: 0 });
      const samples = simulate(profile, START, 5, HOUR);
      const first = samples[0].state.plan;
      for (let i = 0; i < samples.length; i++) {
        const plan = samples[i].state.plan;
        const at = (): string => `${scenario} #${i} t=${samples[i].t}`;
        if (plan.status !== scenario) violations.push(`${at()}: status ${plan.status}`);
        if (plan.expiresAt !== first.expiresAt) violations.push(`${at()}: expiresAt ${first.expiresAt} -> ${plan.expiresAt}`);
        if (!Object.is(plan.usedMb, first.usedMb)) violations.push(`${at()}: usedMb ${first.usedMb} -> ${plan.usedMb}`);
      }
    }
    expectNoViolations(violations);
  });
});

describe('terminal model: calendar helpers', () => {
  it('formats local RFC 3339 timestamps with the offset', () => {
    const ms = Date.parse('2025-03-02T16:30:00.250Z');
    expect(formatLocalTimestamp(ms, 480)).toBe('2025-03-03T00:30:00.250+08:00');
    expect(formatLocalTimestamp(ms, -150)).toBe('2025-03-02T14:00:00.250-02:30');
    expect(localDate(ms, 480)).toBe('2025-03-03');
    expect(localMinuteOfDay(ms, 480)).toBe(30);
  });

  it('adds days and years across month ends and leap days', () => {
    expect(addDays('2025-02-27', 2)).toBe('2025-03-01');
    expect(addDays('2025-01-01', -1)).toBe('2024-12-31');
    expect(addYears('2024-02-29', 1)).toBe('2025-02-28');
    expect(addYears('2025-06-30', -1)).toBe('2024-06-30');
  });
});
