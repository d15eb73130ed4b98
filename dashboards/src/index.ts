import type { BuiltDashboard } from './dashboard-kit.js';
import { alertsDashboard } from './alerts.dashboard.js';
import { fleetOverviewDashboard } from './fleet-overview.dashboard.js';
import { gatewayHealthDashboard } from './gateway-health.dashboard.js';
import { otaDashboard } from './ota.dashboard.js';
import { simRenewalsDashboard } from './sim-renewals.dashboard.js';
import { terminalDetailDashboard } from './terminal-detail.dashboard.js';

export * from './dashboard-kit.js';
export * from './fleet-seed.js';
export * from './grafana-macros.js';

/** Every provisioned dashboard, in folder order. */
export function buildDashboards(): BuiltDashboard[] {
  return [fleetOverviewDashboard(), simRenewalsDashboard(), alertsDashboard(), otaDashboard(), terminalDetailDashboard(), gatewayHealthDashboard()];
}

/** The committed form: stable key order as built, two-space indent, trailing newline. */
export function dashboardJson(built: BuiltDashboard): string {
  return `${JSON.stringify(built.dashboard, null, 2)}\n`;
}
