import { describe, expect, it } from '@jest/globals';
import { DEFAULT_ALERT_THRESHOLDS, mergeThresholds } from '../rules/index.js';
import { incrementalWindow } from './sweep-candidates.js';

const at = (iso: string) => new Date(iso);

describe('incrementalWindow', () => {
  it('flags the plan rules only when a local midnight of a zone in use passed', () => {
    // Asia/Shanghai (UTC+8): local midnight is 16:00 UTC; UTC midnight is not one.
    const defaults = [DEFAULT_ALERT_THRESHOLDS];
    expect(incrementalWindow(defaults, at('2026-12-01T15:59:00Z'), at('2026-12-01T16:00:00Z')).planDay).toBe(true);
    expect(incrementalWindow(defaults, at('2026-12-01T23:59:00Z'), at('2026-12-02T00:01:00Z')).planDay).toBe(false);
    const utc = mergeThresholds([{ timeZone: 'UTC' }]);
    expect(incrementalWindow([...defaults, utc], at('2026-12-01T23:59:00Z'), at('2026-12-02T00:01:00Z')).planDay).toBe(true);
  });

  it('spans the threshold crossings of every setting, with slack before the previous sweep', () => {
    const longer = mergeThresholds([{ offline: { graceMinutes: 60 }, silent: { factor: 10 } }]);
    const w = incrementalWindow([DEFAULT_ALERT_THRESHOLDS, longer], at('2026-12-01T10:00:00Z'), at('2026-12-01T10:01:00Z'));
    // Disconnected between (previous sweep − longest grace − slack) and (now − shortest grace).
    expect(w.offlineSince).toStrictEqual([at('2026-12-01T08:59:30Z'), at('2026-12-01T09:46:00Z')]);
    // Silence windows: 3 and 10 minutes.
    expect(w.silentSince).toStrictEqual([at('2026-12-01T09:49:30Z'), at('2026-12-01T09:58:00Z')]);
    expect(w.offlineClearSince).toStrictEqual(at('2026-12-01T09:00:30Z'));
    expect(w.silentClearSince).toStrictEqual(at('2026-12-01T09:50:30Z'));
  });
});
