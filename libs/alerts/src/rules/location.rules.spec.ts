import { describe, expect, it } from '@jest/globals';
import { DEFAULT_ALERT_THRESHOLDS as D } from './alert-thresholds.js';
import { relocatedOutcome } from './location.rules.js';
import { find, RuleHarness, sampleOf, terminalOf, thresholdsWith } from './rule-fixtures.js';
import { haversineKm } from './rule-helpers.js';
import type { AlertRule, OpenAlert } from './rule.types.js';

const none = new Map<AlertRule, OpenAlert>();
const BEIJING = { lat: 39.9042, lon: 116.4074 };
const GUANGZHOU = { lat: 23.1291, lon: 113.2644 };

describe('haversineKm', () => {
  it('measures Beijing–Guangzhou at about 1,890 km and a point to itself at 0', () => {
    expect(haversineKm(BEIJING.lat, BEIJING.lon, GUANGZHOU.lat, GUANGZHOU.lon)).toBeGreaterThan(1880);
    expect(haversineKm(BEIJING.lat, BEIJING.lon, GUANGZHOU.lat, GUANGZHOU.lon)).toBeLessThan(1900);
    expect(haversineKm(1, 2, 1, 2)).toBe(0);
  });
});

describe('relocated', () => {
  // 0.5° of latitude ≈ 55.6 km; 0.44° ≈ 48.9 km; 0.40° ≈ 44.5 km.
  const at = (dLat: number) => sampleOf({ lat: BEIJING.lat + dLat, lon: BEIJING.lon });

  it('raises a warning beyond distanceKm from the registered position, with the distance', () => {
    const o = relocatedOutcome(sampleOf(GUANGZHOU), terminalOf(), D, none);
    expect(o).toMatchObject({ active: true, severity: 'warning', details: { limitKm: 50, registeredLat: BEIJING.lat, lat: GUANGZHOU.lat } });
    expect(o?.details.distanceKm).toBeGreaterThan(1880);
    expect(relocatedOutcome(at(0.44), terminalOf(), D, none)?.active).toBe(false);
    expect(relocatedOutcome(at(0.5), terminalOf(), D, none)?.active).toBe(true);
  });

  it('needs both positions', () => {
    expect(relocatedOutcome(sampleOf({ lat: null, lon: null }), terminalOf(), D, none)).toBeNull();
    expect(relocatedOutcome(sampleOf(GUANGZHOU), terminalOf({ registeredLat: null, registeredLon: null }), D, none)).toBeNull();
  });

  it('does not flap around the limit: clears only back within 90 %', () => {
    const h = new RuleHarness();
    h.heartbeat(at(0.5));
    expect(h.transitions.get('relocated')).toBe('raised');
    h.heartbeat(at(0.44));
    expect(h.transitions.get('relocated')).toBe('kept');
    h.heartbeat(at(0.5));
    h.heartbeat(at(0.4));
    expect(h.transitions.get('relocated')).toBe('resolved');
    expect(find(h.heartbeat(at(0.44)), 'relocated')?.active).toBe(false);
  });

  it('honours distanceKm and enabled', () => {
    const t = thresholdsWith((x) => ({ ...x, relocated: { ...x.relocated, distanceKm: 2000 } }));
    expect(relocatedOutcome(sampleOf(GUANGZHOU), terminalOf(), t, none)?.active).toBe(false);
    const off = thresholdsWith((x) => ({ ...x, relocated: { ...x.relocated, enabled: false } }));
    expect(relocatedOutcome(sampleOf(GUANGZHOU), terminalOf(), off, none)?.active).toBe(false);
  });
});
