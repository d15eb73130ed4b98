import { createServer, type Server } from 'node:http';
import { describe, expect, it } from '@jest/globals';
import { loadConfig } from '#config';
import { httpOutcome } from './channel-sender.js';
import { postJson, SendError } from './http-post.js';
import { renderAlert, renderRenewalDigest, renewalCsv } from './message-render.js';
import { ancestorPaths, subscriptionMatches } from './notification-outbox.repository.js';
import { digestDue, quietUntil, retryDelayMs } from './schedule.js';
import { dingTalkSign, dingTalkSignedUrl, truncateUtf8, webhookSignature } from './signing.js';
import { isStorm, stormWindowStart } from './storm.js';
import { checkTargetUrl, isPublicAddress, TargetRefusedError } from './target-guard.js';

describe('SSRF guard', () => {
  it('classifies loopback, private, link-local, unique-local and mapped addresses as not public', () => {
    for (const a of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '224.0.0.1']) {
      expect(isPublicAddress(a)).toBe(false);
    }
    for (const a of ['::1', '::', 'fe80::1', 'fc00::1', 'fd12:3456::1', '::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:10.0.0.1', '64:ff9b::a00:1']) {
      expect(isPublicAddress(a)).toBe(false);
    }
    for (const a of ['8.8.8.8', '1.1.1.1', '172.32.0.1', '2400:3200::1', '::ffff:8.8.8.8']) expect(isPublicAddress(a)).toBe(true);
    expect(isPublicAddress('not-an-ip')).toBe(false);
  });

  it('refuses non-http schemes, credentials and private literals at create time', async () => {
    for (const url of ['ftp://example.com/x', 'file:///etc/passwd', 'gopher://x', 'javascript:alert(1)', 'https://user:pw@example.com/']) {
      await expect(checkTargetUrl(url, true)).rejects.toBeInstanceOf(TargetRefusedError);
    }
    for (const url of ['http://127.0.0.1:8080/', 'http://[::1]/', 'http://169.254.169.254/latest/meta-data', 'https://10.0.0.5/hook', 'http://localhost:9/']) {
      await expect(checkTargetUrl(url, false)).rejects.toBeInstanceOf(TargetRefusedError);
      await expect(checkTargetUrl(url, true)).resolves.toBeUndefined();
    }
  });

  it('refuses at send time before any byte reaches a loopback receiver (name and literal)', async () => {
    let requests = 0;
    const server: Server = createServer((_req, res) => {
      requests++;
      res.end('ok');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      for (const url of [`http://127.0.0.1:${port}/`, `http://localhost:${port}/`]) {
        const err = await postJson(url, '{}', {}, { timeoutMs: 2000, maxResponseBytes: 100, allowPrivateTargets: false }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(SendError);
        expect((err as SendError).retryable).toBe(false);
        expect((err as SendError).message).toMatch(/loopback|private/);
      }
      expect(requests).toBe(0);
      const ok = await postJson(`http://localhost:${port}/`, '{}', {}, { timeoutMs: 2000, maxResponseBytes: 100, allowPrivateTargets: true });
      expect(ok.statusCode).toBe(200);
      expect(requests).toBe(1);
    } finally {
      server.close();
    }
  });
});

describe('signatures', () => {
  it('signs webhooks as v1=hex HMAC-SHA256(secret, timestamp.body)', () => {
    // Reference value computed independently: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac 's3cret'
    expect(webhookSignature('s3cret', '1700000000', '{"a":1}')).toBe('v1=1698a50bc74d1ff1db85c4e0a5297c2ad9fdba245d5737cdb789e4cc6e098940');
    expect(webhookSignature('s3cret', '1700000000', '{"a":2}')).not.toBe(webhookSignature('s3cret', '1700000000', '{"a":1}'));
  });

  it('signs DingTalk URLs with base64 HMAC-SHA256(secret, timestamp\\nsecret), URL-encoded', () => {
    // Reference value computed independently: printf '1577262236757\nthis is secret' | openssl dgst -sha256 -hmac 'this is secret' -binary | base64
    const sign = dingTalkSign('this is secret', '1577262236757');
    expect(sign).toBe('hmPWwU+7lVdm3ZZz0r9tSfx0L4Q26jWOZr9+Gs6EZQM=');
    const url = new URL(dingTalkSignedUrl('https://oapi.dingtalk.com/robot/send?access_token=abc', 'this is secret', 1577262236757));
    expect(url.searchParams.get('access_token')).toBe('abc');
    expect(url.searchParams.get('timestamp')).toBe('1577262236757');
    expect(url.searchParams.get('sign')).toBe(sign);
    expect(url.search).not.toMatch(/sign=[^&]*[+/=]/);
  });

  it('truncates UTF-8 text to a byte budget without splitting characters', () => {
    const text = '告警'.repeat(2000);
    const cut = truncateUtf8(text, 4096);
    expect(Buffer.byteLength(cut)).toBeLessThanOrEqual(4096);
    expect(cut.endsWith('…')).toBe(true);
    expect(cut).not.toContain('\uFFFD');
    expect(truncateUtf8('short', 4096)).toBe('short');
  });
});

describe('schedule', () => {
  it('holds inside the quiet window (also across midnight) and names its end', () => {
    // 23:30 in Shanghai = 15:30Z.
    const at = new Date('2026-12-01T15:30:00Z');
    expect(quietUntil(at, '22:00', '07:00', 'Asia/Shanghai')?.toISOString()).toBe('2026-12-01T23:00:00.000Z');
    expect(quietUntil(at, '08:00', '22:00', 'Asia/Shanghai')).toBeNull();
    expect(quietUntil(at, '23:00', '23:45', 'Asia/Shanghai')?.toISOString()).toBe('2026-12-01T15:45:00.000Z');
    expect(quietUntil(at, '10:00', '10:00', 'Asia/Shanghai')).toBeNull();
    expect(quietUntil(at, null, null, 'Asia/Shanghai')).toBeNull();
  });

  it('backs off exponentially with jitter, capped', () => {
    expect(retryDelayMs(1, 1000, 60_000, () => 0)).toBe(500);
    expect(retryDelayMs(1, 1000, 60_000, () => 1)).toBe(1000);
    expect(retryDelayMs(4, 1000, 60_000, () => 1)).toBe(8000);
    expect(retryDelayMs(30, 1000, 60_000, () => 1)).toBe(60_000);
  });

  it('makes the digest due at the local time on the local day', () => {
    // 00:01Z = 08:01 in Shanghai; 23:59Z the day before = 07:59.
    expect(digestDue(new Date('2026-12-02T00:01:00Z'), '08:00', 'Asia/Shanghai')).toStrictEqual({ due: true, day: '2026-12-02' });
    expect(digestDue(new Date('2026-12-01T23:59:00Z'), '08:00', 'Asia/Shanghai')).toStrictEqual({ due: false, day: '2026-12-02' });
  });
});

describe('fan-out rules', () => {
  it('matches subscriptions of the provider and its ancestors, with rule and severity filters', () => {
    expect(ancestorPaths('/a/b/c/')).toStrictEqual(['/a/', '/a/b/', '/a/b/c/']);
    const ev = { rule: 'battery_low', severity: 'warning', path: '/r/a/a1/' };
    expect(subscriptionMatches({ rules: [], min_severity: 'info', path: '/r/' }, ev)).toBe(true);
    expect(subscriptionMatches({ rules: ['battery_low'], min_severity: 'warning', path: '/r/a/' }, ev)).toBe(true);
    expect(subscriptionMatches({ rules: ['offline'], min_severity: 'info', path: '/r/a/' }, ev)).toBe(false);
    expect(subscriptionMatches({ rules: [], min_severity: 'critical', path: '/r/a/' }, ev)).toBe(false);
    expect(subscriptionMatches({ rules: [], min_severity: 'info', path: '/r/b/' }, ev)).toBe(false);
  });

  it('calls a storm above the share AND the minimum count', () => {
    const s = { percent: 20, minCount: 10 };
    expect(isStorm(10, 40, s)).toBe(true);
    expect(isStorm(9, 20, s)).toBe(false);
    expect(isStorm(10, 50, s)).toBe(false);
    expect(isStorm(11, 50, s)).toBe(true);
    expect(isStorm(10, 0, s)).toBe(false);
    expect(stormWindowStart(new Date('2026-12-01T10:07:31Z'), 600).toISOString()).toBe('2026-12-01T10:00:00.000Z');
  });
});

describe('receiver answers', () => {
  const res = (statusCode: number, body = '') => ({ statusCode, latencyMs: 5, body, truncated: false });
  it('retries 5xx, 429 and robot rate limits; fails other 4xx and 3xx for good', () => {
    expect(httpOutcome(res(204), false).ok).toBe(true);
    expect(httpOutcome(res(500), false)).toMatchObject({ ok: false, retryable: true });
    expect(httpOutcome(res(429), false)).toMatchObject({ ok: false, retryable: true });
    expect(httpOutcome(res(400), false)).toMatchObject({ ok: false, retryable: false });
    expect(httpOutcome(res(302), false)).toMatchObject({ ok: false, retryable: false });
    expect(httpOutcome(res(200, '{"errcode":0,"errmsg":"ok"}'), true).ok).toBe(true);
    expect(httpOutcome(res(200, '{"errcode":45009,"errmsg":"api freq out of limit"}'), true)).toMatchObject({ ok: false, retryable: true });
    expect(httpOutcome(res(200, '{"errcode":310000,"errmsg":"sign not match"}'), true)).toMatchObject({ ok: false, retryable: false });
  });
});

describe('messages', () => {
  it('renders an alert for webhooks with the idempotency key as id', () => {
    const m = renderAlert(
      {
        eventId: '1',
        alertId: '2',
        transition: 'raised',
        sn: 'P3000001',
        providerId: 'p',
        rule: 'battery_low',
        severity: 'critical',
        details: { batteryPct: 4 },
        at: '2026-12-01T00:00:00.000Z',
      },
      'en',
      'key-1',
    );
    expect(m.json).toMatchObject({ id: 'key-1', type: 'alert', alert: { sn: 'P3000001', rule: 'battery_low', severity: 'critical' } });
    expect(m.text).toContain('P3000001');
  });

  it('puts every renewal row in the CSV, formula-looking text neutralised', () => {
    const row = {
      sn: 'P1',
      tid: '12345678',
      mid: '=cmd',
      model: 'EP',
      providerId: 'p',
      planStatus: 'active',
      expiresOn: '2026-12-20',
      daysLeft: 19,
      autoRenew: true,
      renewalResult: null,
      renewalReason: null,
    };
    const csv = renewalCsv([row]);
    expect(csv.split('\r\n')[0]).toBe('sn,tid,mid,model,planStatus,expiresOn,daysLeft,autoRenew,renewalResult,renewalReason');
    expect(csv).toContain("P1,12345678,'=cmd,EP,active,2026-12-20,19,true,,");
    const m = renderRenewalDigest({ type: 'renewal', providerId: 'p', day: '2026-12-01', total: 1, rows: [row] }, 'zh-CN', 'k');
    expect(m.attachment?.filename).toBe('renewal-digest-2026-12-01.csv');
  });
});

describe('settings', () => {
  const prod = { NODE_ENV: 'production', DATABASE_URL: 'postgres://u:p@db/fleet', CREDENTIAL_PEPPER: 'x'.repeat(32) };
  it('refuses private targets by default in production only', () => {
    expect(loadConfig({}, prod).notifications.allowPrivateTargets).toBe(false);
    expect(loadConfig({}, { NODE_ENV: 'test' }).notifications.allowPrivateTargets).toBe(true);
    expect(loadConfig({}, { ...prod, NOTIFY_ALLOW_PRIVATE_TARGETS: 'true' }).notifications.allowPrivateTargets).toBe(true);
    expect(loadConfig({}, { NODE_ENV: 'development', NOTIFY_ALLOW_PRIVATE_TARGETS: 'false' }).notifications.allowPrivateTargets).toBe(false);
  });

  it('keeps the lease longer than a send and refuses bad digest settings', () => {
    expect(loadConfig({}, { NOTIFY_HTTP_TIMEOUT_MS: '60000', NOTIFY_LEASE_MS: '1000' }).notifications.leaseMs).toBeGreaterThan(120_000);
    expect(() => loadConfig({}, { NOTIFY_DIGEST_TIME_ZONE: 'Mars/Olympus' })).toThrow(/NOTIFY_DIGEST_TIME_ZONE/);
    expect(() => loadConfig({}, { NOTIFY_DIGEST_LOCAL_TIME: '25:00' })).toThrow(/NOTIFY_DIGEST_LOCAL_TIME/);
    expect(() => loadConfig({}, { SMTP_URL: 'http://mail' })).toThrow(/SMTP_URL/);
  });
});
