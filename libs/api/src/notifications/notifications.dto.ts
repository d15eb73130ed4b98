import { z } from 'zod';
import { ALERT_LOCALES, ALERT_RULES, CHANNEL_TYPES, DELIVERY_KINDS, DELIVERY_STATES, SEVERITIES } from '#alerts';

export const NOTIFY_LIST_MAX_LIMIT = 500;

const timeOfDay = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'HH:MM, 24-hour local time');
const timeZone = z
  .string()
  .max(64)
  .refine((tz) => {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: tz });
      return true;
    } catch {
      return false;
    }
  }, 'an IANA time zone, e.g. Asia/Shanghai');
const limit = z.coerce.number().int().min(1).max(NOTIFY_LIST_MAX_LIMIT).default(50);
const cursor = z.string().min(1).max(1024).describe('nextCursor of the previous page');

export const idParam = z.object({ id: z.uuid() });
export const deliveryIdParam = z.object({ id: z.string().regex(/^[1-9]\d{0,17}$/, 'a delivery id (a positive integer)') });

const url = z.string().trim().min(1).max(2048).describe('https URL of the receiver or robot (write-only: answers show origin and path only)');
const secret = z.string().min(16, 'at least 16 characters').max(512).describe('Webhook HMAC key or DingTalk sign secret (SEC...); write-only, never returned');
const emailTo = z.array(z.email()).min(1).max(50);

export const createChannelBody = z
  .strictObject({
    providerId: z.uuid().optional().describe('Owner; defaults to the caller\u2019s provider (provider keys) or the root (ops keys)'),
    type: z.enum(CHANNEL_TYPES),
    name: z.string().trim().min(1).max(100),
    url: url.optional(),
    secret: secret.optional().describe('Webhook: generated and returned once when left out. DingTalk: the robot\u2019s sign secret, if it uses signing'),
    emailTo: emailTo.optional().describe('email channels: recipients'),
    enabled: z.boolean().default(true),
  })
  .superRefine((b, ctx) => {
    if (b.type === 'email') {
      if (!b.emailTo) ctx.addIssue({ code: 'custom', path: ['emailTo'], message: 'required for email channels' });
      if (b.url !== undefined) ctx.addIssue({ code: 'custom', path: ['url'], message: 'not allowed for email channels' });
      if (b.secret !== undefined) ctx.addIssue({ code: 'custom', path: ['secret'], message: 'not allowed for email channels' });
    } else {
      if (b.url === undefined) ctx.addIssue({ code: 'custom', path: ['url'], message: `required for ${b.type} channels` });
      if (b.emailTo !== undefined) ctx.addIssue({ code: 'custom', path: ['emailTo'], message: `not allowed for ${b.type} channels` });
      if (b.type === 'wecom' && b.secret !== undefined)
        ctx.addIssue({ code: 'custom', path: ['secret'], message: 'WeCom robots do not sign; the key is in the url' });
    }
  });

export const updateChannelBody = z
  .strictObject({
    name: z.string().trim().min(1).max(100).optional(),
    url: url.optional(),
    secret: secret.nullable().optional().describe('null removes it (DingTalk); webhook channels keep a secret'),
    emailTo: emailTo.optional(),
    enabled: z.boolean().optional(),
  })
  .refine((b) => Object.keys(b).length > 0, 'give at least one field');

export const channelListQuery = z.object({
  providerId: z.uuid().optional().describe('Only channels of this provider and its sub-providers (must be in scope)'),
  type: z.enum(CHANNEL_TYPES).optional(),
  limit,
  cursor: cursor.optional(),
});

export const channelView = z.object({
  id: z.uuid(),
  providerId: z.uuid(),
  type: z.enum(CHANNEL_TYPES),
  name: z.string(),
  urlHint: z.string().nullable().describe('Scheme, host and path of the url; the query (robot tokens) is never shown'),
  hasSecret: z.boolean(),
  emailTo: z.array(z.string()),
  enabled: z.boolean(),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
});
export const createdChannelView = channelView.extend({
  secret: z.string().optional().describe('Only when the server generated the webhook secret: shown once'),
});
export const channelPage = z.object({ items: z.array(channelView), nextCursor: z.string().nullable() });

export const testMessageBody = z.strictObject({ locale: z.enum(ALERT_LOCALES).default('en') });
export const testResultView = z.object({
  ok: z.boolean(),
  statusCode: z.number().int().nullable(),
  latencyMs: z.number().int(),
  error: z.string().nullable(),
});

const quietHours = z.strictObject({ start: timeOfDay, end: timeOfDay }).describe('Local [start, end) window; start after end spans midnight');

export const createSubscriptionBody = z.strictObject({
  channelId: z.uuid().describe('The subscription belongs to the channel\u2019s provider and covers its subtree'),
  rules: z.array(z.enum(ALERT_RULES)).max(ALERT_RULES.length).default([]).describe('Rules to notify; empty: all'),
  minSeverity: z.enum(SEVERITIES).default('warning'),
  locale: z.enum(ALERT_LOCALES).default('zh-CN'),
  quietHours: quietHours.nullable().default(null),
  timeZone: timeZone.default('Asia/Shanghai'),
  dailyDigest: z.boolean().default(false).describe('Also send the daily renewal digest here'),
  enabled: z.boolean().default(true),
});

export const updateSubscriptionBody = z
  .strictObject({
    rules: z.array(z.enum(ALERT_RULES)).max(ALERT_RULES.length).optional(),
    minSeverity: z.enum(SEVERITIES).optional(),
    locale: z.enum(ALERT_LOCALES).optional(),
    quietHours: quietHours.nullable().optional(),
    timeZone: timeZone.optional(),
    dailyDigest: z.boolean().optional(),
    enabled: z.boolean().optional(),
  })
  .refine((b) => Object.keys(b).length > 0, 'give at least one field');

export const subscriptionListQuery = z.object({
  providerId: z.uuid().optional().describe('Only subscriptions of this provider and its sub-providers (must be in scope)'),
  channelId: z.uuid().optional(),
  limit,
  cursor: cursor.optional(),
});

export const subscriptionView = z.object({
  id: z.uuid(),
  providerId: z.uuid(),
  channelId: z.uuid(),
  rules: z.array(z.string()),
  minSeverity: z.enum(SEVERITIES),
  locale: z.enum(ALERT_LOCALES),
  quietHours: z.object({ start: z.string(), end: z.string() }).nullable(),
  timeZone: z.string(),
  dailyDigest: z.boolean(),
  enabled: z.boolean(),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
});
export const subscriptionPage = z.object({ items: z.array(subscriptionView), nextCursor: z.string().nullable() });

export const deliveryListQuery = z.object({
  providerId: z.uuid().optional().describe('Deliveries of this provider\u2019s subscriptions (and its sub-providers\u2019)'),
  channelId: z.uuid().optional(),
  subscriptionId: z.uuid().optional(),
  state: z.enum(DELIVERY_STATES).optional(),
  kind: z.enum(DELIVERY_KINDS).optional(),
  sn: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{3,31}$/)
    .optional(),
  limit,
  cursor: cursor.optional(),
});

export const deliveryView = z.object({
  id: z.string(),
  providerId: z.uuid(),
  subscriptionId: z.uuid(),
  channelId: z.uuid(),
  kind: z.enum(DELIVERY_KINDS),
  state: z.enum(DELIVERY_STATES),
  bundledInto: z.string().nullable().describe('The roll-up or digest delivery this one was folded into'),
  eventId: z.string().nullable(),
  sn: z.string().nullable(),
  rule: z.string().nullable(),
  severity: z.string().nullable(),
  idempotencyKey: z.uuid(),
  attempts: z.number().int(),
  nextAttemptAt: z.iso.datetime(),
  lastStatusCode: z.number().int().nullable(),
  lastLatencyMs: z.number().int().nullable(),
  lastError: z.string().nullable(),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
  deliveredAt: z.iso.datetime().nullable(),
});
export const deliveryPage = z.object({ items: z.array(deliveryView), nextCursor: z.string().nullable() });
export const attemptView = z.object({
  attempt: z.number().int(),
  startedAt: z.iso.datetime(),
  latencyMs: z.number().int(),
  statusCode: z.number().int().nullable(),
  error: z.string().nullable(),
  ok: z.boolean(),
});
export const attemptList = z.object({ items: z.array(attemptView) });

export const renewalDigestQuery = z.object({
  format: z.enum(['json', 'csv']).optional().describe('Default: JSON, or CSV when the Accept header prefers text/csv'),
  days: z.coerce.number().int().min(1).max(365).optional().describe('Plans expiring within this many days (default NOTIFY_DIGEST_DAYS, 30)'),
});
export const renewalDigestRowView = z.object({
  sn: z.string(),
  tid: z.string().nullable(),
  mid: z.string().nullable(),
  model: z.string(),
  providerId: z.uuid(),
  planStatus: z.string().nullable(),
  expiresOn: z.string().nullable(),
  daysLeft: z.number().int().nullable(),
  autoRenew: z.boolean().nullable(),
  renewalResult: z.string().nullable(),
  renewalReason: z.string().nullable(),
});
export const renewalDigestView = z.object({
  providerId: z.uuid(),
  day: z.string().describe('Today in NOTIFY_DIGEST_TIME_ZONE'),
  days: z.number().int(),
  total: z.number().int(),
  items: z.array(renewalDigestRowView),
});
