import { ALERT_RULE_NAMES } from '../rules/alert-text.js';
import type { AlertLocale, AlertRule, Severity } from '../rules/rule.types.js';
import { alertText, SEVERITY_TEXT } from './alert-text.js';
import type { AlertEventPayload, NotificationMessage, RenewalDigestPayload, RenewalDigestRow, RollupPayload } from './notification.types.js';

/** Lines listed in a robot message or email body before "... and N more". */
const MAX_LINES = 20;

const T = {
  'zh-CN': {
    raised: '告警',
    escalated: '告警升级',
    resolved: '已恢复',
    rollup: (n: number, rule: string, group: string) => `告警风暴：${n} 台终端触发 ${rule}（${group}）`,
    group: (kind: string, id: string, size: number) => `${{ cell: '基站', city: '城市' }[kind] ?? '服务商'} ${id}，共 ${size} 台`,
    samples: '示例 SN',
    quiet: (n: number) => `免打扰期间的 ${n} 条通知`,
    more: (n: number) => `……另有 ${n} 条`,
    renewal: (n: number, day: string) => `续费提醒 ${day}：${n} 台终端的流量套餐即将到期或续费失败`,
    renewalHeader: 'SN | TID | MID | 型号 | 到期日 | 剩余天数 | 续费结果',
    test: '测试消息：通知渠道配置正确',
  },
  en: {
    raised: 'Alert',
    escalated: 'Alert escalated',
    resolved: 'Resolved',
    rollup: (n: number, rule: string, group: string) => `Alert storm: ${n} terminals raised ${rule} (${group})`,
    group: (kind: string, id: string, size: number) => `${{ cell: 'cell', city: 'city' }[kind] ?? 'provider'} ${id}, ${size} terminals`,
    samples: 'Sample SNs',
    quiet: (n: number) => `${n} notifications from quiet hours`,
    more: (n: number) => `... and ${n} more`,
    renewal: (n: number, day: string) => `Renewal digest ${day}: ${n} terminals with data plans expiring soon or renewal failed`,
    renewalHeader: 'SN | TID | MID | model | expires | days left | renewal',
    test: 'Test message: the notification channel works',
  },
} as const;

/** The rule's short name in the locale (the id for rules this build does not know). */
function ruleName(locale: AlertLocale, rule: string | null): string {
  if (rule === null) return '-';
  return (ALERT_RULE_NAMES as Partial<Record<string, Record<AlertLocale, string>>>)[rule]?.[locale] ?? rule;
}

function transitionText(locale: AlertLocale, transition: string): string {
  const t = T[locale];
  return transition === 'resolved' ? t.resolved : transition === 'escalated' ? t.escalated : t.raised;
}

export function renderAlert(p: AlertEventPayload, locale: AlertLocale, idempotencyKey: string): NotificationMessage {
  const text = alertText(p.rule, p.severity, p.details, locale, p.transition, p.sn);
  const head = text.title;
  return {
    kind: 'alert',
    idempotencyKey,
    locale,
    title: head,
    markdown: `### ${head}\n${text.body
      .split('\n')
      .filter(Boolean)
      .map((l) => `> ${l}`)
      .join('\n')}\n\n${p.at}`,
    text: `${head}\n\n${text.body}\n\n${p.at}`,
    json: {
      id: idempotencyKey,
      type: 'alert',
      alert: {
        id: p.alertId,
        eventId: p.eventId,
        transition: p.transition,
        sn: p.sn,
        providerId: p.providerId,
        rule: p.rule,
        severity: p.severity,
        details: p.details,
        at: p.at,
      },
      text: { locale, title: head, body: text.body },
    },
  };
}

export function renderRollup(p: RollupPayload, count: number, samples: readonly string[], locale: AlertLocale, idempotencyKey: string): NotificationMessage {
  const t = T[locale];
  const group = t.group(p.group.kind, p.group.id, p.groupSize);
  const title = `${SEVERITY_TEXT[locale][p.severity]} ${t.rollup(count, ruleName(locale, p.rule), group)}`;
  const body = `${t.samples}: ${samples.join(', ')}\n${p.windowStart} - ${p.windowEnd}`;
  return {
    kind: 'rollup',
    idempotencyKey,
    locale,
    title,
    markdown: `### ${title}\n> ${body.replace(/\n/g, '\n> ')}`,
    text: `${title}\n\n${body}`,
    json: { id: idempotencyKey, type: 'rollup', rollup: { ...p, count, sampleSns: samples }, text: { locale, title, body } },
  };
}

export interface DigestItem {
  sn: string | null;
  rule: AlertRule | null;
  severity: Severity | null;
  transition: string | null;
  at: string;
}

/** Everything held during quiet hours, as one message: counts per rule, then the first items. */
export function renderQuietDigest(
  items: readonly DigestItem[],
  total: number,
  windowEnd: string,
  locale: AlertLocale,
  idempotencyKey: string,
): NotificationMessage {
  const t = T[locale];
  const title = t.quiet(total);
  const byRule = new Map<string, number>();
  for (const i of items) byRule.set(ruleName(locale, i.rule), (byRule.get(ruleName(locale, i.rule)) ?? 0) + 1);
  const counts = [...byRule.entries()].sort((a, b) => b[1] - a[1]).map(([rule, n]) => `${rule}: ${n}`);
  const lines = items
    .slice(0, MAX_LINES)
    .map((i) =>
      `${i.severity ? SEVERITY_TEXT[locale][i.severity] : ''} ${ruleName(locale, i.rule)} ${i.sn ?? ''} ${transitionText(locale, i.transition ?? 'raised')} ${i.at}`.trim(),
    );
  if (total > lines.length) lines.push(t.more(total - lines.length));
  const body = `${counts.join('\n')}\n\n${lines.join('\n')}`;
  return {
    kind: 'digest',
    idempotencyKey,
    locale,
    title,
    markdown: `### ${title}\n${counts.map((c) => `> ${c}`).join('\n')}\n\n${lines.join('\n\n')}`,
    text: `${title}\n\n${body}`,
    json: {
      id: idempotencyKey,
      type: 'digest',
      digest: { type: 'quiet', windowEnd, total, items: items.slice(0, 500) },
      text: { locale, title, body },
    },
  };
}

export const RENEWAL_CSV_COLUMNS = ['sn', 'tid', 'mid', 'model', 'planStatus', 'expiresOn', 'daysLeft', 'autoRenew', 'renewalResult', 'renewalReason'] as const;

/** One CSV field (RFC 4180); text a spreadsheet would run as a formula gets a leading apostrophe. */
export function csvField(value: string | number | boolean | null): string {
  if (value === null) return '';
  if (typeof value !== 'string') return String(value);
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

export function renewalCsv(rows: readonly RenewalDigestRow[]): string {
  const lines = [RENEWAL_CSV_COLUMNS.join(',')];
  for (const r of rows) lines.push(RENEWAL_CSV_COLUMNS.map((c) => csvField(r[c])).join(','));
  return `${lines.join('\r\n')}\r\n`;
}

export function renderRenewalDigest(p: RenewalDigestPayload, locale: AlertLocale, idempotencyKey: string): NotificationMessage {
  const t = T[locale];
  const title = t.renewal(p.total, p.day);
  const lines = p.rows
    .slice(0, MAX_LINES)
    .map((r) => `${r.sn} | ${r.tid ?? '-'} | ${r.mid ?? '-'} | ${r.model} | ${r.expiresOn ?? '-'} | ${r.daysLeft ?? '-'} | ${r.renewalResult ?? '-'}`);
  if (p.total > lines.length) lines.push(t.more(p.total - lines.length));
  return {
    kind: 'digest',
    idempotencyKey,
    locale,
    title,
    markdown: `### ${title}\n${t.renewalHeader}\n\n${lines.join('\n\n')}`,
    text: `${title}\n\n${t.renewalHeader}\n${lines.join('\n')}`,
    json: { id: idempotencyKey, type: 'digest', digest: p, text: { locale, title } },
    attachment: { filename: `renewal-digest-${p.day}.csv`, contentType: 'text/csv; charset=utf-8', content: renewalCsv(p.rows) },
  };
}

export function renderTest(channelName: string, locale: AlertLocale, idempotencyKey: string): NotificationMessage {
  const title = `${T[locale].test} (${channelName})`;
  return {
    kind: 'test',
    idempotencyKey,
    locale,
    title,
    markdown: `### ${title}`,
    text: title,
    json: { id: idempotencyKey, type: 'test', text: { locale, title } },
  };
}
