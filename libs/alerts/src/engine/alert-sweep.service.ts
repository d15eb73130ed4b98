import { createHash, randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setImmediate as yieldToOthers } from 'node:timers/promises';
import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#config';
import type { AlertThresholds } from '../rules/rule.types.js';
import { AlertEngineRepository, type SweepLease, type WrittenEvent } from './alert-engine.repository.js';
import { AlertLedger, MemoryLedger, type AlertSubject } from './alert-ledger.js';
import { AlertMetrics } from './alert-metrics.js';
import { AlertRules } from './alert-rules.port.js';
import { CLOCK, type Clock } from './clock.js';
import { EvaluationContext } from './evaluation-context.js';
import { incrementalWindow, sweepCandidates, type IncrementalWindow, type SweepCandidates } from './sweep-candidates.js';

export interface SweepResult {
  terminals: number;
  pages: number;
  written: WrittenEvent[];
  /** false: stopped early (shutdown or lease lost); the next holder resumes. */
  finished: boolean;
  /** Full (every candidate) or incremental (what can have changed since the previous sweep). */
  mode: 'every' | 'full' | 'incremental';
}

/** How long a sweeper may go without finishing a page before another worker may take over. */
const LEASE_TTL_MS = 60_000;

class LeaseLost extends Error {}

/**
 * The scheduled sweep: time-driven rules (offline, silent, plan expiry ...) over the terminals with
 * state, in keyset pages of ALERTS_SWEEP_PAGE_SIZE, one short transaction per page, through the same
 * ledger and write path as heartbeat evaluation. Pages hold only the terminals a scheduled rule could
 * act on (sweep-candidates.ts: a filter in the page query), so a healthy fleet costs an index walk,
 * not a rule evaluation per terminal.
 *
 * Most sweeps are incremental: the scheduled rules change outcome only at known instants (a threshold
 * crossing, a local midnight) or with presence/heartbeat events, so a sweep evaluates only terminals
 * whose outcome can have changed since the previous sweep's clock (IncrementalWindow), listed in one
 * query. A full sweep (every candidate) runs as the safety net: first in each process, after a
 * settings change, if the clock went backwards, and every ALERTS_SWEEP_FULL_EVERY_MS. Confirming an
 * open alert at the severity it has writes nothing (AlertLedger quietConfirmations): for offline and
 * silent, last_seen_at and occurrences are those of the raise or the last severity change.
 *
 * At most one sweeper at a time across all workers: a lease row (alert_sweep_lease) taken with a
 * conditional UPDATE (free or expired, and a sweep due). Chosen over an advisory lock per page because
 * a per-page lock would still let every worker sweep the whole fleet once per interval (each page
 * evaluated N times, occurrences counted N times); the lease gives one sweep per interval in total,
 * and, renewed and advanced in each page's own transaction, lets a crashed sweep resume where it
 * stopped once the lease expires. Pages are short so the embedded database's single connection is
 * never held for long; between pages other work (ingest, the evaluator) gets it.
 */
@Injectable()
export class AlertSweepService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('AlertSweep');
  private readonly holder = randomUUID();
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<SweepResult | null> | null = null;
  private stopping = false;
  /** This process finished a sweep: until then its sweeps are full (a safety net after a deploy or restart). */
  private sweptOnce = false;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(AlertEngineRepository) private readonly repo: AlertEngineRepository,
    @Inject(AlertRules) private readonly rules: AlertRules,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(AlertMetrics) private readonly metrics: AlertMetrics,
  ) {}

  onApplicationBootstrap(): void {
    if (!this.config.alerts.enabled) return;
    const interval = this.config.alerts.sweepIntervalMs;
    this.timer = setInterval(() => {
      // With several workers each timer fires every interval; the lease's due check keeps it to about one sweep per interval.
      this.sweep(Math.floor(interval * 0.9)).catch((err: unknown) => {
        this.metrics.errors.inc({ job: 'sweep' });
        this.logger.warn(`alert sweep failed (resumed next time): ${err instanceof Error ? err.message : String(err)}`);
      });
    }, interval);
    this.timer.unref();
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    // The running page commits; the sweep stops after it and hands the rest to the next holder.
    await this.running?.catch(() => undefined);
  }

  /**
   * Sweeps now unless another sweeper holds the lease (or, with `minGapMs`, the last sweep finished
   * less than that long ago): null when it did not sweep. Concurrent calls share the running sweep.
   */
  sweep(minGapMs = 0, options: { everyTerminal?: boolean; full?: boolean } = {}): Promise<SweepResult | null> {
    this.running ??= this.sweepAll(minGapMs, options.everyTerminal ?? false, options.full ?? false).finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async sweepAll(minGapMs: number, everyTerminal: boolean, forceFull: boolean): Promise<SweepResult | null> {
    const lease = await this.repo.acquireLease(this.holder, LEASE_TTL_MS, minGapMs);
    if (!lease) return null;
    const started = performance.now();
    const result: SweepResult = { terminals: 0, pages: 0, written: [], finished: false, mode: 'full' };
    let after = lease.after;
    try {
      const bounded = await this.possibleThresholds();
      const possible = everyTerminal ? null : bounded;
      const thresholdsKey = bounded ? createHash('sha256').update(JSON.stringify(bounded)).digest('base64url') : null;
      let window: IncrementalWindow | null = null;
      if (after !== '' && lease.sweepTo) {
        // Resuming another holder's sweep: the same window, so the pages it did and the ones left agree.
        if (lease.sweepFrom && bounded) window = incrementalWindow(bounded, lease.sweepFrom, lease.sweepTo);
      } else {
        const to = this.clock.now();
        const from = this.incrementalFrom(lease, to, thresholdsKey, forceFull || everyTerminal || possible === null);
        if (from && bounded) window = incrementalWindow(bounded, from, to);
        await this.repo.startSweep(this.holder, window ? from : null, to);
      }
      result.mode = everyTerminal ? 'every' : window ? 'incremental' : 'full';
      // An incremental sweep's candidates are few and scattered: listed once (one pass over state and
      // the open offline/silent alerts), then evaluated in pages of that list. Keyset pages of a
      // filter this sparse would walk the rest of the fleet again for every page.
      const list = window ? await this.repo.incrementalCandidates('', window, sweepCandidates(bounded ?? [], this.clock.now())) : null;
      while (!this.stopping) {
        const page = await this.sweepPage(after, possible, list, thresholdsKey);
        result.pages++;
        result.terminals += page.terminals;
        result.written.push(...page.written);
        if (page.finished) {
          result.finished = true;
          break;
        }
        after = page.last;
        // Let queued work (ingest batches, the evaluator) use the connection between pages.
        await yieldToOthers();
      }
    } catch (err) {
      if (err instanceof LeaseLost) {
        this.logger.warn('alert sweep lease lost (a page took longer than the lease); another worker resumes');
        return result;
      }
      throw err;
    } finally {
      if (!result.finished) await this.repo.releaseLease(this.holder).catch(() => undefined);
    }
    this.sweptOnce = true;
    const seconds = (performance.now() - started) / 1000;
    this.metrics.batchSeconds.observe({ job: 'sweep' }, seconds);
    const transitions = result.written.reduce((n, w) => n + w.n, 0);
    const line = `alert sweep (${result.mode}): ${result.terminals} terminals evaluated in ${result.pages} pages, ${transitions} transitions, ${seconds.toFixed(2)} s`;
    if (transitions > 0) this.logger.log(line);
    else this.logger.debug(line);
    return result;
  }

  /**
   * Where an incremental sweep's window starts (the previous sweep's clock), or null for a full sweep:
   * the first in this process, after a settings change, when no sweep finished yet or the clock went
   * backwards, and once ALERTS_SWEEP_FULL_EVERY_MS has passed since the last full one.
   */
  private incrementalFrom(lease: SweepLease, to: Date, thresholdsKey: string | null, forceFull: boolean): Date | null {
    const fullEvery = this.config.alerts.sweepFullEveryMs;
    const { sweptThrough, fullThrough } = lease;
    if (forceFull || !this.sweptOnce || fullEvery === 0 || thresholdsKey === null || thresholdsKey !== lease.thresholdsKey) return null;
    if (!sweptThrough || !fullThrough || sweptThrough.getTime() > to.getTime() || to.getTime() - fullThrough.getTime() >= fullEvery) return null;
    return sweptThrough;
  }

  /** The defaults and every stored override merged alone over them: what the candidate bounds span (null: evaluate all). */
  private async possibleThresholds(): Promise<AlertThresholds[] | null> {
    const possible = [this.rules.thresholds([]).thresholds];
    for (const settings of await this.repo.allSettings()) {
      const merged = this.rules.thresholds([settings]);
      // An override that only validates merged with its ancestors' cannot be bounded alone: sweep everyone.
      if (merged.skipped > 0) return null;
      possible.push(merged.thresholds);
    }
    return possible;
  }

  private async sweepPage(
    after: string,
    possible: readonly AlertThresholds[] | null,
    list: readonly string[] | null,
    thresholdsKey: string | null,
  ): Promise<{ terminals: number; last: string; finished: boolean; written: WrittenEvent[] }> {
    const started = performance.now();
    const pageSize = this.config.alerts.sweepPageSize;
    const page = await this.repo.dataSource.transaction(async (em) => {
      const now = this.clock.now();
      const candidates: SweepCandidates | null = possible ? sweepCandidates(possible, now) : null;
      const slice = list ? nextSlice(list, after, pageSize) : null;
      const terminals = slice ? await this.repo.sweepTerminalsBySn(em, slice) : await this.repo.terminalPage(em, after, pageSize, candidates);
      if ((slice ?? terminals).length === 0) {
        if (!(await this.repo.advanceLease(em, this.holder, LEASE_TTL_MS, after, true, thresholdsKey))) throw new LeaseLost();
        return { terminals: 0, last: after, finished: true, written: [] };
      }
      const last = slice ? slice[slice.length - 1] : terminals[terminals.length - 1].facts.sn;
      const scope = slice ? { sns: slice } : { after, upTo: last };
      const memory = new MemoryLedger(await this.repo.memory(em, scope));
      const alerts = new AlertLedger(await this.repo.openAlerts(em, scope), true);
      const context = await EvaluationContext.load(em, this.repo, this.rules, terminals, this.logger);
      for (const terminal of terminals) {
        const { sn } = terminal.facts;
        try {
          const outcomes = this.rules.evaluateScheduled({
            terminal: terminal.facts,
            thresholds: context.thresholds(terminal.providerPath),
            policies: context.policies(terminal),
            now,
            memory: memory.memoryFor(sn),
            open: alerts.openFor(sn),
          });
          if (outcomes.length === 0) continue;
          const subject: AlertSubject = {
            sn,
            providerId: terminal.facts.providerId,
            tid: terminal.facts.tid,
            mid: terminal.facts.mid,
            model: terminal.facts.model,
          };
          for (const outcome of outcomes) {
            alerts.apply(subject, outcome, now);
            memory.apply(sn, outcome);
          }
        } catch (err) {
          this.metrics.errors.inc({ job: 'rule' });
          this.logger.error(`scheduled alert rules failed on ${sn}: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
      const written = await this.repo.writeAlerts(em, alerts.changes());
      await this.repo.bookkeeping(em, now, memory.changes(), [], []);
      const finished = slice ? slice.length < pageSize || slice[slice.length - 1] === list?.[list.length - 1] : terminals.length < pageSize;
      if (!(await this.repo.advanceLease(em, this.holder, LEASE_TTL_MS, last, finished, thresholdsKey))) throw new LeaseLost();
      return { terminals: terminals.length, last, finished, written };
    });
    this.metrics.batchSeconds.observe({ job: 'sweep_page' }, (performance.now() - started) / 1000);
    this.metrics.evaluations.inc({ kind: 'scheduled' }, page.terminals);
    this.metrics.record(page.written);
    return page;
  }
}

/** The first `size` SNs of a sorted list after `after`. */
function nextSlice(list: readonly string[], after: string, size: number): string[] {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid] <= after) lo = mid + 1;
    else hi = mid;
  }
  return list.slice(lo, lo + size);
}
