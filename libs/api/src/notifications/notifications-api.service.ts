import { randomBytes, randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { z } from 'zod';
import {
  ChannelSender,
  checkTargetUrl,
  renderTest,
  RenewalDigestRepository,
  TargetRefusedError,
  localClock,
  type AlertLocale,
  type RenewalDigestRow,
} from '#alerts';
import { APP_CONFIG, type AppConfig } from '#config';
import { DomainException } from '#contracts';
import { AuditService } from '../audit/audit.service.js';
import type { RequestContext, Scope } from '../auth/principal.js';
import { ApiErrorCode, notFound } from '../common/api-error.js';
import { decodeCursor, encodeCursor, isRealDate, type Page } from '../common/pagination.js';
import { ProviderRepository } from '../providers/provider.repository.js';
import { ProviderService } from '../providers/provider.service.js';
import type {
  attemptView,
  channelListQuery,
  channelView,
  createChannelBody,
  createdChannelView,
  createSubscriptionBody,
  deliveryListQuery,
  deliveryView,
  subscriptionListQuery,
  subscriptionView,
  testResultView,
  updateChannelBody,
  updateSubscriptionBody,
} from './notifications.dto.js';
import { NotificationsRepository, type ChannelRow, type DeliveryRow, type SubscriptionRow, type TimeKey } from './notifications.repository.js';

export type ChannelView = z.output<typeof channelView>;
export type SubscriptionView = z.output<typeof subscriptionView>;
export type DeliveryView = z.output<typeof deliveryView>;
export type AttemptView = z.output<typeof attemptView>;

/** Rows the renewal digest endpoint returns at most (CSV and JSON). */
export const RENEWAL_DIGEST_MAX_ROWS = 100_000;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const iso = (d: Date | string) => new Date(d).toISOString();

/** Scheme, host and path: robot URLs carry their token in the query, which is never shown. */
export function urlHint(url: string | null): string | null {
  if (url === null) return null;
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return null;
  }
}

export function toChannelView(c: ChannelRow): ChannelView {
  return {
    id: c.id,
    providerId: c.provider_id,
    type: c.type,
    name: c.name,
    urlHint: urlHint(c.url),
    hasSecret: c.secret !== null,
    emailTo: c.email_to,
    enabled: c.enabled,
    createdAt: iso(c.created_at),
    updatedAt: iso(c.updated_at),
  };
}

export function toSubscriptionView(s: SubscriptionRow): SubscriptionView {
  return {
    id: s.id,
    providerId: s.provider_id,
    channelId: s.channel_id,
    rules: s.rules,
    minSeverity: s.min_severity,
    locale: s.locale,
    quietHours: s.quiet_start !== null && s.quiet_end !== null ? { start: s.quiet_start, end: s.quiet_end } : null,
    timeZone: s.time_zone,
    dailyDigest: s.daily_digest,
    enabled: s.enabled,
    createdAt: iso(s.created_at),
    updatedAt: iso(s.updated_at),
  };
}

function toDeliveryView(d: DeliveryRow): DeliveryView {
  return {
    id: d.id,
    providerId: d.provider_id,
    subscriptionId: d.subscription_id,
    channelId: d.channel_id,
    kind: d.kind,
    state: d.state,
    bundledInto: d.bundled_into,
    eventId: d.event_id,
    sn: d.sn,
    rule: d.rule,
    severity: d.severity,
    idempotencyKey: d.idempotency_key,
    attempts: d.attempts,
    nextAttemptAt: iso(d.next_attempt_at),
    lastStatusCode: d.last_status_code,
    lastLatencyMs: d.last_latency_ms,
    lastError: d.last_error,
    createdAt: iso(d.created_at),
    updatedAt: iso(d.updated_at),
    deliveredAt: d.delivered_at ? iso(d.delivered_at) : null,
  };
}

const timeCursor = (raw: string | undefined, sort: string): TimeKey | null => {
  if (raw === undefined) return null;
  const c = decodeCursor(raw, sort, (x) => typeof x.v === 'string' && isRealDate(x.v) && UUID.test(x.k));
  return { at: c.v as string, id: c.k };
};
const nextTimeCursor = <T extends { created_key: string; id: string }>(rows: T[], limit: number, sort: string): string | null => {
  if (rows.length < limit) return null;
  const last = rows[rows.length - 1];
  // Microseconds matter for the keyset: the cursor holds the database's own value.
  return encodeCursor({ v: last.created_key, k: last.id }, sort);
};

/**
 * Channels, subscriptions, the delivery log and the renewal digest for the API. Provider keys act on
 * their own subtree only (404 outside); secrets are write-only; every change is audited.
 */
@Injectable()
export class NotificationsApiService {
  constructor(
    @Inject(NotificationsRepository) private readonly repo: NotificationsRepository,
    @Inject(ProviderService) private readonly providers: ProviderService,
    @Inject(ProviderRepository) private readonly providerRows: ProviderRepository,
    @Inject(AuditService) private readonly audit: AuditService,
    @Inject(ChannelSender) private readonly sender: ChannelSender,
    @Inject(RenewalDigestRepository) private readonly digests: RenewalDigestRepository,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  private async checkUrl(url: string): Promise<void> {
    try {
      await checkTargetUrl(url, this.config.notifications.allowPrivateTargets);
    } catch (err) {
      if (err instanceof TargetRefusedError) {
        throw new DomainException(ApiErrorCode.ValidationFailed, 'notification target refused', [{ field: 'body.url', message: err.message }]);
      }
      throw err;
    }
  }

  private async providerPath(scope: Scope, providerId: string | undefined): Promise<string | null> {
    return providerId === undefined ? null : (await this.providers.get(scope, providerId)).path;
  }

  private async channel(scope: Scope, id: string): Promise<ChannelRow> {
    const c = await this.repo.findChannel(scope, id);
    if (!c) throw notFound(`notification channel ${id}`);
    return c;
  }

  async listChannels(ctx: RequestContext, q: z.output<typeof channelListQuery>): Promise<Page<ChannelView>> {
    const rows = await this.repo.listChannels(ctx.scope, {
      providerPath: await this.providerPath(ctx.scope, q.providerId),
      type: q.type,
      after: timeCursor(q.cursor, 'channels'),
      limit: q.limit,
    });
    return { items: rows.map(toChannelView), nextCursor: nextTimeCursor(rows, q.limit, 'channels') };
  }

  async getChannel(ctx: RequestContext, id: string): Promise<ChannelView> {
    return toChannelView(await this.channel(ctx.scope, id));
  }

  async createChannel(ctx: RequestContext, body: z.output<typeof createChannelBody>): Promise<z.output<typeof createdChannelView>> {
    const providerId = body.providerId ?? (ctx.scope.kind === 'subtree' ? ctx.scope.providerId : (await this.providerRows.root()).id);
    const provider = await this.providers.get(ctx.scope, providerId);
    if (body.url !== undefined) await this.checkUrl(body.url);
    const generated = body.type === 'webhook' && body.secret === undefined ? randomBytes(32).toString('base64url') : undefined;
    const created = await this.repo.insertChannel({
      providerId: provider.id,
      type: body.type,
      name: body.name,
      url: body.url ?? null,
      secret: body.secret ?? generated ?? null,
      emailTo: body.emailTo ?? [],
      enabled: body.enabled,
    });
    const view = toChannelView(created);
    await this.audit.record(ctx, {
      action: 'notification-channel.create',
      targetType: 'notification-channel',
      targetId: created.id,
      providerId: provider.id,
      after: view,
    });
    return generated ? { ...view, secret: generated } : view;
  }

  async updateChannel(ctx: RequestContext, id: string, body: z.output<typeof updateChannelBody>): Promise<ChannelView> {
    const current = await this.channel(ctx.scope, id);
    if (current.type === 'email' && (body.url !== undefined || body.secret !== undefined)) {
      throw new DomainException(ApiErrorCode.ValidationFailed, 'email channels have no url or secret', [
        { field: 'body', message: 'url and secret are not allowed for email channels' },
      ]);
    }
    if (current.type !== 'email' && body.emailTo !== undefined) {
      throw new DomainException(ApiErrorCode.ValidationFailed, `${current.type} channels have no recipients`, [
        { field: 'body.emailTo', message: 'only for email channels' },
      ]);
    }
    if (current.type === 'wecom' && typeof body.secret === 'string') {
      throw new DomainException(ApiErrorCode.ValidationFailed, 'WeCom robots do not sign', [{ field: 'body.secret', message: 'the key is in the url' }]);
    }
    if (current.type === 'webhook' && body.secret === null) {
      throw new DomainException(ApiErrorCode.ValidationFailed, 'webhook channels are always signed', [
        { field: 'body.secret', message: 'give a new secret instead' },
      ]);
    }
    if (body.url !== undefined) await this.checkUrl(body.url);
    const updated = await this.repo.updateChannel(id, {
      name: body.name ?? current.name,
      url: body.url ?? current.url,
      secret: body.secret === undefined ? current.secret : body.secret,
      emailTo: body.emailTo ?? current.email_to,
      enabled: body.enabled ?? current.enabled,
    });
    if (!updated) throw notFound(`notification channel ${id}`);
    const before = toChannelView(current);
    const after = toChannelView(updated);
    // The audit says that a secret or url changed, never what it is.
    await this.audit.record(ctx, {
      action: 'notification-channel.update',
      targetType: 'notification-channel',
      targetId: id,
      providerId: updated.provider_id,
      before,
      after: { ...after, secretChanged: body.secret !== undefined, urlChanged: body.url !== undefined },
    });
    return after;
  }

  async deleteChannel(ctx: RequestContext, id: string): Promise<void> {
    const current = await this.channel(ctx.scope, id);
    if (!(await this.repo.deleteChannel(id))) throw notFound(`notification channel ${id}`);
    await this.audit.record(ctx, {
      action: 'notification-channel.delete',
      targetType: 'notification-channel',
      targetId: id,
      providerId: current.provider_id,
      before: toChannelView(current),
    });
  }

  /** Sends a test message right now (not queued, not retried) and reports what the receiver said. */
  async testChannel(ctx: RequestContext, id: string, locale: AlertLocale): Promise<z.output<typeof testResultView>> {
    const c = await this.channel(ctx.scope, id);
    const result = await this.sender.send(
      { id: c.id, providerId: c.provider_id, type: c.type, name: c.name, url: c.url, secret: c.secret, emailTo: c.email_to },
      renderTest(c.name, locale, randomUUID()),
    );
    return { ok: result.ok, statusCode: result.statusCode, latencyMs: result.latencyMs, error: result.error };
  }

  private async subscription(scope: Scope, id: string): Promise<SubscriptionRow> {
    const s = await this.repo.findSubscription(scope, id);
    if (!s) throw notFound(`notification subscription ${id}`);
    return s;
  }

  async listSubscriptions(ctx: RequestContext, q: z.output<typeof subscriptionListQuery>): Promise<Page<SubscriptionView>> {
    const rows = await this.repo.listSubscriptions(ctx.scope, {
      providerPath: await this.providerPath(ctx.scope, q.providerId),
      channelId: q.channelId,
      after: timeCursor(q.cursor, 'subscriptions'),
      limit: q.limit,
    });
    return { items: rows.map(toSubscriptionView), nextCursor: nextTimeCursor(rows, q.limit, 'subscriptions') };
  }

  async getSubscription(ctx: RequestContext, id: string): Promise<SubscriptionView> {
    return toSubscriptionView(await this.subscription(ctx.scope, id));
  }

  async createSubscription(ctx: RequestContext, body: z.output<typeof createSubscriptionBody>): Promise<SubscriptionView> {
    const channel = await this.channel(ctx.scope, body.channelId);
    const created = await this.repo.insertSubscription({
      provider_id: channel.provider_id,
      channel_id: channel.id,
      rules: [...new Set(body.rules)],
      min_severity: body.minSeverity,
      locale: body.locale,
      quiet_start: body.quietHours?.start ?? null,
      quiet_end: body.quietHours?.end ?? null,
      time_zone: body.timeZone,
      daily_digest: body.dailyDigest,
      enabled: body.enabled,
    });
    if (!created) throw notFound(`notification channel ${body.channelId}`);
    const view = toSubscriptionView(created);
    await this.audit.record(ctx, {
      action: 'notification-subscription.create',
      targetType: 'notification-subscription',
      targetId: created.id,
      providerId: created.provider_id,
      after: view,
    });
    return view;
  }

  async updateSubscription(ctx: RequestContext, id: string, body: z.output<typeof updateSubscriptionBody>): Promise<SubscriptionView> {
    const current = await this.subscription(ctx.scope, id);
    const quiet =
      body.quietHours === undefined
        ? { start: current.quiet_start, end: current.quiet_end }
        : { start: body.quietHours?.start ?? null, end: body.quietHours?.end ?? null };
    const updated = await this.repo.updateSubscription({
      ...current,
      rules: body.rules ? [...new Set(body.rules)] : current.rules,
      min_severity: body.minSeverity ?? current.min_severity,
      locale: body.locale ?? current.locale,
      quiet_start: quiet.start,
      quiet_end: quiet.end,
      time_zone: body.timeZone ?? current.time_zone,
      daily_digest: body.dailyDigest ?? current.daily_digest,
      enabled: body.enabled ?? current.enabled,
    });
    if (!updated) throw notFound(`notification subscription ${id}`);
    const after = toSubscriptionView(updated);
    await this.audit.record(ctx, {
      action: 'notification-subscription.update',
      targetType: 'notification-subscription',
      targetId: id,
      providerId: updated.provider_id,
      before: toSubscriptionView(current),
      after,
    });
    return after;
  }

  async deleteSubscription(ctx: RequestContext, id: string): Promise<void> {
    const current = await this.subscription(ctx.scope, id);
    if (!(await this.repo.deleteSubscription(id))) throw notFound(`notification subscription ${id}`);
    await this.audit.record(ctx, {
      action: 'notification-subscription.delete',
      targetType: 'notification-subscription',
      targetId: id,
      providerId: current.provider_id,
      before: toSubscriptionView(current),
    });
  }

  async listDeliveries(ctx: RequestContext, q: z.output<typeof deliveryListQuery>): Promise<Page<DeliveryView>> {
    const before = q.cursor === undefined ? null : decodeCursor(q.cursor, 'deliveries', (c) => /^[1-9]\d{0,17}$/.test(c.k)).k;
    const rows = await this.repo.listDeliveries(ctx.scope, {
      providerPath: await this.providerPath(ctx.scope, q.providerId),
      channelId: q.channelId,
      subscriptionId: q.subscriptionId,
      state: q.state,
      kind: q.kind,
      sn: q.sn,
      beforeId: before,
      limit: q.limit,
    });
    const nextCursor = rows.length === q.limit ? encodeCursor({ v: null, k: rows[rows.length - 1].id }, 'deliveries') : null;
    return { items: rows.map(toDeliveryView), nextCursor };
  }

  async attempts(ctx: RequestContext, id: string): Promise<{ items: AttemptView[] }> {
    const rows = await this.repo.attempts(ctx.scope, id);
    if (rows === null) throw notFound(`notification delivery ${id}`);
    return {
      items: rows.map((a) => ({
        attempt: a.attempt,
        startedAt: iso(a.started_at),
        latencyMs: a.latency_ms,
        statusCode: a.status_code,
        error: a.error,
        ok: a.ok,
      })),
    };
  }

  async renewalDigest(
    ctx: RequestContext,
    providerId: string,
    days: number | undefined,
  ): Promise<{ providerId: string; day: string; days: number; total: number; items: RenewalDigestRow[] }> {
    const provider = await this.providers.get(ctx.scope, providerId);
    const d = this.config.notifications.digest;
    const window = days ?? d.days;
    const { day } = localClock(new Date(), d.timeZone);
    const items = await this.digests.rows(provider.path, day, window, RENEWAL_DIGEST_MAX_ROWS);
    const total = items.length < RENEWAL_DIGEST_MAX_ROWS ? items.length : await this.digests.count(provider.path, day, window);
    return { providerId: provider.id, day, days: window, total, items };
  }
}
