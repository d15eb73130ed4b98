import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#config';
import { HEARTBEAT_ROLLUPS, lateWindowMs, TimeseriesRepository, type HeartbeatRollup } from '#db';
import { MetricsService } from '#observability';
import { FLEET_SUMMARY, RollupRefreshRepository } from './rollup-refresh.repository.js';

/** Longer than any refresh should take; a worker that dies holding a lease blocks it this long at most. */
const ROLLUP_LEASE_TTL_MS = 15 * 60_000;
const SUMMARY_LEASE_TTL_MS = 2 * 60_000;
/** Rebuilds keep at least this many times their own duration apart, so a slow one (a large fleet) takes at most ~1/10 of the time. */
const SUMMARY_MAX_DUTY_FACTOR = 10;

export type RollupRefreshOutcome = 'refreshed' | 'up_to_date' | 'busy';

/** Start of the bucket holding `t` (bucket widths divide the day, origin 2000-01-01T00:00Z is on an hour). */
function floorTo(t: number, widthMs: number): number {
  return Math.floor(t / widthMs) * widthMs;
}

/**
 * The window a refresh materializes (epoch ms, bucket-aligned, [from, to)), or null when no bucket
 * has completed since the last refresh. `to` is the start of the bucket under way; `from` goes back
 * the late window from the last refresh's end, or, on a first refresh, as far as raw retention.
 */
export function refreshWindow(
  nowMs: number,
  refreshedThroughMs: number | null,
  widthMs: number,
  lateMs: number,
  retentionMs: number,
): { from: number; to: number } | null {
  const to = floorTo(nowMs, widthMs);
  if (refreshedThroughMs !== null && to <= refreshedThroughMs) return null;
  const from = refreshedThroughMs === null ? floorTo(to - retentionMs, widthMs) : floorTo(Math.min(refreshedThroughMs, to) - lateMs, widthMs);
  return { from, to };
}

/**
 * How long after the last fleet summary rebuild the next may start (whole ms: the lease query binds
 * it as an integer): at least half the interval and SUMMARY_MAX_DUTY_FACTOR times the last rebuild's
 * duration, but never so long that the snapshot ages past half of what the API accepts.
 */
export function summaryMinGapMs(intervalMs: number, maxAgeMs: number, lastRebuildMs: number): number {
  const half = Math.floor(intervalMs / 2);
  return Math.ceil(Math.min(Math.max(half, SUMMARY_MAX_DUTY_FACTOR * lastRebuildMs), Math.max(half, maxAgeMs / 2)));
}

/**
 * Keeps the rollups of migration 0012 current from the worker (and the single process):
 * - heartbeat rollups: when a bucket has completed since the last refresh, re-materializes the
 *   complete buckets from (last end - late window) to the last complete bucket. On a TimescaleDB
 *   server its continuous aggregate policies do this instead and only the summary is rebuilt here.
 * - fleet_summary: rebuilt every FLEET_SUMMARY_REFRESH_INTERVAL_MS.
 * Each relation has a lease (rollup_refresh), so with several workers one refreshes it at a time.
 */
@Injectable()
export class RollupRefreshService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('Rollups');
  private readonly holder = randomUUID();
  private readonly timers: NodeJS.Timeout[] = [];
  private rollupRun: Promise<void> | null = null;
  private summaryRun: Promise<Date | null> | null = null;
  private stopping = false;
  private lastSummaryMs = 0;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(TimeseriesRepository) private readonly timeseries: TimeseriesRepository,
    @Inject(RollupRefreshRepository) private readonly repo: RollupRefreshRepository,
    @Inject(MetricsService) private readonly metrics: MetricsService,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.timeseries.applyRollupPolicies(this.config.rollups);
    // The first summary is built at start so the API has a snapshot within seconds.
    void this.refreshSummary();
    this.timers.push(setInterval(() => void this.refreshSummary(), this.config.rollups.summaryRefreshIntervalMs));
    this.timers.push(setInterval(() => void this.refreshRollups(), this.config.rollups.refreshIntervalMs));
    for (const t of this.timers) t.unref();
  }

  /**
   * Rebuilds the summary unless another worker holds its lease or rebuilt it within half an
   * interval (or within 10 times this worker's last rebuild duration, whichever is longer, but
   * at most half of FLEET_SUMMARY_MAX_AGE_MS).
   * Returns the snapshot time.
   */
  refreshSummary(): Promise<Date | null> {
    if (this.summaryRun) return this.summaryRun;
    this.summaryRun = (async () => {
      try {
        const { summaryRefreshIntervalMs: interval, summaryMaxAgeMs: maxAge } = this.config.rollups;
        const minGapMs = summaryMinGapMs(interval, maxAge, this.lastSummaryMs);
        const lease = await this.repo.acquire(FLEET_SUMMARY, this.holder, SUMMARY_LEASE_TTL_MS, minGapMs);
        if (!lease) return null;
        const end = this.metrics.rollupRefreshSeconds.startTimer({ relation: FLEET_SUMMARY });
        try {
          const asOf = await this.repo.rebuildFleetSummary(this.holder);
          this.lastSummaryMs = end() * 1000;
          return asOf;
        } catch (err) {
          await this.repo.release(FLEET_SUMMARY, this.holder).catch(() => undefined);
          throw err;
        }
      } catch (err) {
        this.logger.warn(`fleet summary refresh failed: ${err instanceof Error ? err.message : String(err)}`);
        return null;
      } finally {
        this.summaryRun = null;
      }
    })();
    return this.summaryRun;
  }

  /** One pass over the heartbeat rollups (all of them unless the database refreshes them itself). */
  refreshRollups(): Promise<void> {
    if (this.rollupRun) return this.rollupRun;
    this.rollupRun = (async () => {
      try {
        if (this.timeseries.rollupsRefreshedByDatabase) return;
        for (const rollup of HEARTBEAT_ROLLUPS) {
          if (this.stopping) return;
          await this.refreshRollup(rollup);
        }
      } catch (err) {
        this.logger.warn(`rollup refresh failed: ${err instanceof Error ? err.message : String(err)}`);
      } finally {
        this.rollupRun = null;
      }
    })();
    return this.rollupRun;
  }

  /** Refreshes one rollup under its lease if a bucket has completed since its last refresh. */
  async refreshRollup(rollup: HeartbeatRollup): Promise<RollupRefreshOutcome> {
    const lease = await this.repo.acquire(rollup.name, this.holder, ROLLUP_LEASE_TTL_MS, 0);
    if (!lease) return 'busy';
    try {
      const window = refreshWindow(
        lease.dbNow.getTime(),
        lease.refreshedThrough?.getTime() ?? null,
        rollup.widthMs,
        lateWindowMs(this.config.rollups.lateWindow),
        // First refresh: what raw retention keeps (older rollup rows, whose raw rows are gone, stay as they are).
        Number.parseInt(this.config.telemetry.retention, 10) * 86_400_000,
      );
      if (!window) {
        await this.repo.release(rollup.name, this.holder);
        return 'up_to_date';
      }
      const end = this.metrics.rollupRefreshSeconds.startTimer({ relation: rollup.name });
      await this.timeseries.refreshRollup(rollup, new Date(window.from), new Date(window.to));
      end();
      if (!(await this.repo.complete(rollup.name, this.holder, new Date(window.to))))
        this.logger.warn(`lost the ${rollup.name} refresh lease while refreshing`);
      return 'refreshed';
    } catch (err) {
      await this.repo.release(rollup.name, this.holder).catch(() => undefined);
      throw err;
    }
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    for (const t of this.timers) clearInterval(t);
    await Promise.all([this.rollupRun, this.summaryRun]);
  }
}
