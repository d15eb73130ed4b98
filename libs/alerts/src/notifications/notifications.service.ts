import { Inject, Injectable, Logger, Optional, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { Counter, Histogram } from 'prom-client';
import { APP_CONFIG, type AppConfig } from '#config';
import { MetricsService } from '#observability';
import { OutboxSignal } from '../outbox-signal.js';
import { ChannelSender, sendDeadlineMs } from './channel-sender.js';
import { DeliveryRepository, type ClaimedDelivery, type DeliveryOutcome, type DeliveryTarget } from './delivery.repository.js';
import { renderAlert, renderQuietDigest, renderRenewalDigest, renderRollup } from './message-render.js';
import { NotificationOutboxRepository } from './notification-outbox.repository.js';
import type { AlertEventPayload, NotificationMessage, QuietDigestPayload, RenewalDigestPayload, RollupPayload, SendResult } from './notification.types.js';
import { RenewalDigestRepository } from './renewal-digest.repository.js';
import { digestDue, retryDelayMs } from './schedule.js';

/** Rows a renewal digest message (and its CSV) carries; the API serves the full list. */
export const DIGEST_MAX_ROWS = 5_000;
/** Outbox batches fanned out per tick before deliveries get their turn. */
const MAX_FANOUT_BATCHES_PER_TICK = 20;
const DIGEST_CHECK_INTERVAL_MS = 60_000;
const TRIM_INTERVAL_MS = 3_600_000;
const TRIM_BATCH = 5_000;
/** Rounds of `concurrency` parallel sends per claimed batch. */
const DELIVERY_ROUNDS_PER_BATCH = 5;

/**
 * The notifier (worker): each tick fans out the alert_events outbox, releases quiet-hours digests,
 * sends due deliveries (outside any transaction, several at a time), and once a day queues the
 * renewal digest. Safe to run in several workers: every step claims rows with SKIP LOCKED or a
 * unique key.
 */
@Injectable()
export class NotificationsService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('Notifications');
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  /** A signal arrived during a pass: run once more after it, so no new event waits for the poll. */
  private again = false;
  private unsubscribe: (() => void) | null = null;
  private stopping = false;
  private lastDigestCheck = 0;
  private lastTrim = 0;
  private readonly sent: Counter<'channel' | 'outcome'>;
  private readonly latency: Histogram<'channel'>;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(NotificationOutboxRepository) private readonly outbox: NotificationOutboxRepository,
    @Inject(DeliveryRepository) private readonly deliveries: DeliveryRepository,
    @Inject(RenewalDigestRepository) private readonly digests: RenewalDigestRepository,
    @Inject(ChannelSender) private readonly sender: ChannelSender,
    @Inject(MetricsService) metrics: MetricsService,
    @Optional() @Inject(OutboxSignal) private readonly outboxSignal?: OutboxSignal,
  ) {
    this.sent = new Counter({
      name: 'fleet_notify_attempts_total',
      help: 'Notification send attempts by channel type and outcome (delivered, retry, failed)',
      labelNames: ['channel', 'outcome'] as const,
      registers: [metrics.registry],
    });
    this.latency = new Histogram({
      name: 'fleet_notify_send_seconds',
      help: 'Notification send latency by channel type',
      labelNames: ['channel'] as const,
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [metrics.registry],
    });
  }

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.runOnce(), this.config.notifications.pollIntervalMs);
    this.timer.unref();
    this.unsubscribe = this.outboxSignal?.subscribe(() => this.onSignal()) ?? null;
  }

  private onSignal(): void {
    if (this.stopping) return;
    if (this.running) this.again = true;
    else void this.runOnce();
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    this.unsubscribe?.();
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  /** One pass of every step; concurrent calls share the pass in progress. */
  runOnce(now?: () => Date): Promise<void> {
    if (this.running) return this.running;
    this.running = (async () => {
      try {
        await this.fanOut(now);
        await this.releaseHeld();
        await this.deliverDue();
        await this.dailyDigest(now?.() ?? new Date());
        await this.trim(now?.() ?? new Date());
      } catch (err) {
        this.logger.warn(`notifications pass failed: ${err instanceof Error ? err.message : String(err)}`);
      } finally {
        this.running = null;
        if (this.again && !this.stopping) {
          this.again = false;
          void this.runOnce(now);
        }
      }
    })();
    return this.running;
  }

  async fanOut(now?: () => Date): Promise<number> {
    const n = this.config.notifications;
    let total = 0;
    for (let i = 0; i < MAX_FANOUT_BATCHES_PER_TICK && !this.stopping; i++) {
      const done = await this.outbox.fanOut({ batchSize: n.batchSize, storm: n.storm }, now?.() ?? new Date());
      total += done;
      if (done < n.batchSize) break;
    }
    return total;
  }

  async releaseHeld(): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await this.deliveries.releaseHeld(1_000);
      total += n;
      if (n < 1_000) return total;
    }
  }

  /**
   * Claims one batch of due deliveries, sends them (bounded concurrency), records the results. The
   * batch is a few rounds of `concurrency` sends, and its lease covers every round at the longest a
   * send can take, so a slow batch is never claimed again by another worker while it is in flight.
   */
  async deliverDue(): Promise<number> {
    const n = this.config.notifications;
    const limit = Math.min(n.batchSize, n.concurrency * DELIVERY_ROUNDS_PER_BATCH);
    const lease = n.leaseMs + Math.ceil(limit / n.concurrency) * sendDeadlineMs(n.httpTimeoutMs);
    const claimed = await this.deliveries.claim(limit, lease);
    if (claimed.length === 0) return 0;
    const targets = await this.deliveries.targets(claimed.map((c) => c.subscriptionId));
    const bundled = await this.deliveries.bundled(
      claimed.filter((c) => c.kind === 'rollup' || (c.kind === 'digest' && (c.payload as { type?: string }).type === 'quiet')).map((c) => c.id),
      500,
    );
    const outcomes: DeliveryOutcome[] = [];
    let next = 0;
    const workers = Array.from({ length: Math.min(n.concurrency, claimed.length) }, async () => {
      // Shutting down: sends in flight finish, the rest is handed back below.
      while (next < claimed.length && !this.stopping) {
        const delivery = claimed[next++];
        outcomes.push(await this.sendOne(delivery, targets.get(delivery.subscriptionId), bundled));
      }
    });
    await Promise.all(workers);
    await this.deliveries.record(outcomes);
    await this.deliveries.release(claimed.slice(next));
    return claimed.length;
  }

  private async sendOne(
    delivery: ClaimedDelivery,
    target: DeliveryTarget | undefined,
    bundled: Awaited<ReturnType<DeliveryRepository['bundled']>>,
  ): Promise<DeliveryOutcome> {
    const startedAt = new Date();
    let result: SendResult;
    if (!target || !target.channelEnabled) {
      result = { ok: false, statusCode: null, latencyMs: 0, error: 'channel or subscription disabled', retryable: false };
    } else {
      const message = this.render(delivery, target, bundled);
      result = message ? await this.sender.send(target.channel, message) : { ok: true, statusCode: null, latencyMs: 0, error: null, retryable: false };
      this.latency.observe({ channel: target.channel.type }, result.latencyMs / 1000);
    }
    const n = this.config.notifications;
    const state = result.ok ? 'delivered' : result.retryable && delivery.attempts < n.maxAttempts ? 'pending' : 'failed';
    this.sent.inc({ channel: target?.channel.type ?? 'none', outcome: state === 'pending' ? 'retry' : state });
    if (state === 'failed') this.logger.warn(`delivery ${delivery.id} failed after ${delivery.attempts} attempt(s): ${result.error ?? ''}`);
    return {
      id: delivery.id,
      attempts: delivery.attempts,
      state,
      nextAttemptAt: state === 'pending' ? new Date(Date.now() + retryDelayMs(delivery.attempts, n.retryBaseMs, n.retryMaxMs)) : null,
      startedAt,
      statusCode: result.statusCode,
      latencyMs: result.latencyMs,
      error: result.error,
    };
  }

  /** The message for a delivery; null when there is nothing left to say (an emptied roll-up). */
  private render(d: ClaimedDelivery, target: DeliveryTarget, bundled: Awaited<ReturnType<DeliveryRepository['bundled']>>): NotificationMessage | null {
    const locale = target.locale;
    if (d.kind === 'alert') return renderAlert(d.payload as unknown as AlertEventPayload, locale, d.idempotencyKey);
    if (d.kind === 'rollup') {
      const b = bundled.get(d.id);
      if (!b || b.count === 0) return null;
      const samples = [...new Set(b.items.map((i) => i.sn).filter((sn): sn is string => sn !== null))].slice(0, 10);
      return renderRollup(d.payload as unknown as RollupPayload, b.count, samples, locale, d.idempotencyKey);
    }
    const payload = d.payload as unknown as QuietDigestPayload | RenewalDigestPayload;
    if (payload.type === 'renewal') return renderRenewalDigest(payload, locale, d.idempotencyKey);
    const b = bundled.get(d.id);
    if (!b || b.count === 0) return null;
    return renderQuietDigest(b.items, b.count, payload.windowEnd, locale, d.idempotencyKey);
  }

  /** Hourly: the delivery log keeps NOTIFY_RETENTION_DAYS of finished deliveries. */
  async trim(now: Date, force = false): Promise<number> {
    if (!force && now.getTime() - this.lastTrim < TRIM_INTERVAL_MS) return 0;
    this.lastTrim = now.getTime();
    let total = 0;
    for (let i = 0; i < 20 && !this.stopping; i++) {
      const n = await this.deliveries.trim(this.config.notifications.retentionDays, TRIM_BATCH);
      total += n;
      if (n < TRIM_BATCH) break;
    }
    if (total > 0) this.logger.log(`delivery log: ${total} finished deliveries older than ${this.config.notifications.retentionDays} days deleted`);
    return total;
  }

  /** Once a day, at the configured local time: one renewal digest per provider that wants it. */
  async dailyDigest(now: Date, force = false): Promise<number> {
    if (!force && now.getTime() - this.lastDigestCheck < DIGEST_CHECK_INTERVAL_MS) return 0;
    this.lastDigestCheck = now.getTime();
    const d = this.config.notifications.digest;
    const { due, day } = digestDue(now, d.localTime, d.timeZone);
    if (!due) return 0;
    let queued = 0;
    for (const provider of await this.digests.digestProviders()) {
      const total = await this.digests.count(provider.path, day, d.days);
      const rows = total === 0 ? [] : await this.digests.rows(provider.path, day, d.days, DIGEST_MAX_ROWS);
      if (await this.digests.runOnce(provider.id, { type: 'renewal', providerId: provider.id, day, total, rows })) queued++;
    }
    return queued;
  }
}
