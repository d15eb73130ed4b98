/**
 * A complete, valid heartbeat for the contracts' specs (every section the schema declares, with
 * ordinary values). Each call returns a fresh object, so a spec may mutate it.
 */
export function sampleHeartbeat(): Record<string, unknown> {
  return {
    v: 1,
    ts: '2025-03-03T08:00:00+08:00',
    seq: 42,
    model: 'EP-T1',
    firmware: { version: '1.2.3', appVersion: '4.5.6' },
    battery: { percent: 87, charging: false, temperatureC: 31.5 },
    signal: { rat: 'LTE', rsrp: -95, rsrq: -10, sinr: 12, rssi: -70, csq: 20, mccMnc: '46000', cellId: '1A2B3C' },
    sim: {
      iccid: '89860012345678901234',
      imei: '356938035643809',
      type: 'physical',
      carrier: 'China Mobile',
      plan: {
        status: 'active',
        expiresAt: '2025-12-31',
        autoRenew: true,
        lastRenewal: { at: '2025-02-01T00:00:00Z', result: 'success' },
        usedMb: 120.5,
        allowanceMb: 1024,
      },
    },
    location: { lat: 31.23, lon: 121.47, accuracyM: 25, source: 'gps' },
    uptimeS: 3600,
  };
}
