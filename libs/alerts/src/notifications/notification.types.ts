import type { AlertDetails, AlertLocale, AlertRule, Severity } from '../rules/rule.types.js';

export const CHANNEL_TYPES = ['webhook', 'wecom', 'dingtalk', 'email'] as const;
export type ChannelType = (typeof CHANNEL_TYPES)[number];

export const DELIVERY_KINDS = ['alert', 'rollup', 'digest'] as const;
export type DeliveryKind = (typeof DELIVERY_KINDS)[number];

/** bundled: folded into the roll-up or digest delivery named by bundledInto. */
export const DELIVERY_STATES = ['pending', 'held', 'sending', 'delivered', 'failed', 'bundled'] as const;
export type DeliveryState = (typeof DELIVERY_STATES)[number];

/** notification_channels columns as SELECTed (snake_case), shared by the worker and the API. */
export interface ChannelColumns {
  id: string;
  provider_id: string;
  type: ChannelType;
  name: string;
  url: string | null;
  secret: string | null;
  email_to: string[];
  enabled: boolean;
}

/** notification_subscriptions columns as SELECTed (snake_case), shared by the worker and the API. */
export interface SubscriptionColumns {
  id: string;
  provider_id: string;
  channel_id: string;
  rules: string[];
  min_severity: Severity;
  locale: AlertLocale;
  quiet_start: string | null;
  quiet_end: string | null;
  time_zone: string;
  daily_digest: boolean;
  enabled: boolean;
}

/** What a sender needs of a channel (secrets included: worker side only, never in API answers). */
export interface ChannelTarget {
  id: string;
  providerId: string;
  type: ChannelType;
  name: string;
  url: string | null;
  secret: string | null;
  emailTo: readonly string[];
}

/** The alert event a delivery of kind 'alert' carries (copied from alert_events at fan-out). */
export interface AlertEventPayload {
  eventId: string;
  alertId: string;
  /** raised | escalated | resolved */
  transition: string;
  sn: string;
  providerId: string;
  rule: AlertRule;
  severity: Severity;
  details: AlertDetails;
  at: string;
}

/** Storm roll-up: one message for many terminals raising one rule in one group. */
export interface RollupPayload {
  rule: AlertRule;
  severity: Severity;
  group: { kind: 'provider' | 'cell' | 'city'; id: string };
  /** Terminals in the group when the storm was detected. */
  groupSize: number;
  windowStart: string;
  windowEnd: string;
}

export interface RenewalDigestRow {
  sn: string;
  tid: string | null;
  mid: string | null;
  model: string;
  providerId: string;
  planStatus: string | null;
  /** YYYY-MM-DD */
  expiresOn: string | null;
  daysLeft: number | null;
  autoRenew: boolean | null;
  renewalResult: string | null;
  renewalReason: string | null;
}

export interface RenewalDigestPayload {
  type: 'renewal';
  providerId: string;
  day: string;
  total: number;
  /** The first rows (the webhook/robot message and the CSV carry these; the API serves all). */
  rows: RenewalDigestRow[];
}

export interface QuietDigestPayload {
  type: 'quiet';
  windowEnd: string;
}

/** What the channel senders turn into a webhook body, a robot message or an email. */
export interface NotificationMessage {
  kind: DeliveryKind | 'test';
  idempotencyKey: string;
  locale: AlertLocale;
  title: string;
  /** Markdown for robots (kept short: robots cap the content). */
  markdown: string;
  /** Plain text for email. */
  text: string;
  /** The webhook JSON body. */
  json: Record<string, unknown>;
  attachment?: { filename: string; contentType: string; content: string };
}

export interface SendResult {
  ok: boolean;
  statusCode: number | null;
  latencyMs: number;
  error: string | null;
  /** A failure worth retrying (timeouts, 5xx, 429); false for refusals that will not change. */
  retryable: boolean;
}
