import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Role } from '#api';
import { loadConfig } from '#config';
import { createLogger } from '#observability';
import { createApp, WORKER } from '#runtime';
import { startTestDatabase, startTestGateway, TEST_PEPPER, testDbKinds, type TestDatabase, type TestGateway } from '#testing';
import { NotificationsService } from './notifications.service.js';
import { mimePart, startTestReceiver, startTestSmtp, type TestReceiver, type TestSmtp } from '#testing/notification-receivers.js';

interface ErrorBody {
  error: { code: string; message: string; details?: { field: string; message: string }[] };
}
interface Res<T> {
  status: number;
  body: T;
  text: string;
  headers: Headers;
}
interface Delivery {
  id: string;
  kind: string;
  state: string;
  attempts: number;
  lastStatusCode: number | null;
  lastError: string | null;
  sn: string | null;
  bundledInto: string | null;
  idempotencyKey: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const kind of testDbKinds()) {
  describe(`notifications on ${kind}`, () => {
    let db: TestDatabase;
    let gw: TestGateway;
    let receiver: TestReceiver;
    let smtp: TestSmtp;
    let ops: string;
    let env: Record<string, string>;
    let snSeq = 0;

    const call = async <T = Record<string, unknown>>(
      method: string,
      path: string,
      key: string | null,
      body?: unknown,
      headers: Record<string, string> = {},
    ): Promise<Res<T>> => {
      const h: Record<string, string> = { ...headers };
      if (key) h.authorization = `Bearer ${key}`;
      if (body !== undefined) h['content-type'] = 'application/json';
      const res = await fetch(`${gw.httpUrl}${path}`, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
      const text = await res.text();
      const parsed = (res.headers.get('content-type') ?? '').includes('json') && text ? (JSON.parse(text) as T) : (text as T);
      return { status: res.status, body: parsed, text, headers: res.headers };
    };
    const service = (g: TestGateway = gw) => g.running.app.get(NotificationsService);
    /** Runs notifier passes until `done` holds. */
    const drain = async (done: () => boolean | Promise<boolean>, g: TestGateway = gw, rounds = 200) => {
      for (let i = 0; i < rounds; i++) {
        await service(g).runOnce();
        if (await done()) return;
        await sleep(20);
      }
      throw new Error('notifier did not reach the expected state');
    };
    const provider = async (code: string, parentId?: string): Promise<string> => {
      const res = await call<{ id: string }>('POST', '/v1/providers', ops, { code: `${code}-${kind}`.slice(0, 60), name: code, parentId });
      expect(res.status).toBe(201);
      return res.body.id;
    };
    const terminals = async (providerId: string, n: number, state: Record<string, unknown> = {}): Promise<string[]> => {
      const sns = Array.from({ length: n }, () => `NT${kind[0]}${String(++snSeq).padStart(6, '0')}`);
      await gw.register(sns);
      await gw.query(`UPDATE terminals SET provider_id = $1, city = $3 WHERE sn = ANY($2)`, [providerId, sns, state.city ?? null]);
      for (const sn of sns) {
        await gw.query(
          `INSERT INTO terminal_state (sn, cell_id, plan_expires_on, renewal_result, plan_status, plan_auto_renew) VALUES ($1, $2, $3::date, $4, 'active', true)
           ON CONFLICT (sn) DO NOTHING`,
          [sn, state.cellId ?? null, state.expiresOn ?? null, state.renewalResult ?? null],
        );
      }
      return sns;
    };
    /** An alert transition as the engine writes it: the alert row and its outbox event. */
    const raise = async (sn: string, providerId: string, rule = 'battery_low', severity = 'warning', transition = 'raised'): Promise<string> => {
      const [alert] = await gw.query<{ id: string }>(
        `INSERT INTO alerts (sn, provider_id, rule, severity, state, details, first_seen_at, last_seen_at, resolved_at)
         VALUES ($1, $2, $3, $4, 'resolved', '{"batteryPct": 4}', now(), now(), now()) RETURNING id::text AS id`,
        [sn, providerId, rule, severity],
      );
      const [event] = await gw.query<{ id: string }>(
        `INSERT INTO alert_events (alert_id, kind, sn, provider_id, rule, severity, details) VALUES ($1, $2, $3, $4, $5, $6, '{"batteryPct": 4}') RETURNING id::text AS id`,
        [alert.id, transition, sn, providerId, rule, severity],
      );
      return event.id;
    };
    const channel = async (providerId: string, body: Record<string, unknown>, key = ops): Promise<string> => {
      const res = await call<{ id: string }>('POST', '/v1/notification-channels', key, { providerId, name: 'ch', ...body });
      expect(res.status).toBe(201);
      return res.body.id;
    };
    const subscribe = async (channelId: string, body: Record<string, unknown> = {}, key = ops): Promise<string> => {
      const res = await call<{ id: string }>('POST', '/v1/notification-subscriptions', key, { channelId, minSeverity: 'info', locale: 'en', ...body });
      expect(res.status).toBe(201);
      return res.body.id;
    };
    const deliveries = async (providerId: string, key = ops, extra = ''): Promise<Delivery[]> => {
      const res = await call<{ items: Delivery[] }>('GET', `/v1/notification-deliveries?providerId=${providerId}&limit=500${extra}`, key);
      expect(res.status).toBe(200);
      return res.body.items;
    };
    const webhook = async (providerId: string, name: string, sub: Record<string, unknown> = {}) => {
      const secret = `whsec-${name}-0123456789abcdef`;
      receiver.secrets.set(name, secret);
      const id = await channel(providerId, { type: 'webhook', url: `${receiver.url}/hook/${name}`, secret });
      await subscribe(id, sub);
      return id;
    };

    beforeAll(async () => {
      receiver = await startTestReceiver();
      smtp = await startTestSmtp();
      db = await startTestDatabase(kind);
      env = {
        NOTIFY_POLL_INTERVAL_MS: '3600000',
        NOTIFY_HTTP_TIMEOUT_MS: '1000',
        NOTIFY_RETRY_BASE_MS: '10',
        NOTIFY_RETRY_MAX_MS: '20',
        NOTIFY_STORM_HOLD_S: '0',
        NOTIFY_DIGEST_LOCAL_TIME: '00:00',
        SMTP_URL: `smtp://127.0.0.1:${smtp.port}`,
        SMTP_FROM: 'Fleet <fleet@example.test>',
      };
      gw = await startTestGateway(db, env);
      ops = await gw.issueKey('ops', Role.OpsAdmin);
    });
    afterAll(async () => {
      await gw?.close();
      await db?.stop();
      await receiver?.close();
      await smtp?.close();
    });

    it('delivers a signed webhook once, with its idempotency key, and logs the attempt', async () => {
      const p = await provider('n-hook');
      const [sn] = await terminals(p, 1);
      const channelId = await webhook(p, 'n1');
      await raise(sn, p);
      await drain(() => receiver.byName('n1').length === 1);
      await service().runOnce();
      const [got] = receiver.byName('n1');
      expect(receiver.byName('n1')).toHaveLength(1);
      expect(got.signatureOk).toBe(true);
      expect(got.headers['x-fleet-signature']).toMatch(/^v1=[0-9a-f]{64}$/);
      expect(got.json?.id).toBe(got.headers['idempotency-key']);
      expect(got.json).toMatchObject({ type: 'alert', alert: { sn, rule: 'battery_low', severity: 'warning', transition: 'raised', providerId: p } });
      const [d] = await deliveries(p);
      expect(d).toMatchObject({ kind: 'alert', state: 'delivered', attempts: 1, lastStatusCode: 200, sn, idempotencyKey: got.json?.id });
      const attempts = await call<{ items: { ok: boolean; statusCode: number; latencyMs: number }[] }>(
        'GET',
        `/v1/notification-deliveries/${d.id}/attempts`,
        ops,
      );
      expect(attempts.body.items).toHaveLength(1);
      expect(attempts.body.items[0]).toMatchObject({ ok: true, statusCode: 200 });
      // Secrets are write-only.
      const view = await call('GET', `/v1/notification-channels/${channelId}`, ops);
      expect(view.text).not.toContain('whsec-');
      expect(view.body).toMatchObject({ hasSecret: true, urlHint: `${receiver.url}/hook/n1` });
    });

    it('matches subscriptions at the root for fleet ops (rule filter), and skips alerts below the minimum severity', async () => {
      const root = (await call<{ items: { id: string; parentId: string | null }[] }>('GET', '/v1/providers', ops)).body.items.find((x) => x.parentId === null);
      const p = await provider('n-root-a');
      const child = await provider('n-root-a1', p);
      const [sn] = await terminals(child, 1);
      const rootChannel = await webhook(root!.id, 'nroot', { rules: ['sim_changed'] });
      await webhook(p, 'nroot-p', { minSeverity: 'critical' });
      await raise(sn, child, 'sim_changed', 'warning');
      await drain(() => receiver.byName('nroot').length === 1);
      expect(receiver.byName('nroot-p')).toHaveLength(0);
      await raise(sn, child, 'battery_low', 'critical');
      await drain(() => receiver.byName('nroot-p').length === 1);
      expect(receiver.byName('nroot')).toHaveLength(1);
      expect((await call('DELETE', `/v1/notification-channels/${rootChannel}`, ops)).status).toBe(204);
    });

    it('retries after 500s with backoff and records every attempt', async () => {
      const p = await provider('n-retry');
      const [sn] = await terminals(p, 1);
      receiver.plan('n2', [500, 503]);
      await webhook(p, 'n2');
      await raise(sn, p);
      await drain(async () => (await deliveries(p))[0]?.state === 'delivered');
      const got = receiver.byName('n2');
      expect(got.map((r) => r.json?.id)).toStrictEqual([got[0].json?.id, got[0].json?.id, got[0].json?.id]);
      const [d] = await deliveries(p);
      expect(d.attempts).toBe(3);
      const attempts = await call<{ items: { statusCode: number; ok: boolean }[] }>('GET', `/v1/notification-deliveries/${d.id}/attempts`, ops);
      expect(attempts.body.items.map((a) => a.statusCode)).toStrictEqual([500, 503, 200]);
    });

    it('cuts off a hanging receiver at the timeout and retries', async () => {
      const p = await provider('n-hang');
      const [sn] = await terminals(p, 1);
      receiver.plan('n3', ['hang']);
      await webhook(p, 'n3');
      await raise(sn, p);
      await drain(async () => (await deliveries(p))[0]?.state === 'delivered');
      const [d] = await deliveries(p);
      const attempts = await call<{ items: { statusCode: number | null; error: string | null; latencyMs: number }[] }>(
        'GET',
        `/v1/notification-deliveries/${d.id}/attempts`,
        ops,
      );
      expect(attempts.body.items[0].statusCode).toBeNull();
      expect(attempts.body.items[0].error).toMatch(/no complete answer within 1000 ms/);
      expect(attempts.body.items.at(-1)?.statusCode).toBe(200);
    });

    it('does not read a huge response body into memory', async () => {
      const p = await provider('n-huge');
      const [sn] = await terminals(p, 1);
      const c = await channel(p, { type: 'webhook', url: `${receiver.url}/huge/n4` });
      await subscribe(c);
      await raise(sn, p);
      await drain(async () => (await deliveries(p))[0]?.state === 'delivered');
      expect((await deliveries(p))[0].lastStatusCode).toBe(200);
      await sleep(100);
      // The receiver offered 200 MiB; the notifier kept 64 KiB and hung up (socket buffers hold a few MiB at most).
      expect(receiver.hugeBytesWritten).toBeLessThan(32 * 1024 * 1024);
    });

    it('posts WeCom and DingTalk robot messages in their documented shapes, DingTalk signed', async () => {
      const p = await provider('n-robots');
      const [sn] = await terminals(p, 1);
      const wecom = await channel(p, { type: 'wecom', url: `${receiver.url}/wecom/n5w?key=robot-key` });
      const dtSecret = 'SEC0123456789abcdef0123456789';
      receiver.secrets.set('n5d', dtSecret);
      const ding = await channel(p, { type: 'dingtalk', url: `${receiver.url}/dingtalk/n5d?access_token=tok`, secret: dtSecret });
      await subscribe(wecom, { locale: 'zh-CN' });
      await subscribe(ding, { locale: 'zh-CN' });
      // Long details: the WeCom content must still fit its 4096-byte limit.
      const [alert] = await gw.query<{ id: string }>(
        `INSERT INTO alerts (sn, provider_id, rule, severity, state, details, first_seen_at, last_seen_at, resolved_at)
         VALUES ($1, $2, 'signal_weak', 'critical', 'resolved', $3::jsonb, now(), now(), now()) RETURNING id::text AS id`,
        [sn, p, JSON.stringify({ note: '信号弱'.repeat(3000) })],
      );
      await gw.query(
        `INSERT INTO alert_events (alert_id, kind, sn, provider_id, rule, severity, details) SELECT id, 'raised', sn, provider_id, rule, severity, details FROM alerts WHERE id = $1`,
        [alert.id],
      );
      await drain(
        async () => (await deliveries(p)).every((d) => d.state === 'delivered') && receiver.byName('n5w').length + receiver.byName('n5d').length === 2,
      );
      const [w] = receiver.byName('n5w');
      expect(w.path).toBe('/wecom/n5w?key=robot-key');
      expect(Object.keys(w.json ?? {}).sort()).toStrictEqual(['markdown', 'msgtype']);
      expect(w.json?.msgtype).toBe('markdown');
      const content = (w.json?.markdown as { content: string }).content;
      expect(typeof content).toBe('string');
      expect(Buffer.byteLength(content)).toBeLessThanOrEqual(4096);
      expect(content).toContain(sn);
      const [d] = receiver.byName('n5d');
      expect(d.signatureOk).toBe(true);
      expect(d.json?.msgtype).toBe('markdown');
      const md = d.json?.markdown as { title: string; text: string };
      expect(typeof md.title === 'string' && md.title.length > 0).toBe(true);
      expect(md.text).toContain(sn);
    });

    it('emails alerts through a real SMTP server', async () => {
      const p = await provider('n-mail');
      const [sn] = await terminals(p, 1);
      const c = await channel(p, { type: 'email', emailTo: ['ops-n6@example.test'] });
      await subscribe(c);
      await raise(sn, p, 'offline', 'critical');
      await drain(() => smtp.mails.some((m) => m.to.includes('ops-n6@example.test')));
      const mail = smtp.mails.find((m) => m.to.includes('ops-n6@example.test'))!;
      expect(mail.from).toBe('fleet@example.test');
      expect(mail.raw).toMatch(/Subject: .*offline/);
      expect(mail.raw).toContain(sn);
      expect((await deliveries(p))[0]).toMatchObject({ state: 'delivered', lastStatusCode: 250 });
    });

    it('rolls a storm up into one notification with counts and sample SNs', async () => {
      const p = await provider('n-storm');
      const sns = await terminals(p, 20);
      await webhook(p, 'n7');
      for (const sn of sns.slice(0, 12)) await raise(sn, p, 'offline', 'warning');
      await drain(async () => receiver.byName('n7').length >= 1 && (await deliveries(p)).every((d) => d.state !== 'pending' && d.state !== 'sending'));
      await service().runOnce();
      const got = receiver.byName('n7');
      expect(got).toHaveLength(1);
      expect(got[0].json).toMatchObject({ type: 'rollup', rollup: { rule: 'offline', count: 12, group: { kind: 'provider', id: p }, groupSize: 20 } });
      expect((got[0].json?.rollup as { sampleSns: string[] }).sampleSns.length).toBe(10);
      const list = await deliveries(p);
      expect(list.filter((d) => d.kind === 'rollup').map((d) => d.state)).toStrictEqual(['delivered']);
      expect(list.filter((d) => d.state === 'bundled')).toHaveLength(12);
      // Terminals joining the storm after the roll-up went out get a follow-up roll-up, not silence.
      for (const sn of sns.slice(12, 14)) await raise(sn, p, 'offline', 'warning');
      await drain(() => receiver.byName('n7').length === 2);
      expect(receiver.byName('n7')[1].json).toMatchObject({ type: 'rollup', rollup: { count: 2 } });
    });

    it('rolls up a storm on one cell when the provider as a whole is not in one', async () => {
      const p = await provider('n-cell');
      const cell = `cell-${kind}-1`;
      const onCell = await terminals(p, 12, { cellId: cell });
      await terminals(p, 60);
      await webhook(p, 'n7c');
      for (const sn of onCell.slice(0, 10)) await raise(sn, p, 'signal_weak', 'warning');
      await drain(async () => receiver.byName('n7c').length >= 1 && (await deliveries(p)).every((d) => d.state !== 'pending' && d.state !== 'sending'));
      const got = receiver.byName('n7c');
      expect(got).toHaveLength(1);
      expect(got[0].json).toMatchObject({ type: 'rollup', rollup: { count: 10, group: { kind: 'cell', id: cell }, groupSize: 12 } });
    });

    it('rolls up a storm in one city that spans providers and cells, none of them in a storm', async () => {
      const parent = await provider('n-city');
      const [a, b] = [await provider('n-city-a', parent), await provider('n-city-b', parent)];
      const city = `Wuhan-${kind}`;
      const inCity = [...(await terminals(a, 6, { city, cellId: `cell-${kind}-a` })), ...(await terminals(b, 6, { city, cellId: `cell-${kind}-b` }))];
      // Elsewhere: each provider as a whole stays below the storm share, and so does each cell.
      await terminals(a, 40, { cellId: `cell-${kind}-a` });
      await terminals(b, 40, { cellId: `cell-${kind}-b` });
      await webhook(parent, 'n7y');
      for (const sn of [...inCity.slice(0, 5), ...inCity.slice(6, 11)]) await raise(sn, inCity.indexOf(sn) < 6 ? a : b, 'offline', 'warning');
      await drain(async () => receiver.byName('n7y').length >= 1 && (await deliveries(parent)).every((d) => d.state !== 'pending' && d.state !== 'sending'));
      const got = receiver.byName('n7y');
      expect(got).toHaveLength(1);
      expect(got[0].json).toMatchObject({ type: 'rollup', rollup: { rule: 'offline', count: 10, group: { kind: 'city', id: city }, groupSize: 12 } });
      expect(String((got[0].json?.text as { title: string }).title)).toContain(`city ${city}, 12 terminals`);
    });

    it('pages the delivery log and the channel list with cursors', async () => {
      const p = await provider('n-pages');
      const sns = await terminals(p, 5);
      for (let i = 0; i < 3; i++) await webhook(p, `n15-${i}`, { rules: ['app_outdated'] });
      for (const sn of sns) await raise(sn, p, 'app_outdated', 'warning', 'escalated');
      await drain(async () => (await deliveries(p)).filter((d) => d.state === 'delivered').length === 15);
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const page: Res<{ items: Delivery[]; nextCursor: string | null }> = await call(
          'GET',
          `/v1/notification-deliveries?providerId=${p}&limit=4${cursor ? `&cursor=${cursor}` : ''}`,
          ops,
        );
        expect(page.status).toBe(200);
        expect(page.body.items.length).toBeLessThanOrEqual(4);
        seen.push(...page.body.items.map((d) => d.id));
        cursor = page.body.nextCursor;
      } while (cursor);
      expect(seen).toHaveLength(15);
      expect(new Set(seen).size).toBe(15);
      expect([...seen].sort((a, b) => Number(b) - Number(a))).toStrictEqual(seen);
      // Creation times within one millisecond: the cursor must keep the microseconds.
      await gw.query(
        `UPDATE notification_channels c SET created_at = '2026-01-01T00:00:00.000100Z'::timestamptz + (x.n * interval '1 microsecond')
           FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM notification_channels WHERE provider_id = $1) x WHERE c.id = x.id`,
        [p],
      );
      const first = await call<{ items: { id: string }[]; nextCursor: string }>('GET', `/v1/notification-channels?providerId=${p}&limit=2`, ops);
      const second = await call<{ items: { id: string }[]; nextCursor: string | null }>(
        'GET',
        `/v1/notification-channels?providerId=${p}&limit=2&cursor=${first.body.nextCursor}`,
        ops,
      );
      expect([...first.body.items, ...second.body.items].map((c) => c.id).length).toBe(3);
      expect(new Set([...first.body.items, ...second.body.items].map((c) => c.id)).size).toBe(3);
      expect(second.body.nextCursor).toBeNull();
      const bad = await call<ErrorBody>('GET', `/v1/notification-deliveries?cursor=${first.body.nextCursor}`, ops);
      expect(bad.status).toBe(400);
      expect(bad.body.error.details?.[0].field).toBe('query.cursor');
    });

    it('deletes finished deliveries past the retention, keeping pending ones', async () => {
      const p = await provider('n-trim');
      const [sn1, sn2] = await terminals(p, 2);
      await webhook(p, 'n16');
      await raise(sn1, p);
      await drain(async () => (await deliveries(p))[0]?.state === 'delivered');
      await gw.query(`UPDATE notification_deliveries SET updated_at = now() - interval '31 days' WHERE provider_id = $1`, [p]);
      receiver.plan('n16', [500, 500, 500]);
      await raise(sn2, p);
      await service().fanOut();
      await gw.query(
        `UPDATE notification_deliveries SET updated_at = now() - interval '31 days', next_attempt_at = now() + interval '1 hour' WHERE provider_id = $1 AND sn = $2`,
        [p, sn2],
      );
      expect(await service().trim(new Date(), true)).toBeGreaterThanOrEqual(1);
      const left = await deliveries(p);
      expect(left.map((d) => d.sn)).toStrictEqual([sn2]);
      expect(left[0].state).toBe('pending');
    });

    it('holds deliveries during quiet hours and sends ONE digest when the window ends', async () => {
      const p = await provider('n-quiet');
      const sns = await terminals(p, 3);
      const hhmm = (d: Date) => d.toISOString().slice(11, 16);
      const now = Date.now();
      await webhook(p, 'n8', { quietHours: { start: hhmm(new Date(now - 3_600_000)), end: hhmm(new Date(now + 3_600_000)) }, timeZone: 'UTC' });
      for (const sn of sns) await raise(sn, p, 'battery_low', 'warning');
      await service().runOnce();
      await service().runOnce();
      expect(receiver.byName('n8')).toHaveLength(0);
      expect((await deliveries(p)).map((d) => d.state)).toStrictEqual(['held', 'held', 'held']);
      // The window ends.
      await gw.query(`UPDATE notification_deliveries SET next_attempt_at = now() - interval '1 second' WHERE provider_id = $1 AND state = 'held'`, [p]);
      await drain(() => receiver.byName('n8').length === 1);
      await service().runOnce();
      const got = receiver.byName('n8');
      expect(got).toHaveLength(1);
      expect(got[0].json).toMatchObject({ type: 'digest', digest: { type: 'quiet', total: 3 } });
      const list = await deliveries(p);
      expect(list.filter((d) => d.kind === 'digest').map((d) => d.state)).toStrictEqual(['delivered']);
      expect(list.filter((d) => d.state === 'bundled')).toHaveLength(3);
    });

    it('serves the renewal digest as JSON and CSV, and emails it daily once per provider and day', async () => {
      const p = await provider('n-digest');
      const day = (offset: number) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);
      const [soon] = await terminals(p, 1, { expiresOn: day(5) });
      const [later] = await terminals(p, 1, { expiresOn: day(60) });
      const [failed] = await terminals(p, 1, { expiresOn: day(200), renewalResult: 'failed' });
      const json = await call<{ total: number; items: { sn: string; daysLeft: number }[] }>('GET', `/v1/providers/${p}/renewal-digest`, ops);
      expect(json.status).toBe(200);
      expect(json.body.items.map((i) => i.sn).sort()).toStrictEqual([soon, failed].sort());
      expect(json.body.total).toBe(2);
      const csv = await call('GET', `/v1/providers/${p}/renewal-digest?format=csv`, ops);
      expect(csv.headers.get('content-type')).toMatch(/^text\/csv/);
      expect(csv.text.split('\r\n')[0]).toBe('sn,tid,mid,model,planStatus,expiresOn,daysLeft,autoRenew,renewalResult,renewalReason');
      expect(csv.text).toContain(soon);
      expect(csv.text).not.toContain(later);
      const accept = await call('GET', `/v1/providers/${p}/renewal-digest`, ops, undefined, { accept: 'text/csv' });
      expect(accept.headers.get('content-type')).toMatch(/^text\/csv/);

      const mail = await channel(p, { type: 'email', emailTo: ['digest-n9@example.test'] });
      const digestSub = await subscribe(mail, { dailyDigest: true, rules: ['tx_reversal'] });
      expect(await service().dailyDigest(new Date(), true)).toBeGreaterThanOrEqual(1);
      expect(await service().dailyDigest(new Date(), true)).toBe(0);
      await drain(() => smtp.mails.some((m) => m.to.includes('digest-n9@example.test')));
      const sent = smtp.mails.filter((m) => m.to.includes('digest-n9@example.test'));
      expect(sent).toHaveLength(1);
      const attachment = mimePart(sent[0].raw, 'filename=renewal-digest-');
      expect(attachment).toContain(soon);
      expect(attachment).toContain(failed);
      expect(attachment).not.toContain(later);
      // Later tests count digest runs: this provider stops wanting one.
      expect((await call('PATCH', `/v1/notification-subscriptions/${digestSub}`, ops, { dailyDigest: false })).status).toBe(200);
    });

    it('keeps channels, subscriptions, deliveries and digests inside the provider key\u2019s subtree', async () => {
      const a = await provider('n-iso-a');
      const b = await provider('n-iso-b');
      const [snB] = await terminals(b, 1);
      const keyA = await gw.issueKey('a admin', Role.ProviderAdmin, a);
      const viewerA = await gw.issueKey('a viewer', Role.ProviderViewer, a);
      const keyB = await gw.issueKey('b admin', Role.ProviderAdmin, b);
      const chA = await channel(a, { type: 'webhook', url: `${receiver.url}/hook/n10a`, secret: 'a-secret-0123456789abcdef' }, keyA);
      receiver.secrets.set('n10b', 'b-secret-0123456789abcdef');
      const chB = await channel(b, { type: 'webhook', url: `${receiver.url}/hook/n10b`, secret: 'b-secret-0123456789abcdef' }, keyB);
      const subB = await subscribe(chB, {}, keyB);
      await raise(snB, b);
      await drain(() => receiver.byName('n10b').length === 1);
      const [delB] = await deliveries(b, keyB);

      expect((await call('GET', `/v1/notification-channels/${chB}`, keyA)).status).toBe(404);
      expect((await call('PATCH', `/v1/notification-channels/${chB}`, keyA, { name: 'x' })).status).toBe(404);
      expect((await call('DELETE', `/v1/notification-channels/${chB}`, keyA)).status).toBe(404);
      expect((await call('POST', `/v1/notification-channels/${chB}/test`, keyA, {})).status).toBe(404);
      expect((await call('GET', `/v1/notification-subscriptions/${subB}`, keyA)).status).toBe(404);
      expect((await call('POST', '/v1/notification-subscriptions', keyA, { channelId: chB })).status).toBe(404);
      expect((await call('POST', '/v1/notification-channels', keyA, { providerId: b, type: 'email', name: 'x', emailTo: ['x@example.test'] })).status).toBe(
        404,
      );
      expect((await call('GET', `/v1/notification-deliveries/${delB.id}/attempts`, keyA)).status).toBe(404);
      expect((await call('GET', `/v1/notification-deliveries?providerId=${b}`, keyA)).status).toBe(404);
      expect((await call('GET', `/v1/providers/${b}/renewal-digest`, keyA)).status).toBe(404);
      const listA = await call<{ items: { id: string }[] }>('GET', '/v1/notification-channels?limit=500', keyA);
      expect(listA.body.items.map((c) => c.id)).toStrictEqual([chA]);
      const delA = await call<{ items: { id: string }[] }>('GET', '/v1/notification-deliveries?limit=500', keyA);
      expect(delA.body.items.map((d) => d.id)).not.toContain(delB.id);
      // Viewers read, admins write.
      expect((await call('GET', '/v1/notification-channels', viewerA)).status).toBe(200);
      expect((await call('POST', '/v1/notification-channels', viewerA, { type: 'email', name: 'x', emailTo: ['x@example.test'] })).status).toBe(403);
      // Strict input.
      const unknownField = await call<ErrorBody>('POST', '/v1/notification-channels', keyA, {
        type: 'email',
        name: 'x',
        emailTo: ['x@example.test'],
        colour: 'red',
      });
      expect(unknownField.status).toBe(400);
      expect((await call<ErrorBody>('GET', '/v1/notification-deliveries?stat=failed', keyA)).status).toBe(400);
      const ftp = await call<ErrorBody>('POST', '/v1/notification-channels', keyA, { type: 'webhook', name: 'x', url: 'ftp://example.com/x' });
      expect(ftp.status).toBe(400);
      expect(ftp.body.error.details?.[0].field).toBe('body.url');
      // Audited.
      const audit = await call<{ items: { action: string; after: unknown }[] }>('GET', '/v1/audit?action=notification-channel.create', keyA);
      expect(audit.body.items.length).toBeGreaterThanOrEqual(1);
      expect(JSON.stringify(audit.body.items)).not.toContain('a-secret-');
    });

    it('creates no delivery twice when a fan-out is repeated, and survives a notifier stopped before delivering', async () => {
      const p = await provider('n-crash');
      const [sn1, sn2] = await terminals(p, 2);
      await webhook(p, 'n11');
      await raise(sn1, p);
      // Stopped with the event committed and nothing fanned out: a new process picks it up.
      await gw.close();
      gw = await startTestGateway(db, env);
      ops = await gw.issueKey('ops2', Role.OpsAdmin);
      // Fanned out and claimed, then the worker died before recording: the lease expires, it is sent again (same key).
      await raise(sn2, p);
      await service().fanOut();
      await gw.query(
        `UPDATE notification_deliveries SET state = 'sending', attempts = attempts + 1, lease_until = now() - interval '1 second' WHERE provider_id = $1 AND sn = $2`,
        [p, sn2],
      );
      await drain(async () => (await deliveries(p)).filter((d) => d.state === 'delivered').length === 2);
      await gw.query(`UPDATE alert_events SET dispatched_at = NULL WHERE provider_id = $1`, [p]);
      await service().runOnce();
      await service().runOnce();
      expect(await deliveries(p)).toHaveLength(2);
      expect(
        receiver
          .byName('n11')
          .map((r) => r.json?.alert && (r.json.alert as { sn: string }).sn)
          .sort(),
      ).toStrictEqual([sn1, sn2].sort());
    });

    if (kind === 'postgres') {
      it('splits work between two notifier instances without duplicate deliveries', async () => {
        const p = await provider('n-two');
        const sns = await terminals(p, 40);
        await webhook(p, 'n12');
        const other = await startTestGateway(db, env);
        try {
          // Escalations are never rolled up: 40 separate messages.
          for (const sn of sns) await raise(sn, p, 'battery_low', 'critical', 'escalated');
          for (let i = 0; i < 100 && receiver.byName('n12').length < 40; i++) {
            await Promise.all([service().runOnce(), service(other).runOnce(), service().runOnce()]);
          }
          const got = receiver.byName('n12');
          expect(got).toHaveLength(40);
          expect(new Set(got.map((r) => r.json?.id)).size).toBe(40);
          expect(new Set(got.map((r) => (r.json?.alert as { sn: string }).sn)).size).toBe(40);
          const [row] = await gw.query<{ n: string }>(`SELECT count(*) AS n FROM notification_deliveries WHERE provider_id = $1`, [p]);
          expect(Number(row.n)).toBe(40);

          // The daily digest, started by both workers at once: one run, one message.
          const d = await provider('n-two-digest');
          await terminals(d, 1, { expiresOn: new Date(Date.now() + 3 * 86_400_000).toISOString().slice(0, 10) });
          await webhook(d, 'n12d', { dailyDigest: true, rules: ['tx_reversal'] });
          const runs = await Promise.all([service().dailyDigest(new Date(), true), service(other).dailyDigest(new Date(), true)]);
          expect(runs[0] + runs[1]).toBe(1);
          for (let i = 0; i < 50 && receiver.byName('n12d').length === 0; i++) {
            await Promise.all([service().runOnce(), service(other).runOnce()]);
          }
          await Promise.all([service().runOnce(), service(other).runOnce()]);
          expect(receiver.byName('n12d')).toHaveLength(1);
          expect(receiver.byName('n12d')[0].json).toMatchObject({ type: 'digest', digest: { type: 'renewal', total: 1 } });
        } finally {
          await other.close();
        }
      });

      it('runs in the worker process composition alone', async () => {
        const p = await provider('n-worker');
        const [sn] = await terminals(p, 1);
        await webhook(p, 'n14');
        const config = loadConfig(
          {},
          { ...env, NODE_ENV: 'test', CREDENTIAL_PEPPER: TEST_PEPPER, LOG_LEVEL: 'silent', DATABASE_URL: db.url, HTTP_HOST: '127.0.0.1', HTTP_PORT: '0' },
        );
        const worker = await createApp({ name: 'worker', config, composition: WORKER, logger: createLogger({ level: 'silent', name: 'worker' }) });
        try {
          await raise(sn, p);
          const notifier = worker.app.get(NotificationsService);
          for (let i = 0; i < 100 && receiver.byName('n14').length === 0; i++) {
            await notifier.runOnce();
            await sleep(20);
          }
          expect(receiver.byName('n14')).toHaveLength(1);
          expect(receiver.byName('n14')[0].signatureOk).toBe(true);
        } finally {
          await worker.close();
        }
      });

      it('refuses loopback and private targets when private targets are not allowed (create: 400, send: failed)', async () => {
        const strict = await startTestGateway(db, { ...env, NOTIFY_ALLOW_PRIVATE_TARGETS: 'false' });
        try {
          const key = await strict.issueKey('strict ops', Role.OpsAdmin);
          const p = await provider('n-ssrf');
          const [sn] = await terminals(p, 1);
          for (const url of [
            `${receiver.url}/hook/n13`,
            'http://localhost/x',
            'http://169.254.169.254/latest',
            'http://10.0.0.1/',
            'http://[::1]/',
            'http://[fe80::1]/',
          ]) {
            const res = await fetch(`${strict.httpUrl}/v1/notification-channels`, {
              method: 'POST',
              headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
              body: JSON.stringify({ providerId: p, type: 'webhook', name: 'x', url }),
            });
            expect(res.status).toBe(400);
            const body = (await res.json()) as ErrorBody;
            expect(body.error.details?.[0]).toMatchObject({ field: 'body.url' });
          }
          // A channel that got in anyway (e.g. DNS changed since): the send is refused and the delivery fails.
          const [c] = await gw.query<{ id: string }>(
            `INSERT INTO notification_channels (provider_id, type, name, url, secret) VALUES ($1, 'webhook', 'x', $2, 'k') RETURNING id::text AS id`,
            [p, `${receiver.url.replace('127.0.0.1', 'localhost')}/hook/n13`],
          );
          await gw.query(`INSERT INTO notification_subscriptions (provider_id, channel_id, min_severity) VALUES ($1, $2, 'info')`, [p, c.id]);
          await raise(sn, p);
          await drain(async () => (await deliveries(p))[0]?.state === 'failed', strict);
          const [d] = await deliveries(p);
          expect(d.lastError).toMatch(/loopback, private/);
          expect(d.attempts).toBe(1);
          expect(receiver.byName('n13')).toHaveLength(0);
        } finally {
          await strict.close();
        }
      });
    }
  });
}
