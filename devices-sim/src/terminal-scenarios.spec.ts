import { describe, expect, it } from '@jest/globals';
import { HEARTBEAT_MAX_BYTES_DEFAULT, heartbeatSchema, parsePayload, type Heartbeat } from '#contracts';
import { TERMINAL_MODELS } from './fleet-catalog.js';
import { generateFleet, type TerminalProfile } from './fleet-generator.js';
import { distanceMetres, isLuhnValid } from './identifiers.js';
import { assignScenarios, type ScenarioKind } from './scenarios.js';
import { hasNetwork, initialTerminalState, nextHeartbeat, relocationTarget, type TerminalState } from './terminal-model.js';

const MIN = 60_000;
/** 2025-03-03 10:00 China Standard Time: shops are open. */
const START = Date.parse('2025-03-03T02:00:00Z');
const START_AFTER = 10 * MIN;
const CLEAR_AFTER = 60 * MIN;
const FLEET = generateFleet(300, { seed: 'scenario-spec', snPrefix: 'SIM' });

type Phase = 'before' | 'active' | 'after';

interface Sample {
  t: number;
  phase: Phase;
  state: TerminalState;
  heartbeat: Heartbeat | null;
}

/** The terminal the seed assigns to `kind` (one terminal), with the spec's timing. */
function profileFor(kind: ScenarioKind, seed = 'scenario-spec'): TerminalProfile {
  const { profiles, assigned } = assignScenarios(FLEET, [{ kind, amount: { count: 1 } }], seed, {
    startAfterMs: START_AFTER,
    clearAfterMs: CLEAR_AFTER,
  });
  const sn = assigned[kind]?.[0];
  const profile = profiles.find((p) => p.sn === sn);
  if (!profile) throw new Error(`no terminal for ${kind}`);
  return profile;
}

/** Heartbeats every minute for 3 hours, labelled by scenario phase; every heartbeat must validate. */
function run(profile: TerminalProfile, includeLocation = false, hours = 3): Sample[] {
  let state = initialTerminalState(profile, START);
  const out: Sample[] = [];
  for (let t = START + MIN; t <= START + hours * 60 * MIN; t += MIN) {
    const r = nextHeartbeat(profile, state, t, { includeLocation });
    state = r.state;
    const phase: Phase = t < START + START_AFTER ? 'before' : t < START + START_AFTER + CLEAR_AFTER ? 'active' : 'after';
    if (r.heartbeat) {
      const parsed = parsePayload(JSON.stringify(r.heartbeat), heartbeatSchema, { maxBytes: HEARTBEAT_MAX_BYTES_DEFAULT, supportedVersions: [1] });
      if (!parsed.ok) throw new Error(`${parsed.reason}: ${parsed.detail}`);
      expect(parsed.extra).toBe(null);
    }
    out.push({ t, phase, state, heartbeat: r.heartbeat });
  }
  return out;
}

const beats = (samples: readonly Sample[], phase: Phase): Heartbeat[] =>
  samples.filter((s) => s.phase === phase && s.heartbeat !== null).map((s) => s.heartbeat as Heartbeat);
/** Heartbeats of a phase after the first `skip` minutes of it (conditions that take a while to build up). */
const settled = (samples: readonly Sample[], phase: Phase, skip: number): Heartbeat[] => beats(samples, phase).slice(skip);
const daysUntil = (hb: Heartbeat): number => (Date.parse(hb.sim.plan.expiresAt) - Date.parse(hb.ts.slice(0, 10))) / 86_400_000;

describe('alert scenarios in the terminal model', () => {
  it('plan-expiring: the plan expires in 5 days while active, then renews for a year', () => {
    const samples = run(profileFor('plan-expiring'));
    for (const hb of beats(samples, 'before')) expect(daysUntil(hb)).toBeGreaterThan(30);
    for (const hb of beats(samples, 'active')) expect([daysUntil(hb), hb.sim.plan.status]).toStrictEqual([5, 'active']);
    for (const hb of beats(samples, 'after')) {
      expect(daysUntil(hb)).toBeGreaterThan(360);
      expect(hb.sim.plan.lastRenewal?.result).toBe('success');
    }
  });

  it('plan-suspended: suspended while active, active again after', () => {
    const samples = run(profileFor('plan-suspended'));
    expect(new Set(beats(samples, 'before').map((h) => h.sim.plan.status))).toStrictEqual(new Set(['active']));
    expect(new Set(beats(samples, 'active').map((h) => h.sim.plan.status))).toStrictEqual(new Set(['suspended']));
    expect(new Set(beats(samples, 'after').map((h) => h.sim.plan.status))).toStrictEqual(new Set(['active']));
    // a suspended SIM carries no traffic: nothing is approved
    expect(settled(samples, 'active', 1).reduce((n, h) => n + (h.tx?.approved ?? 0), 0)).toBe(0);
  });

  it('renewal-failed: a failed automatic renewal with the plan about to expire, then a successful one', () => {
    const samples = run(profileFor('renewal-failed'));
    for (const hb of beats(samples, 'before')) expect(hb.sim.plan.lastRenewal?.result).not.toBe('failed');
    for (const hb of beats(samples, 'active')) {
      expect(hb.sim.plan.lastRenewal?.result).toBe('failed');
      expect(hb.sim.plan.lastRenewal?.reason).toBeTruthy();
      expect(hb.sim.plan.autoRenew).toBe(true);
      expect(daysUntil(hb)).toBe(2);
    }
    for (const hb of beats(samples, 'after')) {
      expect(hb.sim.plan.lastRenewal?.result).toBe('success');
      expect(daysUntil(hb)).toBeGreaterThan(360);
    }
  });

  it('auto-renew-off: auto-renew off with expiry in 20 days, on again after', () => {
    const samples = run(profileFor('auto-renew-off'));
    for (const hb of beats(samples, 'before')) expect(hb.sim.plan.autoRenew).toBe(true);
    for (const hb of beats(samples, 'active')) expect([hb.sim.plan.autoRenew, daysUntil(hb)]).toStrictEqual([false, 20]);
    for (const hb of beats(samples, 'after')) expect(hb.sim.plan.autoRenew).toBe(true);
  });

  it('allowance-high: usage above 90 % of a metered allowance while active, restarted after the top-up', () => {
    const samples = run(profileFor('allowance-high'));
    for (const hb of beats(samples, 'active')) {
      expect(hb.sim.plan.allowanceMb).toBeGreaterThan(0);
      expect(hb.sim.plan.usedMb / (hb.sim.plan.allowanceMb ?? 1)).toBeGreaterThanOrEqual(0.9);
    }
    for (const hb of beats(samples, 'after')) {
      if (hb.sim.plan.allowanceMb !== undefined) expect(hb.sim.plan.usedMb / hb.sim.plan.allowanceMb).toBeLessThan(0.5);
    }
  });

  it('outdated-firmware: reports the legacy firmware and app while active, the latest after', () => {
    const profile = profileFor('outdated-firmware');
    const legacy = TERMINAL_MODELS.find((m) => m.value.name === profile.model)?.value.firmware.legacy;
    const samples = run(profile);
    expect(legacy).toBeDefined();
    expect(legacy).not.toBe(profile.firmwareVersion);
    for (const hb of beats(samples, 'before')) expect(hb.firmware.version).toBe(profile.firmwareVersion);
    for (const hb of beats(samples, 'active')) {
      expect(hb.firmware.version).toBe(legacy);
      expect(hb.firmware.appVersion).not.toBe(profile.appVersion);
    }
    for (const hb of beats(samples, 'after')) expect(hb.firmware).toStrictEqual({ version: profile.firmwareVersion, appVersion: profile.appVersion });
  });

  it('weak-signal: RSRP below -110 dBm and SINR below 0 on LTE in every active heartbeat, with 92/96 declines and reversals; recovers after', () => {
    const profile = profileFor('weak-signal');
    expect(profile.radio.environment).not.toBe('weak');
    const samples = run(profile);
    for (const hb of beats(samples, 'before')) expect(hb.signal.rsrp ?? -200).toBeGreaterThan(-110);
    const active = beats(samples, 'active');
    for (const hb of active) {
      expect(hb.signal.rat).toBe('LTE');
      expect(hb.signal.rsrp ?? 0).toBeLessThan(-110);
      expect(hb.signal.sinr ?? 0).toBeLessThan(0);
      expect((hb.tx?.approved ?? 0) + (hb.tx?.declined ?? 0)).toBeGreaterThan(0);
    }
    const connectivity = (hbs: Heartbeat[]): number =>
      hbs.reduce(
        (n, h) => n + (h.tx?.declinesByCode['92'] ?? 0) + (h.tx?.declinesByCode['96'] ?? 0) + (h.tx?.reversals.succeeded ?? 0) + (h.tx?.reversals.failed ?? 0),
        0,
      );
    expect(connectivity(active)).toBeGreaterThan(20);
    const after = settled(samples, 'after', 1);
    expect(connectivity(after) / after.length).toBeLessThan(connectivity(active) / active.length / 3);
    // back at its spot's level (a fair spot may still touch -110 dBm now and then)
    const recovered = settled(samples, 'after', 5).map((h) => h.signal.rsrp ?? -200);
    expect(recovered.filter((rsrp) => rsrp > -110).length).toBeGreaterThan(recovered.length * 0.9);
  });

  it('battery-drain: unplugged and under 20 % (later 10 %) while active without dying; charging again after', () => {
    const samples = run(profileFor('battery-drain'));
    // never dies of it (a rare firmware reboot may still happen)
    expect(samples.filter((s) => s.state.offReason === 'battery')).toStrictEqual([]);
    const active = beats(samples, 'active');
    for (const hb of active) {
      expect(hb.battery.charging).toBe(false);
      expect(hb.battery.percent).toBeLessThan(25);
      expect(hb.battery.percent).toBeGreaterThanOrEqual(5);
    }
    expect(active.at(-1)?.battery.percent).toBeLessThan(10);
    const after = beats(samples, 'after');
    for (const hb of after) expect(hb.battery.charging).toBe(true);
    expect(after.at(-1)?.battery.percent).toBeGreaterThan(40);
  });

  it('drop: off the network while active (heartbeats still produced and held), back on after', () => {
    const profile = profileFor('drop');
    const samples = run(profile);
    for (const s of samples) expect(hasNetwork(profile, s.state)).toBe(s.phase !== 'active');
    expect(beats(samples, 'active').length).toBe(60);
  });

  it('silent: powered and connected but no heartbeats while active; they resume after with seq continuing', () => {
    const profile = profileFor('silent');
    const samples = run(profile);
    const active = samples.filter((s) => s.phase === 'active');
    expect(active.every((s) => s.heartbeat === null && s.state.power === 'on' && hasNetwork(profile, s.state))).toBe(true);
    const lastBefore = beats(samples, 'before').at(-1);
    const firstAfter = beats(samples, 'after')[0];
    expect(firstAfter.seq).toBe((lastBefore?.seq ?? -1) + 1);
    // the counters of the silent hour are not lost: they arrive with the first heartbeat after
    const silentTx = active.at(-1)?.state.tx;
    expect(firstAfter.tx?.approved).toBeGreaterThanOrEqual(silentTx?.approved ?? Infinity);
    expect(firstAfter.tx?.declined).toBeGreaterThanOrEqual(silentTx?.declined ?? Infinity);
  });

  it('relocate: always reports its location; over 800 km from the registered one while active, back home after', () => {
    const profile = profileFor('relocate');
    const samples = run(profile, false);
    const registered = profile.location.registered;
    for (const hb of [...beats(samples, 'before'), ...beats(samples, 'after')]) {
      expect(hb.location).toBeDefined();
      expect(distanceMetres(registered, hb.location ?? { lat: 0, lon: 0 })).toBeLessThan(5_000);
    }
    for (const hb of beats(samples, 'active')) expect(distanceMetres(registered, hb.location ?? registered)).toBeGreaterThan(800_000);
    expect(distanceMetres(registered, relocationTarget(profile))).toBeGreaterThan(800_000);
  });

  it('relocate: Beijing to a far city, as the domain brief describes (registered in Beijing, used in Guangzhou)', () => {
    const beijing = FLEET.find((p) => p.location.city === 'Beijing' && !p.location.relocated);
    expect(beijing).toBeDefined();
    if (!beijing) return;
    const target = relocationTarget(beijing);
    expect(distanceMetres(beijing.location.registered, target)).toBeGreaterThan(800_000);
  });

  it('sim-swap: the ICCID changes once when the scenario starts and stays changed', () => {
    const profile = profileFor('sim-swap');
    const samples = run(profile);
    const iccids = samples.flatMap((s) => (s.heartbeat ? [s.heartbeat.sim.iccid] : []));
    const changes = iccids.filter((iccid, i) => i > 0 && iccid !== iccids[i - 1]).length;
    expect(changes).toBe(1);
    for (const hb of beats(samples, 'before')) expect(hb.sim.iccid).toBe(profile.sim.iccid);
    const swapped = beats(samples, 'active')[0].sim.iccid;
    expect(swapped).not.toBe(profile.sim.iccid);
    expect(swapped.slice(0, 4)).toBe('8986');
    expect(isLuhnValid(swapped)).toBe(true);
    for (const hb of beats(samples, 'after')) expect(hb.sim.iccid).toBe(swapped);
  });

  it('reversals: a reversal pending in every active heartbeat, repeated reversals that all succeed; they settle after', () => {
    const samples = run(profileFor('reversals'));
    const active = beats(samples, 'active');
    for (const hb of active) expect(hb.tx?.reversals.pending).toBeGreaterThanOrEqual(1);
    expect(active.reduce((n, h) => n + (h.tx?.reversals.succeeded ?? 0), 0)).toBeGreaterThan(10);
    // no failed reversal: that alert would be held open for days instead of resolving
    expect(settled(samples, 'active', 1).reduce((n, h) => n + (h.tx?.reversals.failed ?? 0), 0)).toBe(0);
    const late = settled(samples, 'after', 30);
    expect(late.filter((h) => (h.tx?.reversals.pending ?? 0) === 0).length).toBeGreaterThan(late.length / 2);
  });

  it('reversal-failed: reversals pending and repeatedly failing while active; they settle after', () => {
    const samples = run(profileFor('reversal-failed'));
    const active = beats(samples, 'active');
    for (const hb of active) expect(hb.tx?.reversals.pending).toBeGreaterThanOrEqual(1);
    expect(active.reduce((n, h) => n + (h.tx?.reversals.failed ?? 0), 0)).toBeGreaterThan(5);
    const late = settled(samples, 'after', 30);
    expect(late.filter((h) => (h.tx?.reversals.pending ?? 0) === 0).length).toBeGreaterThan(late.length / 2);
  });

  it('tid-unregistered: every attempt is declined with 97 while active, at least one per heartbeat; none after', () => {
    const samples = run(profileFor('tid-unregistered'));
    for (const hb of beats(samples, 'active')) expect(hb.tx?.declinesByCode['97'] ?? 0).toBeGreaterThanOrEqual(1);
    // counts cover the interval before each heartbeat: the first one of a phase still reports the previous phase
    for (const hb of settled(samples, 'active', 1)) expect(hb.tx?.approved).toBe(0);
    for (const hb of [...beats(samples, 'before'), ...settled(samples, 'after', 1)]) expect(hb.tx?.declinesByCode['97']).toBeUndefined();
  });

  it('without --scenario-clear-after the condition lasts', () => {
    const base = profileFor('plan-suspended');
    const profile: TerminalProfile = { ...base, scenario: { kind: 'plan-suspended', startAfterMs: 0, clearAfterMs: null } };
    let state = initialTerminalState(profile, START);
    const statuses = new Set<string>();
    for (let t = START + MIN; t <= START + 6 * 60 * MIN; t += 5 * MIN) {
      const r = nextHeartbeat(profile, state, t, { includeLocation: false });
      state = r.state;
      if (r.heartbeat) statuses.add(r.heartbeat.sim.plan.status);
    }
    expect(statuses).toStrictEqual(new Set(['suspended']));
  });

  it('is deterministic: the same seed gives the same heartbeats, another seed picks another terminal', () => {
    const a = run(profileFor('weak-signal'), true, 1).map((s) => s.heartbeat);
    const b = run(profileFor('weak-signal'), true, 1).map((s) => s.heartbeat);
    expect(b).toStrictEqual(a);
    expect(profileFor('weak-signal', 'another-seed').sn).not.toBe(profileFor('weak-signal').sn);
  });
});
