import { z } from 'zod';

const isoTime = z.iso.datetime();
const settingsObject = z.record(z.string(), z.unknown());

export const alertSettingsView = z.object({
  providerId: z.uuid(),
  overrides: settingsObject.nullable().describe('This provider\u2019s own overrides (a partial settings object); null when it has none'),
  updatedAt: isoTime.nullable().describe('When the overrides last changed; null when there are none'),
  effective: settingsObject.describe('Code defaults, then the overrides on the path from the root (fleet-wide) down to this provider'),
});
export type AlertSettingsView = z.output<typeof alertSettingsView>;

export const alertDefaultsView = settingsObject.describe('The thresholds built into the code (DEFAULT_ALERT_THRESHOLDS)');
