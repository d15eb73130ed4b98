import { z } from 'zod';
import { ALERT_RULES } from '#alerts';

export const FIRMWARE_TOP = 50;

export const fleetSummaryQuery = z.object({
  providerId: z.uuid().optional().describe('Only this provider and its sub-providers (must be in scope)'),
});

const count = z.number().int();

export const fleetSummaryView = z.object({
  asOf: z.iso
    .datetime()
    .describe(
      'Time of the terminal counts. They come from a snapshot the worker rebuilds every few seconds (FLEET_SUMMARY_REFRESH_INTERVAL_MS, 5 s by default), ' +
        'so presence, plan, firmware and the flags can be that old (never older than FLEET_SUMMARY_MAX_AGE_MS, 60 s by default: past it they are counted live). ' +
        'Registered terminals (total, byModel) are always current; never and unknown are derived from both (never below 0). ' +
        'Alerts are always counted live.',
    ),
  total: count.describe('Registered terminals'),
  byOnline: z.object({
    online: count,
    offline: count.describe('Connected or reported at least once, not connected now'),
    never: count.describe('Never connected nor reported'),
  }),
  byPlanStatus: z.object({
    active: count,
    grace: count,
    suspended: count,
    expired: count,
    unknown: count.describe('No data plan reported yet'),
  }),
  byFirmwareVersion: z.object({
    top: z.array(z.object({ version: z.string(), count })).describe(`The ${FIRMWARE_TOP} most common reported versions, most common first`),
    other: count.describe('Terminals on any other version'),
    unknown: count.describe('No firmware version reported yet'),
  }),
  byModel: z.array(z.object({ model: z.string(), count })).describe('Registered model, most common first'),
  planExpiringWithin30Days: count.describe('Plan expires between today and today + 30 days'),
  autoRenewOff: count,
  autoRenewFailed: count.describe('Last plan renewal failed'),
  batteryBelow20: count.describe('Battery below 20 %'),
  signalBelowMinus110: count.describe('RSRP below -110 dBm'),
  alerts: z
    .object({
      open: count.describe('Unresolved alerts (open or acknowledged)'),
      acknowledged: count.describe('Of those, acknowledged'),
      bySeverity: z.object({ info: count, warning: count, critical: count }),
      byRule: z.array(z.object({ rule: z.enum(ALERT_RULES), count })).describe('Rules with unresolved alerts, most first'),
    })
    .describe('Unresolved alerts of terminals in the scope'),
});
export type FleetSummaryView = z.output<typeof fleetSummaryView>;
