import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import {
  returnedRows,
  type ChannelColumns,
  type ChannelTarget,
  type ChannelType,
  type DeliveryKind,
  type DeliveryState,
  type SubscriptionColumns,
} from '#alerts';
import type { Scope } from '../auth/principal.js';
import { scopePath } from '../common/scope-sql.js';

export interface ChannelRow extends ChannelColumns {
  created_at: Date;
  updated_at: Date;
  created_key: string;
}

export interface SubscriptionRow extends SubscriptionColumns {
  created_at: Date;
  updated_at: Date;
  created_key: string;
}

export interface DeliveryRow {
  id: string;
  provider_id: string;
  subscription_id: string;
  channel_id: string;
  kind: DeliveryKind;
  state: DeliveryState;
  bundled_into: string | null;
  event_id: string | null;
  sn: string | null;
  rule: string | null;
  severity: string | null;
  idempotency_key: string;
  attempts: number;
  next_attempt_at: Date;
  last_status_code: number | null;
  last_latency_ms: number | null;
  last_error: string | null;
  created_at: Date;
  updated_at: Date;
  delivered_at: Date | null;
}

export interface AttemptRow {
  attempt: number;
  started_at: Date;
  latency_ms: number;
  status_code: number | null;
  error: string | null;
  ok: boolean;
}

/** A (created_at, id) keyset position, newest first. */
export interface TimeKey {
  at: string;
  id: string;
}

/** created_at to the microsecond, as the keyset cursor holds it (a JS Date would drop the microseconds). */
const keyOf = (alias: string) => `to_char(${alias}.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_key`;
const CHANNEL_COLUMNS = `c.id::text AS id, c.provider_id::text AS provider_id, c.type, c.name, c.url, c.secret, c.email_to, c.enabled, c.created_at, c.updated_at, ${keyOf('c')}`;
const SUBSCRIPTION_COLUMNS = `s.id::text AS id, s.provider_id::text AS provider_id, s.channel_id::text AS channel_id, s.rules, s.min_severity, s.locale,
  to_char(s.quiet_start, 'HH24:MI') AS quiet_start, to_char(s.quiet_end, 'HH24:MI') AS quiet_end, s.time_zone, s.daily_digest, s.enabled, s.created_at, s.updated_at,
  ${keyOf('s')}`;

/**
 * SQL for the notifications API. Every read and write is confined to the caller's scope by joining the
 * owning provider's path (a row outside it looks exactly like a missing one).
 */
@Injectable()
export class NotificationsRepository {
  constructor(@Inject(DataSource) private readonly dataSource: DataSource) {}

  async findChannel(scope: Scope, id: string): Promise<ChannelRow | null> {
    const rows: ChannelRow[] = await this.dataSource.query(
      `SELECT ${CHANNEL_COLUMNS} FROM notification_channels c JOIN providers p ON p.id = c.provider_id
        WHERE c.id = $1 AND ($2::text IS NULL OR p.path LIKE $2 || '%')`,
      [id, scopePath(scope)],
    );
    return rows[0] ?? null;
  }

  async listChannels(scope: Scope, f: { providerPath: string | null; type?: string; after: TimeKey | null; limit: number }): Promise<ChannelRow[]> {
    return this.dataSource.query(
      `SELECT ${CHANNEL_COLUMNS} FROM notification_channels c JOIN providers p ON p.id = c.provider_id
        WHERE ($1::text IS NULL OR p.path LIKE $1 || '%') AND ($2::text IS NULL OR p.path LIKE $2 || '%')
          AND ($3::text IS NULL OR c.type = $3)
          AND ($4::timestamptz IS NULL OR (c.created_at, c.id) < ($4::timestamptz, $5::uuid))
        ORDER BY c.created_at DESC, c.id DESC LIMIT $6`,
      [scopePath(scope), f.providerPath, f.type ?? null, f.after?.at ?? null, f.after?.id ?? null, f.limit],
    );
  }

  async insertChannel(c: {
    providerId: string;
    type: ChannelType;
    name: string;
    url: string | null;
    secret: string | null;
    emailTo: string[];
    enabled: boolean;
  }): Promise<ChannelRow> {
    const rows: ChannelRow[] = await this.dataSource.query(
      `INSERT INTO notification_channels AS c (provider_id, type, name, url, secret, email_to, enabled)
       VALUES ($1, $2, $3, $4, $5, $6::text[], $7) RETURNING ${CHANNEL_COLUMNS}`,
      [c.providerId, c.type, c.name, c.url, c.secret, c.emailTo, c.enabled],
    );
    return rows[0];
  }

  async updateChannel(id: string, c: Pick<ChannelTarget, 'name' | 'url' | 'secret' | 'emailTo'> & { enabled: boolean }): Promise<ChannelRow | null> {
    const rows = returnedRows<ChannelRow>(
      await this.dataSource.query(
        `UPDATE notification_channels AS c SET name = $2, url = $3, secret = $4, email_to = $5::text[], enabled = $6, updated_at = now()
        WHERE c.id = $1 RETURNING ${CHANNEL_COLUMNS}`,
        [id, c.name, c.url, c.secret, [...c.emailTo], c.enabled],
      ),
    );
    return rows[0] ?? null;
  }

  async deleteChannel(id: string): Promise<boolean> {
    const rows = returnedRows<unknown>(await this.dataSource.query(`DELETE FROM notification_channels WHERE id = $1 RETURNING id`, [id]));
    return rows.length > 0;
  }

  async findSubscription(scope: Scope, id: string): Promise<SubscriptionRow | null> {
    const rows: SubscriptionRow[] = await this.dataSource.query(
      `SELECT ${SUBSCRIPTION_COLUMNS} FROM notification_subscriptions s JOIN providers p ON p.id = s.provider_id
        WHERE s.id = $1 AND ($2::text IS NULL OR p.path LIKE $2 || '%')`,
      [id, scopePath(scope)],
    );
    return rows[0] ?? null;
  }

  async listSubscriptions(
    scope: Scope,
    f: { providerPath: string | null; channelId?: string; after: TimeKey | null; limit: number },
  ): Promise<SubscriptionRow[]> {
    return this.dataSource.query(
      `SELECT ${SUBSCRIPTION_COLUMNS} FROM notification_subscriptions s JOIN providers p ON p.id = s.provider_id
        WHERE ($1::text IS NULL OR p.path LIKE $1 || '%') AND ($2::text IS NULL OR p.path LIKE $2 || '%')
          AND ($3::uuid IS NULL OR s.channel_id = $3)
          AND ($4::timestamptz IS NULL OR (s.created_at, s.id) < ($4::timestamptz, $5::uuid))
        ORDER BY s.created_at DESC, s.id DESC LIMIT $6`,
      [scopePath(scope), f.providerPath, f.channelId ?? null, f.after?.at ?? null, f.after?.id ?? null, f.limit],
    );
  }

  async insertSubscription(s: Omit<SubscriptionRow, 'id' | 'created_at' | 'updated_at' | 'created_key'>): Promise<SubscriptionRow | null> {
    // The channel must still exist (a concurrent delete makes this insert nothing: 404).
    const rows: SubscriptionRow[] = await this.dataSource.query(
      `INSERT INTO notification_subscriptions AS s (provider_id, channel_id, rules, min_severity, locale, quiet_start, quiet_end, time_zone, daily_digest, enabled)
       SELECT c.provider_id, c.id, $2::text[], $3, $4, $5::time, $6::time, $7, $8, $9 FROM notification_channels c WHERE c.id = $1
       RETURNING ${SUBSCRIPTION_COLUMNS}`,
      [s.channel_id, s.rules, s.min_severity, s.locale, s.quiet_start, s.quiet_end, s.time_zone, s.daily_digest, s.enabled],
    );
    return rows[0] ?? null;
  }

  async updateSubscription(s: SubscriptionRow): Promise<SubscriptionRow | null> {
    const rows = returnedRows<SubscriptionRow>(
      await this.dataSource.query(
        `UPDATE notification_subscriptions AS s SET rules = $2::text[], min_severity = $3, locale = $4, quiet_start = $5::time, quiet_end = $6::time,
              time_zone = $7, daily_digest = $8, enabled = $9, updated_at = now()
        WHERE s.id = $1 RETURNING ${SUBSCRIPTION_COLUMNS}`,
        [s.id, s.rules, s.min_severity, s.locale, s.quiet_start, s.quiet_end, s.time_zone, s.daily_digest, s.enabled],
      ),
    );
    return rows[0] ?? null;
  }

  async deleteSubscription(id: string): Promise<boolean> {
    const rows = returnedRows<unknown>(await this.dataSource.query(`DELETE FROM notification_subscriptions WHERE id = $1 RETURNING id`, [id]));
    return rows.length > 0;
  }

  async listDeliveries(
    scope: Scope,
    f: {
      providerPath: string | null;
      channelId?: string;
      subscriptionId?: string;
      state?: string;
      kind?: string;
      sn?: string;
      beforeId: string | null;
      limit: number;
    },
  ): Promise<DeliveryRow[]> {
    return this.dataSource.query(
      `SELECT d.id::text AS id, d.provider_id::text AS provider_id, d.subscription_id::text AS subscription_id, d.channel_id::text AS channel_id,
              d.kind, d.state, d.bundled_into::text AS bundled_into, d.event_id::text AS event_id, d.sn, d.rule, d.severity,
              d.idempotency_key::text AS idempotency_key, d.attempts, d.next_attempt_at, d.last_status_code, d.last_latency_ms, d.last_error,
              d.created_at, d.updated_at, d.delivered_at
         FROM notification_deliveries d JOIN providers p ON p.id = d.provider_id
        WHERE ($1::text IS NULL OR p.path LIKE $1 || '%') AND ($2::text IS NULL OR p.path LIKE $2 || '%')
          AND ($3::uuid IS NULL OR d.channel_id = $3) AND ($4::uuid IS NULL OR d.subscription_id = $4)
          AND ($5::text IS NULL OR d.state = $5) AND ($6::text IS NULL OR d.kind = $6) AND ($7::text IS NULL OR d.sn = $7)
          AND ($8::bigint IS NULL OR d.id < $8)
        ORDER BY d.id DESC LIMIT $9`,
      [scopePath(scope), f.providerPath, f.channelId ?? null, f.subscriptionId ?? null, f.state ?? null, f.kind ?? null, f.sn ?? null, f.beforeId, f.limit],
    );
  }

  /** null when the delivery is unknown or outside the scope. */
  async attempts(scope: Scope, deliveryId: string): Promise<AttemptRow[] | null> {
    const found: unknown[] = await this.dataSource.query(
      `SELECT 1 FROM notification_deliveries d JOIN providers p ON p.id = d.provider_id WHERE d.id = $1 AND ($2::text IS NULL OR p.path LIKE $2 || '%')`,
      [deliveryId, scopePath(scope)],
    );
    if (found.length === 0) return null;
    return this.dataSource.query(
      `SELECT attempt, started_at, latency_ms, status_code, error, ok FROM notification_attempts WHERE delivery_id = $1 ORDER BY attempt, id LIMIT 1000`,
      [deliveryId],
    );
  }
}
