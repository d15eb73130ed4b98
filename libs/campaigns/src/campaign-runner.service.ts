import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger, Optional, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#config';
import { COMMAND_CLOCK, COMMAND_DISPATCH, CommandsRepository, resolveNotify, type CommandClock, type CommandDispatchPort } from '#commands';
import { CommandType, otaInstallParamsSchema } from '#contracts';
import { OtaInstallService } from '#ota';
import { CampaignMetrics, type AutoPauseCause } from './campaign-metrics.js';
import { healthMetric, type CampaignRow, type HealthComparison, type HealthMetric } from './campaign.types.js';
import { CampaignsRepository, type TargetSpec } from './campaigns.repository.js';
import { CampaignsService, waveProgress } from './campaigns.service.js';

/** Commands created per campaign and tick at most (the rate limit usually binds first). */
const MAX_BATCH = 500;
/** Health comparisons kept in a campaign's progress. */
const HEALTH_HISTORY = 50;

/** What one tick did to one campaign (tests and logs). */
export type TickOutcome =
  | { kind: 'dispatched'; count: number }
  | { kind: 'waiting'; why: string }
  | { kind: 'soaking'; until: Date }
  | { kind: 'advanced'; wave: number; size: number }
  | { kind: 'paused'; reason: string }
  | { kind: 'completed' }
  | { kind: 'following' };

/**
 * Runs campaigns on the worker. Each tick claims running campaigns with a lease (SKIP LOCKED, so
 * several workers share them and none runs one twice), then per campaign: assigns wave members at
 * the configured rate and creates their ota.install commands in the ledger, pauses on the failure
 * threshold, and after a wave reached the success threshold and soaked, runs the health gate and
 * advances or pauses. Time comes from the ledger's clock (tests control it).
 */
@Injectable()
export class CampaignRunner implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Campaigns');
  private readonly owner = `runner-${randomUUID()}`;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> | null = null;
  private notify = false;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(CampaignsRepository) private readonly repo: CampaignsRepository,
    @Inject(CampaignsService) private readonly campaigns: CampaignsService,
    @Inject(CommandsRepository) private readonly commands: CommandsRepository,
    @Inject(OtaInstallService) private readonly ota: OtaInstallService,
    @Inject(COMMAND_CLOCK) private readonly clock: CommandClock,
    @Inject(CampaignMetrics) private readonly metrics: CampaignMetrics,
    @Optional() @Inject(COMMAND_DISPATCH) private readonly local?: CommandDispatchPort,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    this.notify = await resolveNotify(this.config, this.commands);
    if (this.config.campaigns.tickMs > 0) {
      this.timer = setInterval(() => {
        if (this.running) return;
        this.running = this.tick()
          .catch((err: unknown) => this.logger.error(`campaign tick failed: ${String(err)}`))
          .finally(() => (this.running = null));
      }, this.config.campaigns.tickMs);
      this.timer.unref();
    }
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  /** One pass over the running campaigns this worker can lease. */
  async tick(): Promise<Map<string, TickOutcome>> {
    const now = this.clock.now();
    const out = new Map<string, TickOutcome>();
    const ids = await this.repo.claim(this.owner, now, new Date(now.getTime() + this.config.campaigns.leaseMs), 20);
    for (const id of ids) {
      try {
        const outcome = await this.runOne(id, now);
        if (outcome) out.set(id, outcome);
      } catch (err) {
        this.logger.error(`campaign ${id}: ${String(err)}`);
      } finally {
        await this.repo.release(id, this.owner);
      }
    }
    return out;
  }

  private async pause(row: CampaignRow, now: Date, cause: AutoPauseCause, reason: string): Promise<TickOutcome> {
    if (await this.repo.runnerUpdate(row.id, this.owner, now, `state = 'paused', pause_reason = $4`, [reason])) this.metrics.autoPauses.inc({ cause });
    this.logger.warn(`campaign ${row.id} paused: ${reason}`);
    return { kind: 'paused', reason };
  }

  private async runOne(id: string, now: Date): Promise<TickOutcome | null> {
    const row = await this.repo.find(id);
    if (!row || row.state !== 'running') return null;
    const release = await this.campaigns.release(row.releaseId);
    if (release.status !== 'active') return this.pause(row, now, 'release', `release ${release.id} is ${release.status}`);
    const spec = await this.campaigns.targetSpec(release, row.target, row.providerPath, now);
    const waves = waveProgress(await this.repo.memberStats(row.id, row.retry.maxAttempts));
    const cur = waves.find((w) => w.wave === row.wave) ?? {
      wave: row.wave,
      assigned: 0,
      succeeded: 0,
      failed: 0,
      retrying: 0,
      inFlight: 0,
      cancelled: 0,
      states: {},
    };

    let waveSize = row.waveSize;
    if (waveSize === null) {
      // The canary's percent is of the eligible population when the campaign starts.
      const total = (await this.repo.remaining(row.id, spec)) + waves.reduce((n, w) => n + w.assigned, 0);
      waveSize = 'count' in row.waves.canary ? row.waves.canary.count : Math.max(1, Math.ceil((total * row.waves.canary.percent) / 100));
      await this.repo.runnerUpdate(row.id, this.owner, now, 'wave_size = $4', [waveSize]);
    }

    // Failed counts terminals (their latest command), retries pending included: a wave whose failures
    // reach the threshold pauses even if retries might still rescue some of them.
    if (cur.failed > 0 && cur.failed >= row.failureThreshold * waveSize) {
      return this.pause(
        row,
        now,
        'failure_threshold',
        `failure threshold: ${cur.failed} of ${waveSize} failed in wave ${row.wave} (threshold ${row.failureThreshold})`,
      );
    }

    // Due retries (of any wave) and the current wave's new members share the rate limit.
    const dispatched = await this.dispatch(row, spec, Math.max(0, waveSize - cur.assigned), now, release.minBatteryPct ?? 0);
    if (dispatched > 0) return { kind: 'dispatched', count: dispatched };
    if (cur.assigned < waveSize) {
      if ((await this.repo.remaining(row.id, spec)) > 0) return { kind: 'waiting', why: 'rate limit' };
      if (cur.assigned === 0) {
        if (row.target.dynamic) return { kind: 'following' };
        await this.repo.runnerUpdate(row.id, this.owner, now, `state = 'completed', finished_at = $3`, []);
        return { kind: 'completed' };
      }
      // Fewer eligible terminals than the wave size: the wave is what could be assigned.
      waveSize = cur.assigned;
      await this.repo.runnerUpdate(row.id, this.owner, now, 'wave_size = $4', [waveSize]);
    }

    if (cur.succeeded < row.successThreshold * cur.assigned) {
      if (cur.inFlight === 0 && cur.retrying === 0) {
        return this.pause(
          row,
          now,
          'success_threshold',
          `success threshold: ${cur.succeeded} of ${cur.assigned} succeeded in wave ${row.wave} (needs ${row.successThreshold})`,
        );
      }
      return { kind: 'waiting', why: cur.inFlight > 0 ? 'installs in flight' : 'retries pending' };
    }
    if (row.soakUntil === null) {
      const until = new Date(now.getTime() + row.soakS * 1000);
      await this.repo.runnerUpdate(row.id, this.owner, now, 'soak_until = $4', [until]);
      if (row.soakS > 0) return { kind: 'soaking', until };
    } else if (now < row.soakUntil) {
      return { kind: 'soaking', until: row.soakUntil };
    }

    if (row.health.enabled) {
      const comparison = await this.healthGate(row, spec, now);
      this.metrics.gateVerdicts.inc({ verdict: comparison.verdict });
      const history = [...(row.progress.health ?? []), comparison].slice(-HEALTH_HISTORY);
      await this.repo.runnerUpdate(row.id, this.owner, now, `progress = jsonb_set(progress, '{health}', $4::jsonb)`, [JSON.stringify(history)]);
      if (comparison.verdict === 'fail') {
        const bad = Object.entries(comparison.metrics)
          .filter(([, m]) => m.bad)
          .map(([k, m]) => `${k} ${m.updatedRate} > ${m.limit} (control ${m.controlRate})`);
        return this.pause(row, now, 'health_gate', `health gate after wave ${row.wave}: ${bad.join('; ')}`);
      }
    }

    // Dynamic campaigns move on to an empty wave and wait there for terminals that match later.
    if (!row.target.dynamic && (await this.repo.remaining(row.id, spec)) === 0) {
      await this.repo.runnerUpdate(row.id, this.owner, now, `state = 'completed', finished_at = $3`, []);
      return { kind: 'completed' };
    }
    const next = Math.max(waveSize + 1, Math.ceil(waveSize * row.waves.growth));
    await this.repo.runnerUpdate(row.id, this.owner, now, 'wave = wave + 1, wave_size = $4, wave_started_at = $3, soak_until = NULL', [next]);
    return { kind: 'advanced', wave: row.wave + 1, size: next };
  }

  /**
   * Token bucket on the campaign row: credit accrues at ratePerMinute from dispatch_at, at most one
   * minute's worth; each command spends 60/rate seconds of it.
   */
  private async dispatch(row: CampaignRow, spec: TargetSpec, need: number, now: Date, releaseMinBattery: number): Promise<number> {
    const floor = now.getTime() - 60_000;
    const from = Math.max(row.dispatchAt?.getTime() ?? floor, floor);
    const credit = Math.floor(((now.getTime() - from) * row.ratePerMinute) / 60_000);
    const budget = Math.min(credit, MAX_BATCH);
    if (budget <= 0) return 0;
    const retried = row.retry.maxAttempts > 1 ? await this.repo.retryDue(row.id, spec, row.retry, now, budget) : [];
    const n = Math.min(need, budget - retried.length);
    const members = [...retried, ...(n > 0 ? await this.repo.assign(row.id, row.wave, spec, n, now) : [])];
    if (members.length === 0) return 0;
    if (retried.length > 0) this.metrics.retries.inc(retried.length);
    const expiresAt = new Date(now.getTime() + this.config.commands.defaultTtlMs);
    // The release's own minimum battery is a floor the campaign's guard cannot lower.
    const guards = { ...row.guards, minBatteryPct: Math.max(row.guards.minBatteryPct, releaseMinBattery) };
    const failed: string[] = [];
    let created = 0;
    for (const m of members) {
      try {
        const install = await this.ota.installParams({ releaseId: row.releaseId, sn: m.sn, commandId: m.commandId, now });
        const payload = otaInstallParamsSchema.parse({ ...install.params, guards });
        await this.commands.insert(
          {
            id: m.commandId,
            sn: m.sn,
            type: CommandType.OtaInstall,
            payload,
            createdAt: now,
            expiresAt,
            campaignId: row.id,
            createdBy: `campaign:${row.id}`,
          },
          this.notify,
        );
        this.local?.created(m.commandId, m.sn);
        created++;
      } catch (err) {
        failed.push(m.sn);
        this.logger.error(`campaign ${row.id}: command for ${m.sn} not created: ${String(err)}`);
      }
    }
    this.metrics.commands.inc(created);
    await this.repo.unassign(row.id, failed);
    await this.repo.runnerUpdate(row.id, this.owner, now, 'dispatch_at = $4', [new Date(from + (created * 60_000) / row.ratePerMinute)]);
    // A cancel that landed while these were created: withdraw them too.
    const after = await this.repo.find(row.id);
    if (after?.state === 'cancelled') await this.campaigns.withdraw(row.id, 'campaign-cancel');
    return created;
  }

  private async healthGate(row: CampaignRow, spec: TargetSpec, now: Date): Promise<HealthComparison> {
    const since = row.waveStartedAt ?? row.startedAt ?? now;
    const { groups, alerts } = await this.repo.health(row.id, spec, since, now, row.health);
    const none = { n: 0, offline: 0, rebooted: 0, txApproved: 0, txDeclined: 0 };
    const updated = groups.find((g) => g.group === 'updated') ?? none;
    const control = groups.find((g) => g.group === 'control') ?? none;
    const rate = (x: number, n: number) => (n > 0 ? x / n : 0);
    const metrics: Record<string, HealthMetric> = {
      offline: healthMetric(rate(updated.offline, updated.n), rate(control.offline, control.n), row.health),
      reboots: healthMetric(rate(updated.rebooted, updated.n), rate(control.rebooted, control.n), row.health),
    };
    // Declines per transaction attempt, where terminals report transactions (at least minSample attempts).
    const attempts = (g: typeof none) => g.txApproved + g.txDeclined;
    if (attempts(updated) >= row.health.minSample) {
      metrics.declines = healthMetric(rate(updated.txDeclined, attempts(updated)), rate(control.txDeclined, attempts(control)), row.health);
    }
    for (const rule of row.health.alertRules) {
      const u = alerts.find((a) => a.group === 'updated' && a.rule === rule)?.n ?? 0;
      const c = alerts.find((a) => a.group === 'control' && a.rule === rule)?.n ?? 0;
      metrics[`alert:${rule}`] = healthMetric(rate(u, updated.n), rate(c, control.n), row.health);
    }
    // A comparison needs both groups: after the last wave nobody is left as control (rates of 0 would
    // make any offline terminal or decline look worse), and there is no next wave to hold back.
    const judged = updated.n >= row.health.minSample && control.n >= row.health.minSample;
    const verdict = !judged ? 'insufficient_sample' : Object.values(metrics).some((m) => m.bad) ? 'fail' : 'pass';
    return { wave: row.wave, at: now.toISOString(), updated: updated.n, control: control.n, judged, metrics, verdict };
  }
}
