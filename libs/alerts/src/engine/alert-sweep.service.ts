import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setImmediate as yieldToOthers } from 'node:timers/promises';
import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#config';
import type { AlertThresholds } from '../rules/rule.types.js';
import { AlertEngineRepository, type WrittenEvent } from './alert-engine.repository.js';
import { AlertLedger, MemoryLedger, type AlertSubject } from './alert-ledger.js';
import { AlertMetrics } from './alert-metrics.js';
import { AlertRules } from './alert-rules.port.js';
import { CLOCK, type Clock } from './clock.js';
import { EvaluationContext } from './evaluation-context.js';
import { sweepCandidates, type SweepCandidates } from './sweep-candidates.js';

export interface SweepResult {
  terminals: number;
  pages: number;
  written: WrittenEvent[];
  /** false: stopped early (shutdown or lease lost); the next holder resumes. */
  finished: boolean;
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
  sweep(minGapMs = 0, options: { everyTerminal?: boolean } = {}): Promise<SweepResult | null> {
    this.running ??= this.sweepAll(minGapMs, options.everyTerminal ?? false).finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async sweepAll(minGapMs: number, everyTerminal: boolean): Promise<SweepResult | null> {
    const lease = await this.repo.acquireLease(this.holder, LEASE_TTL_MS, minGapMs);
    if (!lease) return null;
    const started = performance.now();
    const result: SweepResult = { terminals: 0, pages: 0, written: [], finished: false };
    let after = lease.after;
    try {
      const possible = everyTerminal ? null : await this.possibleThresholds();
      while (!this.stopping) {
        const page = await this.sweepPage(after, possible);
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
    const seconds = (performance.now() - started) / 1000;
    this.metrics.batchSeconds.observe({ job: 'sweep' }, seconds);
    const transitions = result.written.reduce((n, w) => n + w.n, 0);
    const line = `alert sweep: ${result.terminals} terminals evaluated in ${result.pages} pages, ${transitions} transitions, ${seconds.toFixed(2)} s`;
    if (transitions > 0) this.logger.log(line);
    else this.logger.debug(line);
    return result;
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
  ): Promise<{ terminals: number; last: string; finished: boolean; written: WrittenEvent[] }> {
    const started = performance.now();
    const pageSize = this.config.alerts.sweepPageSize;
    const page = await this.repo.dataSource.transaction(async (em) => {
      const now = this.clock.now();
      const candidates: SweepCandidates | null = possible ? sweepCandidates(possible, now) : null;
      const terminals = await this.repo.terminalPage(em, after, pageSize, candidates);
      if (terminals.length === 0) {
        if (!(await this.repo.advanceLease(em, this.holder, LEASE_TTL_MS, after, true))) throw new LeaseLost();
        return { terminals: 0, last: after, finished: true, written: [] };
      }
      const last = terminals[terminals.length - 1].facts.sn;
      const scope = { after, upTo: last };
      const memory = new MemoryLedger(await this.repo.memory(em, scope));
      const alerts = new AlertLedger(await this.repo.openAlerts(em, scope));
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
      const finished = terminals.length < pageSize;
      if (!(await this.repo.advanceLease(em, this.holder, LEASE_TTL_MS, last, finished))) throw new LeaseLost();
      return { terminals: terminals.length, last, finished, written };
    });
    this.metrics.batchSeconds.observe({ job: 'sweep_page' }, (performance.now() - started) / 1000);
    this.metrics.evaluations.inc({ kind: 'scheduled' }, page.terminals);
    this.metrics.record(page.written);
    return page;
  }
}
