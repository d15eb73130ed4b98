import { Inject, Injectable, Logger, Optional, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { Counter } from 'prom-client';
import { APP_CONFIG, type AppConfig } from '#config';
import { MetricsService } from '#observability';
import { COMMAND_CLOCK, type CommandClock } from './command-clock.js';
import { COMMAND_DISPATCH, type CommandDispatchPort } from './command-dispatch.port.js';
import { CommandsRepository } from './commands.repository.js';
import { resolveNotify } from './commands.service.js';
import { HeartbeatDefaultsRepository } from './heartbeat-defaults.repository.js';

/** Pages per pass at most: a pass is bounded; a fleet larger than pages × batch is covered over several passes. */
const MAX_PAGES_PER_PASS = 50;

export interface ReconcileReport {
  scanned: number;
  queued: number;
  /** The pass reached the end of the fleet (the next one starts again from the first SN). */
  wrapped: boolean;
}

/**
 * Enforces the default heartbeat intervals (worker): every HEARTBEAT_DEFAULTS_RECONCILE_MS it walks
 * the fleet in SN pages (one statement per page of HEARTBEAT_DEFAULTS_BATCH terminals, resuming where
 * the previous pass stopped) and queues set_heartbeat_interval through the ledger for terminals
 * whose last acknowledged interval differs from their effective default. Nothing is done per
 * heartbeat; with no default stored the pass is a single cheap query.
 */
@Injectable()
export class HeartbeatIntervalReconciler implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('HeartbeatDefaults');
  private readonly queuedTotal: Counter;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> | null = null;
  private cursor = '';
  private notifyGateways = false;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(HeartbeatDefaultsRepository) private readonly repo: HeartbeatDefaultsRepository,
    @Inject(CommandsRepository) private readonly commands: CommandsRepository,
    @Inject(COMMAND_CLOCK) private readonly clock: CommandClock,
    @Inject(MetricsService) metrics: MetricsService,
    @Optional() @Inject(COMMAND_DISPATCH) private readonly local?: CommandDispatchPort,
  ) {
    this.queuedTotal = new Counter({
      name: 'fleet_heartbeat_interval_commands_total',
      help: 'set_heartbeat_interval commands queued to bring terminals to their default interval',
      registers: [metrics.registry],
    });
  }

  async onApplicationBootstrap(): Promise<void> {
    this.notifyGateways = await resolveNotify(this.config, this.commands);
    const every = this.config.heartbeatDefaults.reconcileMs;
    if (every > 0) {
      this.timer = setInterval(() => {
        if (this.running) return;
        this.running = this.reconcile()
          .catch((err: unknown) => this.logger.error(`heartbeat interval reconcile failed: ${String(err)}`))
          .finally(() => (this.running = null));
      }, every);
      this.timer.unref();
    }
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  /** One bounded pass (tests call it directly). */
  async reconcile(): Promise<ReconcileReport> {
    const report: ReconcileReport = { scanned: 0, queued: 0, wrapped: false };
    if (await this.repo.isEmpty()) return report;
    const { batch, retryAfterMs } = this.config.heartbeatDefaults;
    for (let page = 0; page < MAX_PAGES_PER_PASS; page++) {
      const now = this.clock.now();
      const expiresAt = new Date(now.getTime() + this.config.commands.defaultTtlMs);
      const result = await this.repo.reconcilePage(this.cursor, batch, now, expiresAt, new Date(now.getTime() - retryAfterMs));
      report.scanned += result.scanned;
      report.queued += result.queued.length;
      if (result.queued.length > 0) {
        this.queuedTotal.inc(result.queued.length);
        if (this.notifyGateways) await this.repo.notify(result.queued);
        for (const c of result.queued) this.local?.created(c.id, c.sn);
      }
      if (result.last === null || result.scanned < batch) {
        this.cursor = '';
        report.wrapped = true;
        break;
      }
      this.cursor = result.last;
    }
    if (report.queued > 0) this.logger.log(`heartbeat defaults: ${report.queued} set_heartbeat_interval commands queued (${report.scanned} terminals checked)`);
    return report;
  }
}
