import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
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

function validate(hb: Heartbeat): void {
  const result = parsePayload(JSON.stringify(hb), heartbeatSchema, {
    maxBytes: HEARTBEAT_MAX_BYTES_DEFAULT,
    supportedVersions: [1],
  });
  assert.ok(result.ok, result.ok ? '' : `${result.reason}: ${result.detail}\n${JSON.stringify(hb)}`);
  assert.equal(result.extra, null, 'the simulator sends only fields the schema declares');
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
    const statuses = new Set<string>();
    const rats = new Set<string>();
    for (const seed of ['s1', 's2', 's3', 's4', 'fifth', '6']) {
      const start = START + (seed.length * 7 + seed.charCodeAt(0)) * HOUR; // vary the local start time
      for (const profile of generateFleet(40, { seed, snPrefix: 'SIM' })) {
        for (const s of simulate(profile, start, 4, 20 * MIN, seed.charCodeAt(1) % 2 === 0)) {
          if (!s.heartbeat) continue;
          validate(s.heartbeat);
          statuses.add(s.heartbeat.sim.plan.status);
          rats.add(s.heartbeat.signal.rat);
          checked++;
        }
      }
    }
    assert.ok(checked > 50_000, `checked ${checked}`);
    assert.deepEqual([...statuses].sort(), ['active', 'expired', 'grace', 'suspended']);
    assert.ok(rats.has('LTE') && (rats.has('GSM') || rats.has('UMTS')), `rats seen: ${[...rats]}`);
  });

  it('minute-by-minute heartbeats validate and carry increasing seq, uptime and RFC 3339 local time', () => {
    for (const profile of generateFleet(20, { seed: 'fine', snPrefix: 'SIM' })) {
      let lastSeq = -1;
      let lastUptime = -1;
      for (const s of simulate(profile, START, 1, MIN, true)) {
        if (!s.heartbeat) {
          lastSeq = -1;
          continue;
        }
        validate(s.heartbeat);
        const hb = s.heartbeat;
        assert.match(hb.ts, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+08:00$/);
        assert.equal(Date.parse(hb.ts), s.t);
        if (lastSeq >= 0 && hb.seq !== 0) {
          assert.equal(hb.seq, lastSeq + 1);
          assert.ok(hb.uptimeS > lastUptime);
        }
        lastSeq = hb.seq;
        lastUptime = hb.uptimeS;
        assert.ok(hb.location, 'location requested');
      }
    }
  });

  it('omits location unless asked, and reports RSRP/SINR only on LTE', () => {
    const fleet = generateFleet(300, { seed: 'rat', snPrefix: 'SIM' });
    let legacy = 0;
    for (const profile of fleet.filter((p) => p.radio.environment === 'weak')) {
      for (const s of simulate(profile, START, 3, 20 * MIN)) {
        const hb = s.heartbeat;
        if (!hb) continue;
        assert.equal(hb.location, undefined);
        if (hb.signal.rat === 'LTE') {
          assert.equal(typeof hb.signal.rsrp, 'number');
          assert.equal(typeof hb.signal.sinr, 'number');
        } else {
          legacy++;
          assert.equal(hb.signal.rsrp, undefined);
          assert.equal(hb.signal.sinr, undefined);
          assert.equal(typeof hb.signal.rssi, 'number');
          assert.notEqual(profile.radio.carrier, 'telecom', 'China Telecom has no 2G/3G fallback');
        }
      }
    }
    assert.ok(legacy > 0, 'some weak-spot terminals drop to GSM/UMTS');
  });
});

describe('terminal model: determinism and purity', () => {
  it('the same seed and timestamps give identical heartbeats; another seed does not', () => {
    const run = (seed: string): Array<Heartbeat | null> =>
      generateFleet(10, { seed, snPrefix: 'SIM' }).flatMap((p) =>
        simulate(p, START, 2, 13 * MIN, true).map((s) => s.heartbeat),
      );
    assert.deepEqual(run('same'), run('same'));
    assert.notDeepEqual(run('same'), run('other'));
  });

  it('does not mutate the state it is given', () => {
    const profile = deepFreeze(generateTerminalProfile(3, { seed: 'pure', snPrefix: 'SIM' }));
    const state = deepFreeze(initialTerminalState(profile, START));
    const copy = structuredClone(state);
    const next = advanceTerminal(profile, state, START + 3 * DAY);
    nextHeartbeat(profile, state, START + HOUR, { includeLocation: true });
    assert.deepEqual(state, copy);
    assert.notEqual(next.atMs, state.atMs);
    assert.equal(advanceTerminal(profile, state, START - 1), state, 'going back in time is a no-op');
  });
});

describe('terminal model: battery', () => {
  const fleet = generateFleet(120, { seed: 'battery', snPrefix: 'SIM' });
  const runs = new Map(fleet.map((p) => [p.sn, simulate(p, START, 6, 10 * MIN)] as const));

  it('stays within 0..100 % and a plausible temperature', () => {
    for (const samples of runs.values()) {
      for (const s of samples) {
        assert.ok(s.state.battery.percent >= 0 && s.state.battery.percent <= 100, `${s.state.battery.percent}`);
        assert.ok(s.state.battery.temperatureC > -10 && s.state.battery.temperatureC < 60);
      }
    }
  });

  it('drains while in use and not charging, rises while charging', () => {
    let drains = 0;
    let charges = 0;
    for (const profile of fleet) {
      const samples = runs.get(profile.sn) ?? [];
      for (let i = 1; i < samples.length; i++) {
        const a = samples[i - 1].state;
        const b = samples[i].state;
        if (a.power === 'on' && b.power === 'on' && !a.battery.charging && !b.battery.charging && b.battery.percent > 0) {
          assert.ok(b.battery.percent < a.battery.percent, `${profile.sn} battery rose without charging`);
          drains++;
        }
        if (a.battery.charging && b.battery.charging) {
          assert.ok(b.battery.percent >= a.battery.percent, `${profile.sn} battery fell while charging`);
          if (a.battery.percent < 99) {
            assert.ok(b.battery.percent > a.battery.percent, `${profile.sn} battery did not rise while charging`);
            charges++;
          }
        }
      }
    }
    assert.ok(drains > 5_000 && charges > 500, `drains ${drains}, charges ${charges}`);
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
    assert.ok(morning > 85, `mean at 07:00 ${morning.toFixed(1)}`);
    assert.ok(evening < morning - 20, `mean at 19:00 ${evening.toFixed(1)} vs 07:00 ${morning.toFixed(1)}`);
  });

  it('degraded batteries drop under 10 % and die; docked healthy ones do not', () => {
    const degraded = fleet.filter((p) => p.battery.degraded && !p.merchant.docked);
    assert.ok(degraded.length > 0);
    const low = degraded.filter((p) => (runs.get(p.sn) ?? []).some((s) => s.heartbeat !== null && s.heartbeat.battery.percent < 10));
    assert.ok(low.length >= degraded.length / 2, `${low.length}/${degraded.length} degraded terminals went under 10 %`);
    for (const p of fleet.filter((x) => x.merchant.docked && !x.battery.degraded)) {
      const min = Math.min(...(runs.get(p.sn) ?? []).map((s) => s.state.battery.percent));
      assert.ok(min > 15, `${p.sn} docked but dropped to ${min.toFixed(1)} %`);
    }
  });

  it('a dead terminal sends nothing, then boots with seq 0 once plugged in', () => {
    let rebootsAfterDeath = 0;
    for (const samples of runs.values()) {
      for (let i = 1; i < samples.length; i++) {
        const prev = samples[i - 1];
        const cur = samples[i];
        if (cur.state.power === 'off') assert.equal(cur.heartbeat, null);
        if (prev.state.power === 'off' && prev.state.offReason === 'battery' && cur.heartbeat) {
          assert.ok(cur.state.boots > prev.state.boots);
          assert.equal(cur.heartbeat.seq, 0);
          assert.ok(cur.heartbeat.uptimeS <= 10 * 60, 'booted within the last sampling step');
          assert.ok(cur.heartbeat.battery.charging || cur.heartbeat.battery.percent >= 3);
          rebootsAfterDeath++;
        }
      }
    }
    assert.ok(rebootsAfterDeath > 0);
  });
});

describe('terminal model: signal', () => {
  it('wanders around the spot baseline: good spots near -75..-95 dBm, weak spots near -110..-125 dBm', () => {
    const fleet = generateFleet(200, { seed: 'signal', snPrefix: 'SIM' });
    for (const profile of fleet) {
      const rsrps = simulate(profile, START, 2, 15 * MIN).map((s) => s.state.signal.rsrp);
      const mean = rsrps.reduce((a, b) => a + b, 0) / rsrps.length;
      const distinct = new Set(rsrps.map((x) => Math.round(x))).size;
      assert.ok(distinct > 5, `${profile.sn} signal does not move`);
      if (profile.radio.environment === 'good') assert.ok(mean > -99 && mean < -71, `${profile.sn} good spot mean ${mean}`);
      if (profile.radio.environment === 'weak') assert.ok(mean > -129 && mean < -106, `${profile.sn} weak spot mean ${mean}`);
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
    for (const s of samples) {
      const today = localDate(s.t, 480);
      const plan = s.state.plan;
      assert.equal(plan.expiresAt, expiresAt, 'a failed renewal does not extend the plan');
      const expected = today <= expiresAt ? 'active' : today <= addDays(expiresAt, PLAN_GRACE_DAYS) ? 'grace' : 'expired';
      assert.equal(plan.status, expected, `on ${today}`);
      assert.equal(plan.lastRenewal?.result, 'failed');
      assert.equal(plan.lastRenewal?.reason, 'esim_profile_error');
      assert.match(plan.lastRenewal?.at ?? '', /T03:[0-2]\d:/, 'renewals run at night, at the platform run hour');
      assert.ok(Date.parse(plan.lastRenewal?.at ?? '') <= s.t, 'no renewal attempt from the future');
    }
    assert.equal(samples[samples.length - 1].state.plan.status, 'expired');
  });

  it('a working automatic renewal extends the plan by a year before it lapses', () => {
    const profile = withPlan(base, { scenario: 'expiring_soon', expiryOffsetDays: 5, autoRenew: true, renewalFails: false });
    const samples = simulate(profile, START, 10, HOUR);
    const expiry = addDays(localDate(START, 480), 5);
    const last = samples[samples.length - 1].state.plan;
    assert.equal(last.status, 'active');
    assert.equal(last.expiresAt, addYears(expiry, 1));
    assert.equal(last.lastRenewal?.result, 'success');
    assert.ok(samples.every((s) => s.state.plan.status === 'active'));
  });

  it('without auto-renew the plan lapses into grace', () => {
    const profile = withPlan(base, { scenario: 'auto_renew_off', expiryOffsetDays: 1, autoRenew: false });
    const last = simulate(profile, START, 4, HOUR).at(-1);
    assert.equal(last?.state.plan.status, 'grace');
    assert.equal(last?.state.plan.lastRenewal, null);
  });

  it('usage grows within the month and resets when the month changes', () => {
    const profile = withPlan(base, { scenario: 'healthy', monthlyUsageMb: 40, allowanceMb: 50 });
    const start = Date.parse('2025-03-27T16:00:00Z'); // 28 March, local midnight
    const samples = simulate(profile, start, 6, HOUR);
    let resets = 0;
    for (let i = 1; i < samples.length; i++) {
      const a = samples[i - 1].state.plan;
      const b = samples[i].state.plan;
      if (a.billingMonth !== b.billingMonth) {
        resets++;
        assert.ok(b.usedMb < 1, `reset to ${b.usedMb}`);
      } else {
        assert.ok(b.usedMb >= a.usedMb);
      }
    }
    assert.equal(resets, 1);
    const endOfMarch = samples.filter((s) => s.state.plan.billingMonth === '2025-03').at(-1)?.state.plan.usedMb ?? 0;
    assert.ok(endOfMarch > 30 && endOfMarch < 55, `used ${endOfMarch} MiB by the end of March at 40 MiB/month`);
  });

  it('suspended and expired plans do not renew or use data', () => {
    for (const scenario of ['suspended', 'expired'] as const) {
      const profile = withPlan(base, { scenario, expiryOffsetDays: scenario === 'expired' ? -30 : 100, monthlyUsageMb: 0 });
      const samples = simulate(profile, START, 5, HOUR);
      const first = samples[0].state.plan;
      for (const s of samples) {
        assert.equal(s.state.plan.status, scenario);
        assert.equal(s.state.plan.expiresAt, first.expiresAt);
        assert.equal(s.state.plan.usedMb, first.usedMb);
      }
    }
  });
});

describe('terminal model: calendar helpers', () => {
  it('formats local RFC 3339 timestamps with the offset', () => {
    const ms = Date.parse('2025-03-02T16:30:00.250Z');
    assert.equal(formatLocalTimestamp(ms, 480), '2025-03-03T00:30:00.250+08:00');
    assert.equal(formatLocalTimestamp(ms, -150), '2025-03-02T14:00:00.250-02:30');
    assert.equal(localDate(ms, 480), '2025-03-03');
    assert.equal(localMinuteOfDay(ms, 480), 30);
  });

  it('adds days and years across month ends and leap days', () => {
    assert.equal(addDays('2025-02-27', 2), '2025-03-01');
    assert.equal(addDays('2025-01-01', -1), '2024-12-31');
    assert.equal(addYears('2024-02-29', 1), '2025-02-28');
    assert.equal(addYears('2025-06-30', -1), '2024-06-30');
  });
});
