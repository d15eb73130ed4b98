import { performance } from 'node:perf_hooks';
import { Inject, Injectable, Logger, Optional, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '#config';
import { OutboxSignal } from '../outbox-signal.js';
import type { HeartbeatSample } from '../rules/rule.types.js';
import { AlertEngineRepository, type WrittenEvent } from './alert-engine.repository.js';
import { AlertLedger, MemoryLedger, type AlertSubject } from './alert-ledger.js';
import { AlertMetrics } from './alert-metrics.js';
import { AlertRules } from './alert-rules.port.js';
import { CLOCK, type Clock } from './clock.js';
import { EvaluationContext } from './evaluation-context.js';

export interface EvaluationBatchResult {
  /** Terminals taken from the queue. */
  claimed: number;
  /** Heartbeats evaluated. */
  evaluations: number;
  /** Terminals put back because more heartbeats remain than one batch evaluates. */
  requeued: number;
  written: WrittenEvent[];
}

const QUEUE_DEPTH_EVERY_MS = 5_000;

/**
 * Heartbeat-driven evaluation. Ingest queues every terminal with new heartbeats (alert_eval_queue, in
 * the heartbeat batch's own statement); this service claims queued terminals in batches and, in one
 * transaction per batch: loads their facts, thresholds, policies, rule memory, unresolved alerts and
 * the heartbeats after their cursor (a few batched queries), runs the heartbeat rules on each
 * heartbeat in terminal-time order, and writes alert transitions, outbox events, memory and cursors
 * in a few batched statements. A failure rolls the batch back: the terminals are queued again.
 */
@Injectable()
export class AlertEvaluatorService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('AlertEvaluator');
  private loop: Promise<void> | null = null;
  private stopping = false;
  private wake: (() => void) | null = null;
  private running: Promise<EvaluationBatchResult> | null = null;
  private lastDepthAt = 0;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(AlertEngineRepository) private readonly repo: AlertEngineRepository,
    @Inject(AlertRules) private readonly rules: AlertRules,
    @Inject(CLOCK) private readonly clock: Clock,
    @Inject(AlertMetrics) private readonly metrics: AlertMetrics,
    @Optional() @Inject(OutboxSignal) private readonly outboxSignal?: OutboxSignal,
  ) {}

  onApplicationBootstrap(): void {
    if (!this.config.alerts.enabled) return;
    this.loop = this.poll();
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    // The running batch finishes (and commits) before the database goes away.
    await this.loop;
    await this.running?.catch(() => undefined);
  }

  /** Evaluates one batch now (tests and the poll loop); concurrent calls share the running batch. */
  runOnce(): Promise<EvaluationBatchResult> {
    this.running ??= this.evaluateBatch().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  /** Evaluates until the queue is empty (tests). */
  async drain(): Promise<number> {
    let evaluations = 0;
    // A batch of the poll loop already under way may have claimed before what the caller just
    // queued committed: its "nothing claimed" would end the drain early. Wait it out, then claim anew.
    if (this.running) evaluations += (await this.running.catch(() => null))?.evaluations ?? 0;
    for (;;) {
      const r = await this.runOnce();
      evaluations += r.evaluations;
      if (r.claimed === 0) return evaluations;
    }
  }

  private async poll(): Promise<void> {
    const { evalIntervalMs, evalBatchTerminals } = this.config.alerts;
    let failures = 0;
    while (!this.stopping) {
      let full = false;
      try {
        const r = await this.runOnce();
        // A full batch means a backlog: go on without waiting.
        full = r.claimed >= evalBatchTerminals;
        failures = 0;
        if (Date.now() - this.lastDepthAt >= QUEUE_DEPTH_EVERY_MS) {
          this.lastDepthAt = Date.now();
          this.metrics.queueDepth.set(await this.repo.queueDepth());
        }
      } catch (err) {
        failures++;
        this.metrics.errors.inc({ job: 'heartbeat' });
        this.logger.warn(`alert evaluation batch failed (its terminals stay queued): ${err instanceof Error ? err.message : String(err)}`);
      }
      // After failures (database down), back off up to 10 s instead of retrying every interval.
      if (!full && !this.stopping) await this.sleep(Math.min(evalIntervalMs * 2 ** failures, Math.max(evalIntervalMs, 10_000)));
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    }).then(() => {
      this.wake = null;
    });
  }

  private async evaluateBatch(): Promise<EvaluationBatchResult> {
    const started = performance.now();
    const { evalBatchTerminals, evalMaxHeartbeats } = this.config.alerts;
    // Enqueue times of the terminals fully evaluated (not those queued again), for the latency histogram.
    let doneAt: Date[] = [];
    const result = await this.repo.dataSource.transaction(async (em): Promise<EvaluationBatchResult> => {
      const claimed = await this.repo.claim(em, evalBatchTerminals);
      if (claimed.length === 0) return { claimed: 0, evaluations: 0, requeued: 0, written: [] };
      const enqueuedAt = new Map(claimed.map((c) => [c.sn, c.enqueuedAt]));
      const now = this.clock.now();
      const terminals = await this.repo.terminalsBySn(
        em,
        claimed.map((c) => c.sn),
      );
      const scope = { sns: terminals.map((t) => t.facts.sn) };
      const memory = new MemoryLedger(await this.repo.memory(em, scope));
      // The heartbeat at the cursor only where the rules may read it as `previous`.
      const beats = await this.repo.heartbeats(
        em,
        terminals.map((t) => ({ sn: t.facts.sn, after: t.evaluatedThrough, previous: this.rules.needsPrevious(memory.memoryFor(t.facts.sn)) })),
        evalMaxHeartbeats,
      );
      const alerts = new AlertLedger(await this.repo.openAlerts(em, scope));
      const context = await EvaluationContext.load(em, this.repo, this.rules, terminals, this.logger);

      const cursors: { sn: string; at: Date }[] = [];
      const requeue: { sn: string; at: Date }[] = [];
      let evaluations = 0;
      for (const terminal of terminals) {
        const { sn } = terminal.facts;
        const after = terminal.evaluatedThrough;
        const list = beats.get(sn) ?? [];
        let previous: HeartbeatSample | null = after ? (list.find((h) => h.time.getTime() === after.getTime()) ?? null) : null;
        let fresh = after ? list.filter((h) => h.time.getTime() > after.getTime()) : list;
        if (fresh.length > evalMaxHeartbeats) {
          fresh = fresh.slice(0, evalMaxHeartbeats);
          requeue.push({ sn, at: enqueuedAt.get(sn) ?? now });
        }
        if (fresh.length === 0) continue;
        const subject: AlertSubject = {
          sn,
          providerId: terminal.facts.providerId,
          tid: terminal.facts.tid,
          mid: terminal.facts.mid,
          model: terminal.facts.model,
        };
        const thresholds = context.thresholds(terminal.providerPath);
        const policies = context.policies(terminal);
        for (const sample of fresh) {
          try {
            const outcomes = this.rules.evaluateHeartbeat({
              sample,
              previous,
              terminal: terminal.facts,
              thresholds,
              policies,
              now,
              memory: memory.memoryFor(sn),
              open: alerts.openFor(sn),
            });
            for (const outcome of outcomes) {
              alerts.apply(subject, outcome, now);
              memory.apply(sn, outcome);
            }
          } catch (err) {
            // A rule that throws on one heartbeat must not block the terminal forever: log, count, move on.
            this.metrics.errors.inc({ job: 'rule' });
            this.logger.error(`alert rules failed on ${sn} at ${sample.time.toISOString()}: ${err instanceof Error ? err.message : String(err)}`);
          }
          previous = sample;
          evaluations++;
        }
        cursors.push({ sn, at: fresh[fresh.length - 1].time });
      }
      const written = await this.repo.writeAlerts(em, alerts.changes());
      await this.repo.bookkeeping(em, now, memory.changes(), cursors, requeue);
      const again = new Set(requeue.map((r) => r.sn));
      doneAt = claimed.filter((c) => !again.has(c.sn)).map((c) => c.enqueuedAt);
      return { claimed: claimed.length, evaluations, requeued: requeue.length, written };
    });
    if (result.claimed > 0) {
      const committedAt = Date.now();
      for (const at of doneAt) this.metrics.latency.observe(Math.max(0, committedAt - at.getTime()) / 1000);
      this.metrics.batchSeconds.observe({ job: 'heartbeat' }, (performance.now() - started) / 1000);
      this.metrics.evaluations.inc({ kind: 'heartbeat' }, result.evaluations);
      this.metrics.record(result.written);
      if (result.written.length > 0) this.outboxSignal?.notify();
    }
    return result;
  }
}
