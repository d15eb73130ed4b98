import { describe, expect, it } from '@jest/globals';
import { ALERT_RULE_NAMES, renderAlertText, type AlertTextKind } from './alert-text.js';
import { DEFAULT_ALERT_THRESHOLDS } from './alert-thresholds.js';
import { policyOf, RuleHarness, sampleOf, T0, terminalOf, txOf } from './rule-fixtures.js';
import { ALERT_LOCALES, ALERT_RULES, type AlertDetails, SEVERITIES } from './rule.types.js';

const ID = { sn: 'EP0000000042', tid: '87654321', mid: '898110000000099', model: 'QP-E20' };
const CJK = /[\u4e00-\u9fff]/;
const JUNK = /undefined|null|NaN|\[object|Infinity|\$\{/;

/** Details as the rules produce them, per rule (from a real evaluation where possible). */
function realDetails(): Map<string, AlertDetails> {
  const h = new RuleHarness();
  h.policies = [
    policyOf({ minSupported: 'E20_V3.0.0', blocked: ['E20_V2.4.7'] }),
    policyOf({ component: 'app', latest: '5.12.3', latestSince: new Date(T0.getTime() - 90 * 86_400_000) }),
  ];
  h.thresholds = { ...DEFAULT_ALERT_THRESHOLDS, signal: { ...DEFAULT_ALERT_THRESHOLDS.signal, raiseAfter: 1 } };
  h.heartbeat(sampleOf());
  const out = new Map<string, AlertDetails>();
  const troubled = sampleOf({
    firmwareVersion: 'E20_V2.4.7',
    appVersion: '5.11.0',
    batteryPct: 6,
    rsrp: -119,
    planExpiresOn: '2026-12-04',
    planAutoRenew: false,
    renewalAt: new Date('2026-11-30T00:00:00Z'),
    renewalResult: 'failed',
    renewalReason: 'payment_declined',
    dataUsedMb: 950,
    dataAllowanceMb: 1000,
    lat: 23.1291,
    lon: 113.2644,
    iccid: '89860099999999999999',
    tx: txOf({ declinesByCode: { '92': 2, '96': 1, '97': 1 }, reversalsFailed: 1 }),
  });
  for (const o of h.heartbeat(troubled)) if (o.active) out.set(o.rule, o.details);
  for (const o of h.heartbeat(sampleOf({ ...troubled, planStatus: 'suspended' }))) if (o.active && !out.has(o.rule)) out.set(o.rule, o.details);
  h.terminal = terminalOf({ online: false, presenceChangedAt: T0, lastReceivedAt: T0 });
  for (const o of h.scheduled(new Date(T0.getTime() + 2 * 3_600_000))) if (o.active) out.set(o.rule, o.details);
  h.terminal = terminalOf({ online: true, presenceChangedAt: T0, lastReceivedAt: T0 });
  for (const o of h.scheduled(new Date(T0.getTime() + 600_000))) if (o.active) out.set(o.rule, o.details);
  return out;
}

describe('renderAlertText', () => {
  const kinds: AlertTextKind[] = ['raised', 'escalated', 'resolved'];

  it('has non-empty text without placeholders for every rule × locale × severity × kind, with and without details', () => {
    const real = realDetails();
    expect([...real.keys()].sort()).toEqual([...ALERT_RULES].filter((r) => r !== 'firmware_not_latest' && r !== 'app_outdated').sort());
    for (const rule of ALERT_RULES) {
      for (const locale of ALERT_LOCALES) {
        for (const severity of SEVERITIES) {
          for (const kind of kinds) {
            for (const details of [{}, { ...ID, ...(real.get(rule) ?? {}) }]) {
              const { title, body } = renderAlertText(rule, severity, details, locale, kind);
              const where = `${rule}/${locale}/${severity}/${kind}`;
              expect({ where, title: title.length > 3, body: body.length > 10 }).toEqual({ where, title: true, body: true });
              expect({ where, junk: `${title}\n${body}`.match(JUNK)?.[0] ?? null }).toEqual({ where, junk: null });
              expect({ where, cjk: CJK.test(title + body) }).toEqual({ where, cjk: locale === 'zh-CN' });
            }
          }
        }
      }
    }
  });

  it('names the terminal (SN, TID, MID, model) when the details carry them, and works without', () => {
    for (const locale of ALERT_LOCALES) {
      const { title, body } = renderAlertText('battery_low', 'warning', { ...ID, batteryPct: 15 }, locale);
      expect(title).toContain(ID.sn);
      for (const part of Object.values(ID)) expect(body).toContain(part);
      expect(renderAlertText('battery_low', 'warning', { batteryPct: 15 }, locale).title).not.toContain('·');
    }
  });

  it('plan texts name the date to renew before', () => {
    const d = { expiresOn: '2026-12-08', daysLeft: 7, autoRenew: false };
    const zh = renderAlertText('plan_expiring', 'warning', d, 'zh-CN');
    expect(zh.title).toBe('[警告] 流量卡套餐 7 天后到期');
    expect(zh.body).toContain('请在 2026-12-08 之前为流量卡续费');
    expect(zh.body).toContain('未开启自动续费');
    const en = renderAlertText('plan_expiring', 'critical', { ...d, daysLeft: 1 }, 'en');
    expect(en.title).toBe('[Critical] SIM data plan expires tomorrow');
    expect(en.body).toContain('Renew the SIM plan before 2026-12-08');
    expect(renderAlertText('plan_expiring', 'critical', { ...d, daysLeft: -2, expiresOn: '2026-11-29' }, 'zh-CN').title).toContain('已于 2026-11-29 到期');
  });

  it('gives the likely cause and the fix', () => {
    expect(renderAlertText('signal_weak', 'warning', { rsrp: -118 }, 'zh-CN').body).toContain('终端可能在地下室、电梯或金属柜内，请移到窗边或开阔处');
    expect(renderAlertText('signal_weak', 'warning', { rsrp: -118 }, 'en').body).toMatch(/basement.*window/s);
    expect(renderAlertText('battery_low', 'critical', { batteryPct: 6 }, 'zh-CN').body).toContain('充电');
    expect(renderAlertText('battery_low', 'critical', { batteryPct: 6 }, 'en').body).toContain('charge the terminal');
    const tid = renderAlertText('tx_tid_unregistered', 'critical', { tid: '87654321' }, 'en');
    expect(tid.body).toContain('Contact the acquirer to register TID 87654321');
    expect(renderAlertText('tx_tid_unregistered', 'critical', { tid: '87654321' }, 'zh-CN').body).toContain('请联系收单机构登记终端号 87654321');
    expect(renderAlertText('tx_reversal', 'critical', { reversalsFailed: 1 }, 'en').body).toMatch(/cardholder was charged.*must refund/s);
    expect(renderAlertText('tx_reversal', 'critical', { reversalsFailed: 1 }, 'zh-CN').body).toMatch(/持卡人已被扣款.*退款/s);
    expect(renderAlertText('tx_reversal', 'warning', { reversalsPending: 1, pendingHeartbeats: 3 }, 'en').title).toContain('pending');
    expect(renderAlertText('firmware_outdated', 'critical', { version: 'E20_V2.4.7', blocked: true }, 'en').title).toContain('blocked');
    expect(renderAlertText('app_outdated', 'critical', { version: '4.9.6', minSupported: '5.8.2' }, 'zh-CN').body).toContain('支付应用');
  });

  it('renders instants in the terminal time zone when given, else in UTC and says so', () => {
    const d = { lastSeen: '2026-12-01T16:30:00.000Z', offlineMinutes: 90 };
    expect(renderAlertText('offline', 'warning', { ...d, timeZone: 'Asia/Shanghai' }, 'zh-CN').body).toContain('2026-12-02 00:30');
    expect(renderAlertText('offline', 'warning', d, 'en').body).toContain('2026-12-01 16:30 UTC');
    expect(renderAlertText('offline', 'warning', d, 'en').body).toContain('1 h 30 min');
  });

  it('words escalations and resolutions', () => {
    expect(renderAlertText('battery_low', 'critical', { ...ID, batteryPct: 8 }, 'en', 'escalated').title).toMatch(/^\[Escalated to Critical\] Battery low/);
    const resolved = renderAlertText('battery_low', 'warning', { ...ID }, 'zh-CN', 'resolved');
    expect(resolved.title).toBe(`[已恢复] ${ALERT_RULE_NAMES.battery_low['zh-CN']} · ${ID.sn}`);
    expect(resolved.body).toContain(ID.tid);
  });
});
