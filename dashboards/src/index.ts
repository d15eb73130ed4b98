import type { BuiltDashboard } from './dashboard-kit.js';
import { fleetOverviewDashboard } from './fleet-overview.dashboard.js';

export * from './dashboard-kit.js';
export * from './grafana-macros.js';

/** Every provisioned dashboard, in folder order. */
export function buildDashboards(): BuiltDashboard[] {
  return [fleetOverviewDashboard()];
}

/** The committed form: stable key order as built, two-space indent, trailing newline. */
export function dashboardJson(built: BuiltDashboard): string {
  return `${JSON.stringify(built.dashboard, null, 2)}\n`;
}
