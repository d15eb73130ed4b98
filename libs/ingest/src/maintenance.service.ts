import { Inject, Injectable, Logger, type OnApplicationBootstrap, type BeforeApplicationShutdown } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#config';
import { TimeseriesRepository } from '#db';
import { DeadLetterRepository } from './dead-letter.repository.js';

/**
 * Periodic housekeeping: Timescale policies (applied at start, jobs run here when the database has
 * no background workers), app-side retention on plain PostgreSQL, dead-letter trimming.
 * Runs in the worker (production) or the single process (embedded).
 */
@Injectable()
export class MaintenanceService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('Maintenance');
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(TimeseriesRepository) private readonly timeseries: TimeseriesRepository,
    @Inject(DeadLetterRepository) private readonly deadLetters: DeadLetterRepository,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.timeseries.applyPolicies(this.config.telemetry);
    this.timer = setInterval(() => void this.runOnce(), this.config.telemetry.maintenanceIntervalMs);
    this.timer.unref();
  }

  async runOnce(): Promise<void> {
    if (this.running) return this.running;
    this.running = (async () => {
      try {
        const report = await this.timeseries.runMaintenance(this.config.telemetry);
        const trimmed = await this.deadLetters.trim(this.config.deadLetter.maxRows);
        if (report.jobsRun || report.rowsDeleted || trimmed) {
          this.logger.log(`maintenance: ${report.jobsRun} jobs run, ${report.rowsDeleted} expired rows deleted, ${trimmed} dead letters trimmed`);
        }
      } catch (err) {
        this.logger.warn(`maintenance failed: ${err instanceof Error ? err.message : String(err)}`);
      } finally {
        this.running = null;
      }
    })();
    return this.running;
  }

  async beforeApplicationShutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }
}
