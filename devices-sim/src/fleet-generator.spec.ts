import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HEARTBEAT_MAX_BYTES_DEFAULT, TID_PATTERN, heartbeatSchema, isValidSn, parsePayload, type Heartbeat } from '#contracts';
import {
  BATTERY_DEGRADED_SHARE,
  CARRIERS,
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

function assertShares<T>(fleet: readonly TerminalProfile[], table: ReadonlyArray<WeightedValue<T>>, pick: (p: TerminalProfile) => T, tolerance: number, label: string): void {
  for (const { value } of table) {
    const actual = share(fleet, pick, value);
    const expected = expectedShare(table, value);
    assert.ok(Math.abs(actual - expected) <= tolerance, `${label} ${String(value)}: ${(actual * 100).toFixed(1)} % vs ${(expected * 100).toFixed(1)} %`);
  }
}

function firstHeartbeat(profile: TerminalProfile): Heartbeat {
  const { heartbeat } = nextHeartbeat(profile, initialTerminalState(profile, START), START + 1000, { includeLocation: true });
  assert.ok(heartbeat);
  return heartbeat;
}

describe('fleet mix', () => {
  for (const seed of ['alpha', 'beta', '42']) {
    it(`has the documented shares in a fleet of 1000 (seed ${seed})`, () => {
      const fleet = generateFleet(1000, { seed, snPrefix: 'SIM' });
      assertShares(fleet, SIGNAL_ENVIRONMENT_SHARES, (p) => p.radio.environment, 0.01, 'signal');
      assertShares(fleet, PLAN_SCENARIOS, (p) => p.sim.plan.scenario, 0.01, 'plan');
      assertShares(fleet, FIRMWARE_TIERS, (p) => p.firmwareTier, 0.01, 'firmware');
      assertShares(fleet, TERMINAL_MODELS.map((m) => ({ value: m.value.name, weight: m.weight })), (p) => p.model, 0.01, 'model');
      assertShares(fleet, CARRIERS.map((c) => ({ value: c.value.id, weight: c.weight })), (p) => p.radio.carrier, 0.01, 'carrier');
      assertShares(fleet, SIM_TYPES, (p) => p.sim.type, 0.01, 'sim');
      assert.ok(Math.abs(share(fleet, (p) => p.battery.degraded, true) - BATTERY_DEGRADED_SHARE) <= 0.01);
      assert.ok(Math.abs(share(fleet, (p) => p.merchant.docked, true) - DOCKED_SHARE) <= 0.01);
      assert.ok(Math.abs(share(fleet, (p) => p.location.relocated, true) - RELOCATED_SHARE) <= 0.005);
    });
  }

  it('keeps 10-15 % weak-signal terminals and most on the latest firmware even in small fleets', () => {
    for (const size of [50, 100, 200, 500]) {
      const fleet = generateFleet(size, { seed: `small-${size}`, snPrefix: 'SIM' });
      const weak = share(fleet, (p) => p.radio.environment, 'weak');
      assert.ok(weak >= 0.1 && weak <= 0.15, `weak share ${weak} with ${size} terminals`);
      assert.ok(share(fleet, (p) => p.firmwareTier, 'latest') >= 0.7);
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
      for (const [name, n] of Object.entries(checks)) assert.ok(n > 0, `seed ${seed}: no terminal with ${name}`);
      const reasons = new Set(plans.flatMap((p) => (p.lastRenewal?.reason ? [p.lastRenewal.reason] : [])));
      assert.ok(reasons.size >= 2, `renewal failure reasons: ${[...reasons]}`);
      for (const hb of heartbeats) {
        const result = parsePayload(JSON.stringify(hb), heartbeatSchema, { maxBytes: HEARTBEAT_MAX_BYTES_DEFAULT, supportedVersions: [1] });
        assert.ok(result.ok);
      }
    }
  });
});

describe('terminal profiles', () => {
  it('are deterministic per seed and independent of fleet size', () => {
    const small = generateFleet(10, { seed: 'x', snPrefix: 'SIM' });
    const large = generateFleet(300, { seed: 'x', snPrefix: 'SIM' });
    assert.deepEqual(small, large.slice(0, 10));
    assert.deepEqual(generateTerminalProfile(7, { seed: 'x', snPrefix: 'SIM' }), large[6]);
    const other = generateFleet(10, { seed: 'y', snPrefix: 'SIM' });
    assert.notDeepEqual(small, other);
    assert.deepEqual(small.map((p) => p.sn), other.map((p) => p.sn), 'SNs depend only on prefix and index');
  });

  it('have unique, well-formed identifiers', () => {
    const fleet = generateFleet(2000, { seed: 'ids', snPrefix: 'POS_T' });
    const unique = (f: (p: TerminalProfile) => string): number => new Set(fleet.map(f)).size;
    assert.equal(unique((p) => p.sn), fleet.length);
    assert.equal(unique((p) => p.tid), fleet.length);
    assert.equal(unique((p) => p.imei), fleet.length);
    assert.equal(unique((p) => p.sim.iccid), fleet.length);
    for (const p of fleet) {
      assert.ok(isValidSn(p.sn), p.sn);
      assert.match(p.sn, /^POS_T-\d{6}$/);
      assert.match(p.tid, TID_PATTERN);
      assert.match(p.mid, /^\d{15}$/);
      assert.match(p.imei, /^\d{15}$/);
      assert.ok(isLuhnValid(p.imei), `IMEI ${p.imei}`);
      assert.match(p.sim.iccid, /^8986\d{15,16}$/);
      assert.ok(isLuhnValid(p.sim.iccid), `ICCID ${p.sim.iccid}`);
    }
  });

  it('give two fleets with different prefixes different TIDs and IMEIs (the gateway rejects a TID in use)', () => {
    const a = generateFleet(3000, { seed: 'same', snPrefix: 'SIM' });
    const b = generateFleet(3000, { seed: 'same', snPrefix: 'LOAD' });
    const tids = new Set(a.map((p) => p.tid));
    assert.ok(b.filter((p) => tids.has(p.tid)).length <= 1);
    const imeis = new Set(a.map((p) => p.imei));
    assert.ok(b.filter((p) => imeis.has(p.imei)).length < 30);
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
      assert.ok(codes[p.radio.carrier].includes(p.radio.mccMnc), `${p.radio.carrier} ${p.radio.mccMnc}`);
      assert.ok(issuers[p.radio.carrier].includes(p.sim.iccid.slice(4, 6)), `${p.radio.carrier} ${p.sim.iccid}`);
    }
  });

  it('place terminals at their registered location, except the relocated ones far away', () => {
    const fleet = generateFleet(1000, { seed: 'geo', snPrefix: 'SIM' });
    const relocated = fleet.filter((p) => p.location.relocated);
    assert.ok(relocated.length >= 5);
    for (const p of fleet) {
      const d = distanceMetres(p.location.registered, p.location.actual);
      if (p.location.relocated) assert.ok(d > 700_000, `${p.sn} relocated only ${Math.round(d / 1000)} km`);
      else assert.ok(d < 100, `${p.sn} is ${Math.round(d)} m from its registered location`);
    }
  });

  it('are registered with their model, TID, MID and registered location', () => {
    const p = generateTerminalProfile(12, { seed: 'reg', snPrefix: 'SIM' });
    const reg = toRegistration(p);
    assert.equal(reg.sn, p.sn);
    assert.equal(reg.model, p.model);
    assert.equal(reg.tid, p.tid);
    assert.equal(reg.mid, p.mid);
    assert.ok(Math.abs((reg.registeredLat ?? 0) - p.location.registered.lat) < 1e-6);
    assert.ok(Math.abs((reg.registeredLon ?? 0) - p.location.registered.lon) < 1e-6);
  });

  it('rejects bad indexes and prefixes that would break the SN pattern', () => {
    assert.throws(() => generateTerminalProfile(0, { seed: 's', snPrefix: 'SIM' }));
    assert.throws(() => generateTerminalProfile(1, { seed: 's', snPrefix: 'SIM/1' }));
    assert.throws(() => generateTerminalProfile(1, { seed: 's', snPrefix: 'S'.repeat(40) }));
  });
});
