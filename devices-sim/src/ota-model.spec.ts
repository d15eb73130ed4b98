import { describe, expect, it } from '@jest/globals';
import { installGuardsSchema, type InstallGuards } from '#contracts';
import { generateTerminalProfile } from './fleet-generator.js';
import {
  assignOtaScenarios,
  badReleaseFault,
  dropOffset,
  guardView,
  inMaintenanceWindow,
  installOutcome,
  isKnownTimeZone,
  minuteOfDayIn,
  parseOtaScenarioItems,
  progressSteps,
  unmetGuard,
  type GuardView,
} from './ota-model.js';
import { ScenarioSyntaxError } from './scenarios.js';
import { initialTerminalState, nextHeartbeat, rebootedState } from './terminal-model.js';

/** 2026-12-01 at HH:MM in Asia/Shanghai (UTC+8), as epoch ms. */
const shanghai = (hh: number, mm = 0): number => Date.UTC(2026, 11, 1, hh - 8, mm);

const guards = (over: Partial<InstallGuards> = {}): InstallGuards => ({ ...installGuardsSchema.parse({}), ...over });
const fine: GuardView = { batteryPct: 80, charging: false, rsrpDbm: -95, planStatus: 'active', planLeftBytes: null };
const ignoreWindow = { ignoreWindow: true };

describe('maintenance window', () => {
  it('reads the local time of day in the window zone', () => {
    expect(minuteOfDayIn(shanghai(23, 30), 'Asia/Shanghai')).toBe(23 * 60 + 30);
    expect(minuteOfDayIn(shanghai(23, 30), 'UTC')).toBe(15 * 60 + 30);
    expect(isKnownTimeZone('Asia/Shanghai')).toBe(true);
    expect(isKnownTimeZone('Mars/Olympus')).toBe(false);
  });

  it('wraps past midnight when start > end, and is half-open', () => {
    const w = { start: '23:00', end: '05:00', tz: 'Asia/Shanghai' };
    expect(inMaintenanceWindow(shanghai(22, 59), w)).toBe(false);
    expect(inMaintenanceWindow(shanghai(23, 0), w)).toBe(true);
    expect(inMaintenanceWindow(shanghai(2, 0), w)).toBe(true);
    expect(inMaintenanceWindow(shanghai(4, 59), w)).toBe(true);
    expect(inMaintenanceWindow(shanghai(5, 0), w)).toBe(false);
    expect(inMaintenanceWindow(shanghai(12, 0), w)).toBe(false);
  });

  it('handles a same-day window and an all-day one', () => {
    const day = { start: '13:00', end: '14:00', tz: 'Asia/Shanghai' };
    expect(inMaintenanceWindow(shanghai(13, 30), day)).toBe(true);
    expect(inMaintenanceWindow(shanghai(14, 0), day)).toBe(false);
    expect(inMaintenanceWindow(shanghai(9, 0), { start: '00:00', end: '00:00', tz: 'UTC' })).toBe(true);
  });
});

describe('unmetGuard', () => {
  const params = (g: Partial<InstallGuards> = {}): { size: number; guards: InstallGuards } => ({ size: 4 * 1_048_576, guards: guards(g) });

  it('passes when every guard holds', () => {
    expect(unmetGuard('download', fine, params({ minRsrpDbm: -110 }), shanghai(12), ignoreWindow)).toBeNull();
    expect(unmetGuard('install', fine, params(), shanghai(23, 30), { ignoreWindow: false })).toBeNull();
  });

  it('battery: below the minimum and not charging defers; charging counts only with orCharging', () => {
    const low = { ...fine, batteryPct: 20 };
    expect(unmetGuard('download', low, params(), 0, ignoreWindow)).toBe('battery');
    expect(unmetGuard('download', { ...low, charging: true }, params(), 0, ignoreWindow)).toBeNull();
    expect(unmetGuard('install', { ...low, charging: true }, params({ orCharging: false }), 0, ignoreWindow)).toBe('battery');
  });

  it('signal floor applies before the download; no RSRP (2G/3G) does not meet it', () => {
    expect(unmetGuard('download', { ...fine, rsrpDbm: -115 }, params({ minRsrpDbm: -110 }), 0, ignoreWindow)).toBe('signal');
    expect(unmetGuard('download', { ...fine, rsrpDbm: null }, params({ minRsrpDbm: -110 }), 0, ignoreWindow)).toBe('signal');
    expect(unmetGuard('download', { ...fine, rsrpDbm: -115 }, params(), 0, ignoreWindow)).toBeNull();
  });

  it('plan: must be active with the artifact size plus headroom left', () => {
    expect(unmetGuard('download', { ...fine, planStatus: 'grace' }, params(), 0, ignoreWindow)).toBe('plan');
    const left = 5 * 1_048_576;
    expect(unmetGuard('download', { ...fine, planLeftBytes: left }, params(), 0, ignoreWindow)).toBeNull();
    expect(unmetGuard('download', { ...fine, planLeftBytes: left }, params({ planHeadroomBytes: 2 * 1_048_576 }), 0, ignoreWindow)).toBe('plan');
    // plan and signal only gate the download
    expect(unmetGuard('install', { ...fine, planStatus: 'expired' }, params(), 0, ignoreWindow)).toBeNull();
  });

  it('window gates only the install, unless ignored', () => {
    expect(unmetGuard('download', fine, params(), shanghai(12), { ignoreWindow: false })).toBeNull();
    expect(unmetGuard('install', fine, params(), shanghai(12), { ignoreWindow: false })).toBe('window');
    expect(unmetGuard('install', fine, params(), shanghai(12), ignoreWindow)).toBeNull();
  });
});

describe('guardView', () => {
  const profile = generateTerminalProfile(1, { seed: 'ota-model', snPrefix: 'OTA' });
  const state = initialTerminalState(profile, shanghai(12));

  it('reports the state, and a low-battery scenario reads 8 % unplugged', () => {
    expect(guardView(state, null).batteryPct).toBe(state.battery.percent);
    expect(guardView(state, 'ota-low-battery')).toMatchObject({ batteryPct: 8, charging: false });
  });

  it('plan headroom from the allowance', () => {
    const capped = { ...state, plan: { ...state.plan, allowanceMb: 30, usedMb: 10 } };
    expect(guardView(capped, null).planLeftBytes).toBe(20 * 1_048_576);
    expect(guardView({ ...state, plan: { ...state.plan, allowanceMb: null } }, null).planLeftBytes).toBeNull();
  });
});

describe('install outcome and the reboot onto it', () => {
  const profile = generateTerminalProfile(2, { seed: 'ota-model', snPrefix: 'OTA' });
  const current = { version: 'E20_V1.0.0', appVersion: 'A1' };

  it('changes the installed component only', () => {
    expect(installOutcome(current, { component: 'firmware', version: 'E20_V2.0.0' }, null, 'silent')).toStrictEqual({
      kind: 'installed',
      firmware: { version: 'E20_V2.0.0', appVersion: 'A1' },
      fault: null,
    });
    expect(installOutcome(current, { component: 'app', version: 'A2' }, null, 'silent')).toMatchObject({
      firmware: { version: 'E20_V1.0.0', appVersion: 'A2' },
    });
  });

  it('install failure keeps the old versions; a bad release carries its fault', () => {
    expect(installOutcome(current, { component: 'firmware', version: 'X' }, 'ota-install-fail', 'silent')).toStrictEqual({
      kind: 'install_failed',
      firmware: current,
    });
    expect(installOutcome(current, { component: 'firmware', version: 'X' }, 'ota-bad-release', 'weak-signal')).toMatchObject({ fault: 'weak-signal' });
    expect(installOutcome(current, { component: 'firmware', version: 'X' }, 'ota-checksum-mismatch', 'silent')).toMatchObject({ fault: null });
  });

  it('a reboot restarts seq and uptime and reports the new version', () => {
    let state = initialTerminalState(profile, shanghai(1));
    for (let i = 1; i <= 3; i++) state = nextHeartbeat(profile, state, shanghai(1, i), { includeLocation: false }).state;
    const at = shanghai(1, 10);
    const rebooted = rebootedState(state, at, { firmware: { ...state.firmware, version: 'NEW' }, fault: null });
    expect(rebooted.boots).toBe(state.boots + 1);
    const hb = nextHeartbeat(profile, rebooted, at + 30_000, { includeLocation: false }).heartbeat;
    expect(hb).toMatchObject({ seq: 0, uptimeS: 30, firmware: { version: 'NEW' } });
    // a plain reboot keeps the versions
    expect(rebootedState(state, at).firmware).toStrictEqual(state.firmware);
  });

  it('a silent bad release sends one heartbeat on the new version, then none', () => {
    const at = shanghai(1);
    const booted = rebootedState(initialTerminalState(profile, at), at, { firmware: { version: 'BAD', appVersion: 'A' }, fault: 'silent' });
    const first = nextHeartbeat(profile, booted, at + 60_000, { includeLocation: false });
    expect(first.heartbeat?.firmware.version).toBe('BAD');
    expect(nextHeartbeat(profile, first.state, at + 120_000, { includeLocation: false }).heartbeat).toBeNull();
  });

  it('a weak-signal bad release pins RSRP below -110 dBm after the first heartbeat', () => {
    const at = shanghai(1);
    let state = rebootedState(initialTerminalState(profile, at), at, { firmware: { version: 'BAD', appVersion: 'A' }, fault: 'weak-signal' });
    state = nextHeartbeat(profile, state, at + 60_000, { includeLocation: false }).state;
    const later = nextHeartbeat(profile, state, at + 60 * 60_000, { includeLocation: false }).heartbeat;
    expect(later?.signal.rat).toBe('LTE');
    expect(later?.signal.rsrp ?? 0).toBeLessThan(-110);
  });

  it('bad-release faults split between silent and weak signal, stably per SN', () => {
    const faults = Array.from({ length: 40 }, (_, i) => badReleaseFault(`SN${i}`, 'seed'));
    expect(new Set(faults)).toStrictEqual(new Set(['silent', 'weak-signal']));
    expect(badReleaseFault('SN1', 'seed')).toBe(badReleaseFault('SN1', 'seed'));
  });
});

describe('OTA scenarios', () => {
  it('parses counts and shares, rejects unknown names and duplicates', () => {
    expect(parseOtaScenarioItems(['ota-low-battery=10%', 'ota-checksum-mismatch=2'])).toStrictEqual([
      { kind: 'ota-checksum-mismatch', amount: { count: 2 } },
      { kind: 'ota-low-battery', amount: { percent: 10 } },
    ]);
    expect(() => parseOtaScenarioItems(['ota-explode=1'])).toThrow(ScenarioSyntaxError);
    expect(() => parseOtaScenarioItems(['ota-install-fail=1', 'ota-install-fail=2'])).toThrow(/twice/);
    expect(() => parseOtaScenarioItems(['ota-install-fail=0'])).toThrow(/positive/);
    expect(() => parseOtaScenarioItems(['ota-install-fail=120%'])).toThrow(/share/);
  });

  it('assigns deterministically, one OTA scenario per terminal', () => {
    const fleet = Array.from({ length: 50 }, (_, i) => ({ sn: `S${i}`, index: i + 1 }));
    const requests = parseOtaScenarioItems(['ota-bad-release=10%', 'ota-install-fail=3']);
    const a = assignOtaScenarios(fleet, requests, 'seed-1');
    expect([...a.values()].filter((k) => k === 'ota-bad-release').length).toBe(5);
    expect([...a.values()].filter((k) => k === 'ota-install-fail').length).toBe(3);
    expect(assignOtaScenarios(fleet, requests, 'seed-1')).toStrictEqual(a);
    expect([...assignOtaScenarios(fleet, requests, 'seed-2').keys()]).not.toStrictEqual([...a.keys()]);
  });
});

describe('download helpers', () => {
  it('progress acks every 10 %', () => {
    expect(progressSteps(0, 250, 1000)).toStrictEqual([10, 20]);
    expect(progressSteps(250, 260, 1000)).toStrictEqual([]);
    expect(progressSteps(260, 1000, 1000)).toStrictEqual([30, 40, 50, 60, 70, 80, 90, 100]);
  });

  it('drop offset strictly inside the artifact', () => {
    expect(dropOffset(1000, 40)).toBe(400);
    expect(dropOffset(1000, null)).toBeNull();
    expect(dropOffset(10, 99.99)).toBe(9);
    expect(dropOffset(10, 0.01)).toBe(1);
  });
});
