import { describe, expect, it } from '@jest/globals';
import { expectPresent } from '#testing/expect-present.js';
import { HEARTBEAT_MAX_BYTES_DEFAULT, TID_PATTERN, heartbeatSchema, isValidPlaceName, isValidSn, parsePayload, type Heartbeat } from '#contracts';
import {
  BATTERY_DEGRADED_SHARE,
  CARRIERS,
  CITIES,
  DOCKED_SHARE,
  FIRMWARE_TIERS,
  PLAN_SCENARIOS,
  RELOCATED_SHARE,
  SIGNAL_ENVIRONMENT_SHARES,
  SIM_TYPES,
  TERMINAL_MODELS,
} from './fleet-catalog.js';
import { generateFleet, generateTerminalProfile, toRegistration, type TerminalProfile } from './fleet-generator.js';
import { distanceMetres, isLuhnValid } from './identifiers.js';
import type { WeightedValue } from './prng.js';
import { initialTerminalState, nextHeartbeat } from './terminal-model.js';

const START = Date.parse('2025-05-05T02:00:00Z');

function share<T>(fleet: readonly TerminalProfile[], pick: (p: TerminalProfile) => T, value: T): number {
  return fleet.filter((p) => pick(p) === value).length / fleet.length;
}

function expectedShare<T>(table: ReadonlyArray<WeightedValue<T>>, value: T): number {
  const total = table.reduce((s, e) => s + e.weight, 0);
  return table.filter((e) => e.value === value).reduce((s, e) => s + e.weight, 0) / total;
}

function assertShares<T>(
  fleet: readonly TerminalProfile[],
  table: ReadonlyArray<WeightedValue<T>>,
  pick: (p: TerminalProfile) => T,
  tolerance: number,
  _label: string,
): void {
  for (const { value } of table) {
    const actual = share(fleet, pick, value);
    const expected = expectedShare(table, value);
    expect(Math.abs(actual - expected) <= tolerance).toBeTruthy();
  }
}

function firstHeartbeat(profile: TerminalProfile): Heartbeat {
  const { heartbeat } = nextHeartbeat(profile, initialTerminalState(profile, START), START + 1000, { includeLocation: true });
  expectPresent(heartbeat);
  return heartbeat;
}

describe('fleet mix', () => {
  for (const seed of ['alpha', 'beta', '42']) {
    it(`has the documented shares in a fleet of 1000 (seed ${seed})`, () => {
      const fleet = generateFleet(1000, { seed, snPrefix: 'SIM' });
      assertShares(fleet, SIGNAL_ENVIRONMENT_SHARES, (p) => p.radio.environment, 0.01, 'signal');
      assertShares(fleet, PLAN_SCENARIOS, (p) => p.sim.plan.scenario, 0.01, 'plan');
      assertShares(fleet, FIRMWARE_TIERS, (p) => p.firmwareTier, 0.01, 'firmware');
      assertShares(
        fleet,
        TERMINAL_MODELS.map((m) => ({ value: m.value.name, weight: m.weight })),
        (p) => p.model,
        0.01,
        'model',
      );
      assertShares(
        fleet,
        CARRIERS.map((c) => ({ value: c.value.id, weight: c.weight })),
        (p) => p.radio.carrier,
        0.01,
        'carrier',
      );
      assertShares(fleet, SIM_TYPES, (p) => p.sim.type, 0.01, 'sim');
      expect(Math.abs(share(fleet, (p) => p.battery.degraded, true) - BATTERY_DEGRADED_SHARE) <= 0.01).toBeTruthy();
      expect(Math.abs(share(fleet, (p) => p.merchant.docked, true) - DOCKED_SHARE) <= 0.01).toBeTruthy();
      expect(Math.abs(share(fleet, (p) => p.location.relocated, true) - RELOCATED_SHARE) <= 0.005).toBeTruthy();
    });
  }

  it('keeps 10-15 % weak-signal terminals and most on the latest firmware even in small fleets', () => {
    for (const size of [50, 100, 200, 500]) {
      const fleet = generateFleet(size, { seed: `small-${size}`, snPrefix: 'SIM' });
      const weak = share(fleet, (p) => p.radio.environment, 'weak');
      expect(weak >= 0.1 && weak <= 0.15).toBeTruthy();
      expect(share(fleet, (p) => p.firmwareTier, 'latest') >= 0.7).toBeTruthy();
    }
  });

  it('a default fleet of 200 shows every problem the backend must detect in its first heartbeats', () => {
    for (const seed of ['a', 'b', 'c', 'd', 'e']) {
      const heartbeats = generateFleet(200, { seed, snPrefix: 'SIM' }).map(firstHeartbeat);
      const plans = heartbeats.map((h) => h.sim.plan);
      const today = heartbeats[0].ts.slice(0, 10);
      const in30Days = new Date(Date.parse(`${today}T00:00:00Z`) + 30 * 86_400_000).toISOString().slice(0, 10);
      const count = (pred: (hb: Heartbeat) => boolean): number => heartbeats.filter(pred).length;
      const checks: Record<string, number> = {
        expired: plans.filter((p) => p.status === 'expired').length,
        suspended: plans.filter((p) => p.status === 'suspended').length,
        grace: plans.filter((p) => p.status === 'grace').length,
        autoRenewFailed: plans.filter((p) => p.autoRenew && p.lastRenewal?.result === 'failed').length,
        autoRenewOff: plans.filter((p) => !p.autoRenew && p.status === 'active').length,
        expiringWithin30Days: plans.filter((p) => p.status === 'active' && p.expiresAt <= in30Days).length,
        nearAllowance: plans.filter((p) => p.allowanceMb !== undefined && p.usedMb >= 0.8 * p.allowanceMb * (Number(today.slice(8, 10)) / 31)).length,
        weakSignal: count((h) => (h.signal.rsrp ?? -140) <= -110 || h.signal.rat !== 'LTE'),
        oldFirmware: count((h) => h.firmware.appVersion !== '5.12.3'),
        esim: count((h) => h.sim.type === 'esim'),
      };
      expect(Object.entries(checks).filter(([, n]) => n === 0)).toStrictEqual([]);
      const reasons = new Set(plans.flatMap((p) => (p.lastRenewal?.reason ? [p.lastRenewal.reason] : [])));
      expect(reasons.size >= 2).toBeTruthy();
      for (const hb of heartbeats) {
        const result = parsePayload(JSON.stringify(hb), heartbeatSchema, { maxBytes: HEARTBEAT_MAX_BYTES_DEFAULT, supportedVersions: [1] });
        expect(result.ok).toBeTruthy();
      }
    }
  });
});

describe('terminal profiles', () => {
  it('are deterministic per seed and independent of fleet size', () => {
    const small = generateFleet(10, { seed: 'x', snPrefix: 'SIM' });
    const large = generateFleet(300, { seed: 'x', snPrefix: 'SIM' });
    expect(small).toStrictEqual(large.slice(0, 10));
    expect(generateTerminalProfile(7, { seed: 'x', snPrefix: 'SIM' })).toStrictEqual(large[6]);
    const other = generateFleet(10, { seed: 'y', snPrefix: 'SIM' });
    expect(small).not.toStrictEqual(other);
    expect(small.map((p) => p.sn)).toStrictEqual(other.map((p) => p.sn));
  });

  it('have unique, well-formed identifiers', () => {
    const fleet = generateFleet(2000, { seed: 'ids', snPrefix: 'POS_T' });
    const unique = (f: (p: TerminalProfile) => string): number => new Set(fleet.map(f)).size;
    expect(unique((p) => p.sn)).toBe(fleet.length);
    expect(unique((p) => p.tid)).toBe(fleet.length);
    expect(unique((p) => p.imei)).toBe(fleet.length);
    expect(unique((p) => p.sim.iccid)).toBe(fleet.length);
    for (const p of fleet) {
      expect(isValidSn(p.sn)).toBeTruthy();
      expect(p.sn).toMatch(/^POS_T-\d{6}$/);
      expect(p.tid).toMatch(TID_PATTERN);
      expect(p.mid).toMatch(/^\d{15}$/);
      expect(p.imei).toMatch(/^\d{15}$/);
      expect(isLuhnValid(p.imei)).toBeTruthy();
      expect(p.sim.iccid).toMatch(/^8986\d{15,16}$/);
      expect(isLuhnValid(p.sim.iccid)).toBeTruthy();
    }
  });

  it('give two fleets with different prefixes different TIDs and IMEIs (the gateway rejects a TID in use)', () => {
    const a = generateFleet(3000, { seed: 'same', snPrefix: 'SIM' });
    const b = generateFleet(3000, { seed: 'same', snPrefix: 'LOAD' });
    const tids = new Set(a.map((p) => p.tid));
    expect(b.filter((p) => tids.has(p.tid)).length <= 1).toBeTruthy();
    const imeis = new Set(a.map((p) => p.imei));
    expect(b.filter((p) => imeis.has(p.imei)).length < 30).toBeTruthy();
  });

  it('pair every carrier with its own network codes and ICCID issuers', () => {
    const codes: Record<string, readonly string[]> = {
      cmcc: ['46000', '46002', '46007'],
      unicom: ['46001', '46006'],
      telecom: ['46003', '46011'],
    };
    const issuers: Record<string, readonly string[]> = {
      cmcc: ['00', '02', '04', '07'],
      unicom: ['01', '06', '09'],
      telecom: ['03', '11'],
    };
    for (const p of generateFleet(500, { seed: 'carriers', snPrefix: 'SIM' })) {
      expect(codes[p.radio.carrier].includes(p.radio.mccMnc)).toBeTruthy();
      expect(issuers[p.radio.carrier].includes(p.sim.iccid.slice(4, 6))).toBeTruthy();
    }
  });

  it('place terminals at their registered location, except the relocated ones far away', () => {
    const fleet = generateFleet(1000, { seed: 'geo', snPrefix: 'SIM' });
    const relocated = fleet.filter((p) => p.location.relocated);
    expect(relocated.length >= 5).toBeTruthy();
    for (const p of fleet) {
      const d = distanceMetres(p.location.registered, p.location.actual);
      if (p.location.relocated) expect(d > 700_000).toBeTruthy();
      else expect(d < 100).toBeTruthy();
    }
  });

  it('are registered with their model, TID, MID, registered location, city and region', () => {
    const p = generateTerminalProfile(12, { seed: 'reg', snPrefix: 'SIM' });
    const reg = toRegistration(p);
    expect(reg.sn).toBe(p.sn);
    expect(reg.model).toBe(p.model);
    expect(reg.tid).toBe(p.tid);
    expect(reg.mid).toBe(p.mid);
    expect(Math.abs((reg.registeredLat ?? 0) - p.location.registered.lat) < 1e-6).toBeTruthy();
    expect(Math.abs((reg.registeredLon ?? 0) - p.location.registered.lon) < 1e-6).toBeTruthy();
    const city = CITIES.find((c) => c.value.name === reg.city)?.value;
    expect(city).toBeDefined();
    expect(reg.region).toBe(city?.region);
    expect(distanceMetres(p.location.registered, city ?? { lat: 0, lon: 0 }) < 20_000).toBe(true);
    // Names the enrolment endpoint accepts.
    expect(isValidPlaceName(reg.city) && isValidPlaceName(reg.region)).toBe(true);
  });

  it('rejects bad indexes and prefixes that would break the SN pattern', () => {
    expect(() => generateTerminalProfile(0, { seed: 's', snPrefix: 'SIM' })).toThrow();
    expect(() => generateTerminalProfile(1, { seed: 's', snPrefix: 'SIM/1' })).toThrow();
    expect(() => generateTerminalProfile(1, { seed: 's', snPrefix: 'S'.repeat(40) })).toThrow();
  });
});
