import { Inject, Injectable } from '@nestjs/common';
import { ALERT_RULES, type AlertRule } from '#alerts';
import { AlertRepository, type OpenAlertCount } from '../alerts/alert.repository.js';
import type { RequestContext } from '../auth/principal.js';
import { ProviderService } from '../providers/provider.service.js';
import { FIRMWARE_TOP, type FleetSummaryView } from './fleet.dto.js';
import { FleetSummaryRepository } from './fleet-summary.repository.js';

/** Fleet dashboards: counts over the caller's scope (or one provider subtree inside it). */
@Injectable()
export class FleetService {
  constructor(
    @Inject(FleetSummaryRepository) private readonly repo: FleetSummaryRepository,
    @Inject(ProviderService) private readonly providers: ProviderService,
    @Inject(AlertRepository) private readonly alerts: AlertRepository,
  ) {}

  async summary(ctx: RequestContext, providerId?: string): Promise<FleetSummaryView> {
    const provider = providerId ? await this.providers.get(ctx.scope, providerId) : null;
    const [c, alertCounts] = await Promise.all([
      this.repo.counts(ctx.scope, provider?.path ?? null),
      this.alerts.openCounts(ctx.scope, provider?.path ?? null),
    ]);
    const total = c.byModel.reduce((sum, m) => sum + m.count, 0);
    const byPlanStatus = { active: 0, grace: 0, suspended: 0, expired: 0, unknown: 0 };
    for (const [planStatus, count] of c.byPlanStatus) {
      if (planStatus === 'active' || planStatus === 'grace' || planStatus === 'suspended' || planStatus === 'expired') byPlanStatus[planStatus] += count;
    }
    // Registered counts are current and reported state can be a few seconds older (see FleetSummaryRepository): never below 0.
    byPlanStatus.unknown = Math.max(0, total - byPlanStatus.active - byPlanStatus.grace - byPlanStatus.suspended - byPlanStatus.expired);
    const versions = [...c.byFirmwareVersion]
      .flatMap(([version, count]) => (version === null ? [] : [{ version, count }]))
      .sort((a, b) => b.count - a.count || (a.version < b.version ? -1 : a.version > b.version ? 1 : 0));
    const top = versions.slice(0, FIRMWARE_TOP);
    const other = versions.slice(FIRMWARE_TOP).reduce((sum, v) => sum + v.count, 0);
    const reported = versions.reduce((sum, v) => sum + v.count, 0);
    return {
      asOf: c.asOf.toISOString(),
      total,
      byOnline: { online: c.state.online, offline: c.state.offline, never: Math.max(0, total - c.state.online - c.state.offline) },
      byPlanStatus,
      byFirmwareVersion: { top, other, unknown: Math.max(0, total - reported) },
      byModel: c.byModel,
      planExpiringWithin30Days: c.state.expiringWithin30Days,
      autoRenewOff: c.state.autoRenewOff,
      autoRenewFailed: c.state.autoRenewFailed,
      batteryBelow20: c.state.batteryBelow20,
      signalBelowMinus110: c.state.signalBelowMinus110,
      alerts: alertSummary(alertCounts),
    };
  }
}

const KNOWN_RULES: ReadonlySet<string> = new Set(ALERT_RULES);

/** Folds the (rule, severity) groups into totals, per severity and per rule (most first, then by id). */
export function alertSummary(groups: readonly OpenAlertCount[]): FleetSummaryView['alerts'] {
  const bySeverity = { info: 0, warning: 0, critical: 0 };
  const byRule = new Map<AlertRule, number>();
  let open = 0;
  let acknowledged = 0;
  for (const g of groups) {
    open += g.open;
    acknowledged += g.acknowledged;
    if (g.severity === 'info' || g.severity === 'warning' || g.severity === 'critical') bySeverity[g.severity] += g.open;
    if (KNOWN_RULES.has(g.rule)) byRule.set(g.rule as AlertRule, (byRule.get(g.rule as AlertRule) ?? 0) + g.open);
  }
  return {
    open,
    acknowledged,
    bySeverity,
    byRule: [...byRule].map(([rule, count]) => ({ rule, count })).sort((a, b) => b.count - a.count || (a.rule < b.rule ? -1 : 1)),
  };
}
