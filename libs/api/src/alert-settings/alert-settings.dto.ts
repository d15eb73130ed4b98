import { z } from 'zod';
import { alertThresholdsOverrideSchema, alertThresholdsSchema, type AlertThresholds } from '../alerts/alert-rules.port.js';

const isoTime = z.iso.datetime();

export const alertSettingsView = z.object({
  providerId: z.uuid(),
  overrides: alertThresholdsOverrideSchema.nullable().describe('This provider\u2019s own overrides (a partial settings object); null when it has none'),
  updatedAt: isoTime.nullable().describe('When the overrides last changed; null when there are none'),
  effective: alertThresholdsSchema
    .nullable()
    .describe(
      'Code defaults, then the overrides on the path from the root (fleet-wide) down to this provider; null if they do not merge into valid thresholds',
    ),
  issues: z
    .array(z.object({ path: z.string(), message: z.string() }))
    .describe('Why the overrides on the path do not merge into valid thresholds; empty when effective is set'),
});
/** The view's type; effective is the rules module's (readonly) AlertThresholds. */
export type AlertSettingsView = Omit<z.output<typeof alertSettingsView>, 'effective'> & { effective: AlertThresholds | null };

export const alertDefaultsView = alertThresholdsSchema.describe('The thresholds built into the code (DEFAULT_ALERT_THRESHOLDS)');
