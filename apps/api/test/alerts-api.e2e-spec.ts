import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { API } from '#runtime';
import { startTestDatabase, startTestGateway, testDbKinds, type TestDatabase, type TestGateway } from '#testing';
import { apiClient, type ApiResponse } from './api-client.js';

interface Provider {
  id: string;
  code: string;
}
interface Alert {
  id: string;
  sn: string;
  providerId: string;
  rule: string;
  severity: string;
  state: string;
  text: { title: string; body: string };
  details: Record<string, unknown>;
  firstSeenAt: string;
  acknowledgedAt: string | null;
  acknowledgedBy: string | null;
  resolvedAt: string | null;
  resolvedBy: string | null;
}
interface Page {
  items: Alert[];
  nextCursor: string | null;
}
interface ErrorBody {
  error: { code: string; message: string; details?: { field?: string; code?: string }[] };
}
interface Seeded {
  id: string;
  sn: string;
  provider: 'A' | 'A1' | 'B';
  rule: string;
  severity: string;
  state: string;
  /** first_seen_at, microseconds since the epoch (ties on purpose). */
  firstSeenUs: number;
}

const RULES = ['battery_low', 'signal_weak', 'offline', 'plan_expiring', 'firmware_outdated', 'sim_changed'];
const SEVERITIES = ['info', 'warning', 'critical'];
const A_SNS = ['ALRTA001', 'ALRTA002', 'ALRTA003', 'ALRTA101'];
const B_SNS = ['ALRTB001', 'ALRTB002'];
/** 2026-11-30T08:00:00.123456Z in microseconds. */
const BASE_US = Date.UTC(2026, 10, 30, 8) * 1000 + 123_456;
const usIso = (us: number) => `${new Date(Math.floor(us / 1000)).toISOString().slice(0, 19)}.${String(us % 1_000_000).padStart(6, '0')}Z`;

/** Newest first by first_seen_at, then id (numerically), as the list orders. */
const byFirstSeenDesc = (a: Seeded, b: Seeded) => b.firstSeenUs - a.firstSeenUs || Number(b.id) - Number(a.id);

for (const kind of testDbKinds()) {
  describe(`alerts API on ${kind}`, () => {
    let db: TestDatabase;
    let gw: TestGateway;
    let call: ReturnType<typeof apiClient>;
    let ops: string;
    let opsViewer: string;
    let adminA: string;
    let viewerA: string;
    let adminB: string;
    let spA: Provider;
    let spA1: Provider;
    let spB: Provider;
    const seeded: Seeded[] = [];

    const seed = async (s: Omit<Seeded, 'id'>, details: Record<string, unknown> = {}): Promise<Seeded> => {
      const rows = await gw.query<{ id: string }>(
        `INSERT INTO alerts (sn, provider_id, rule, severity, state, details, first_seen_at, last_seen_at, resolved_at, resolved_by)
         SELECT t.sn, t.provider_id, $2, $3, $4, $5::jsonb, $6::timestamptz, $6::timestamptz + interval '1 minute',
                CASE WHEN $4 = 'resolved' THEN $6::timestamptz + interval '2 minutes' END, CASE WHEN $4 = 'resolved' THEN 'system' END
           FROM terminals t WHERE t.sn = $1
         RETURNING id::text AS id`,
        [s.sn, s.rule, s.severity, s.state, JSON.stringify(details), usIso(s.firstSeenUs)],
      );
      const row = { ...s, id: rows[0].id };
      seeded.push(row);
      return row;
    };
    const auditCount = async (action: string, targetId: string) =>
      (await gw.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_log WHERE action = $1 AND target_id = $2`, [action, targetId]))[0].n;
    const eventCount = async (alertId: string) =>
      (await gw.query<{ n: number }>(`SELECT count(*)::int AS n FROM alert_events WHERE alert_id = $1 AND kind = 'resolved'`, [alertId]))[0].n;

    /** Every page of a list, following nextCursor. */
    const all = async (path: string, key: string): Promise<{ items: Alert[]; pages: number }> => {
      const items: Alert[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const sep = path.includes('?') ? '&' : '?';
        const res: ApiResponse<Page> = await call<Page>('GET', `${path}${cursor ? `${sep}cursor=${encodeURIComponent(cursor)}` : ''}`, key);
        expect(res.status).toBe(200);
        items.push(...res.body.items);
        cursor = res.body.nextCursor;
        pages++;
      } while (cursor && pages < 100);
      return { items, pages };
    };
    const expect400 = async (path: string, field: string, key = ops, method = 'GET', body?: unknown) => {
      const res = await call<ErrorBody>(method, path, key, body);
      expect([res.status, res.body.error?.code]).toStrictEqual([400, 'VALIDATION_FAILED']);
      // A list element is named with its index (query.state.1).
      const fields = res.body.error.details?.map((d) => (d.field ?? '').replace(/\.\d+$/, ''));
      expect(fields).toContain(field);
    };
    const inScope = (s: Seeded, scope: 'all' | 'A' | 'A1' | 'B') => scope === 'all' || s.provider === scope || (scope === 'A' && s.provider === 'A1');

    beforeAll(async () => {
      db = await startTestDatabase(kind);
      gw = await startTestGateway(db, { API_RATE_LIMIT_PER_MINUTE: '1000000' }, { composition: API });
      call = apiClient(gw.httpUrl);
      ops = await gw.issueKey('ops-key');
      const mk = async (code: string, parentId?: string) => (await call<Provider>('POST', '/v1/providers', ops, { code, name: code, parentId })).body;
      spA = await mk('al-a');
      spA1 = await mk('al-a1', spA.id);
      spB = await mk('al-b');
      opsViewer = await gw.issueKey('ops-viewer', 'ops-viewer');
      adminA = await gw.issueKey('admin-a', 'provider-admin', spA.id);
      viewerA = await gw.issueKey('viewer-a', 'provider-viewer', spA.id);
      adminB = await gw.issueKey('admin-b', 'provider-admin', spB.id);
      for (const sn of A_SNS) {
        const providerId = sn === 'ALRTA101' ? spA1.id : spA.id;
        expect((await call('POST', '/v1/terminals', ops, { sn, model: 'EP-T1', providerId })).status).toBe(201);
      }
      for (const sn of B_SNS) expect((await call('POST', '/v1/terminals', ops, { sn, model: 'EP-T1', providerId: spB.id })).status).toBe(201);
      // 30 alerts in A's subtree, 6 in B's; first_seen_at ties in threes (and microseconds matter).
      for (let i = 0; i < 30; i++) {
        const sn = A_SNS[i % 4];
        await seed(
          {
            sn,
            provider: sn === 'ALRTA101' ? 'A1' : 'A',
            rule: RULES[i % 6],
            severity: SEVERITIES[i % 3],
            // Unresolved ones on distinct (sn, rule): at most one open alert per terminal and rule.
            state: i < 8 ? (i % 2 ? 'acknowledged' : 'open') : 'resolved',
            firstSeenUs: BASE_US - Math.floor(i / 3) * 60_000_000,
          },
          { batteryPct: 10 + i },
        );
      }
      for (let i = 0; i < 6; i++) {
        await seed({
          sn: B_SNS[i % 2],
          provider: 'B',
          rule: RULES[i % 3],
          severity: 'critical',
          state: i < 2 ? 'open' : 'resolved',
          firstSeenUs: BASE_US - i * 1_000,
        });
      }
    });
    afterAll(async () => {
      await gw?.close();
      await db?.stop();
    });

    it('lists every alert in scope exactly once across pages, newest first (ties broken by id, microseconds kept)', async () => {
      for (const [key, scope] of [
        [ops, 'all'],
        [viewerA, 'A'],
        [adminB, 'B'],
      ] as const) {
        const { items, pages } = await all('/v1/alerts?limit=7', key);
        const expected = seeded.filter((s) => inScope(s, scope)).sort(byFirstSeenDesc);
        expect(items.map((a) => a.id)).toStrictEqual(expected.map((s) => s.id));
        expect(pages).toBe(Math.max(1, Math.ceil(expected.length / 7)));
      }
      const asc = await all('/v1/alerts?limit=5&order=asc', ops);
      expect(asc.items.map((a) => a.id)).toStrictEqual(
        [...seeded]
          .sort(byFirstSeenDesc)
          .reverse()
          .map((s) => s.id),
      );
      const bySeen = await all('/v1/alerts?limit=4&sort=lastSeen', ops);
      expect(new Set(bySeen.items.map((a) => a.id)).size).toBe(seeded.length);
    });

    it('filters: rule, severity, state (multi), sn, providerId (subtree), first-seen range', async () => {
      const ids = async (query: string, key = ops) => (await all(`/v1/alerts?limit=500&${query}`, key)).items.map((a) => a.id).sort();
      const want = (pred: (s: Seeded) => boolean) =>
        seeded
          .filter(pred)
          .map((s) => s.id)
          .sort();
      expect(await ids('rule=battery_low')).toStrictEqual(want((s) => s.rule === 'battery_low'));
      expect(await ids('rule=battery_low,offline&severity=critical,warning')).toStrictEqual(
        want((s) => ['battery_low', 'offline'].includes(s.rule) && s.severity !== 'info'),
      );
      expect(await ids('state=open,acknowledged')).toStrictEqual(want((s) => s.state !== 'resolved'));
      expect(await ids('state=acknowledged')).toStrictEqual(want((s) => s.state === 'acknowledged'));
      expect(await ids('sn=ALRTA002')).toStrictEqual(want((s) => s.sn === 'ALRTA002'));
      expect(await ids(`providerId=${spA1.id}`)).toStrictEqual(want((s) => s.provider === 'A1'));
      expect(await ids(`providerId=${spA.id}`, adminA)).toStrictEqual(want((s) => s.provider !== 'B'));
      const from = BASE_US - 3 * 60_000_000;
      const to = BASE_US - 60_000_000 + 1;
      expect(await ids(`from=${usIso(from)}&to=${usIso(to)}`)).toStrictEqual(want((s) => s.firstSeenUs >= from && s.firstSeenUs < to));
    });

    it('text in the chosen language; a cursor is refused under another sort or order', async () => {
      const alert = seeded.find((s) => s.rule === 'battery_low' && s.provider === 'A') as Seeded;
      const en = await call<Alert>('GET', `/v1/alerts/${alert.id}`, viewerA);
      const zh = await call<Alert>('GET', `/v1/alerts/${alert.id}?lang=zh-CN`, viewerA);
      expect([en.status, zh.status]).toStrictEqual([200, 200]);
      expect(en.body.text.title).toMatch(/battery/i);
      expect(zh.body.text.title).toMatch(/电量/);
      expect(zh.body.text.body).not.toBe(en.body.text.body);
      expect(en.body).toMatchObject({ id: alert.id, sn: alert.sn, rule: 'battery_low', providerId: spA.id, details: { batteryPct: expect.any(Number) } });
      const first = await call<Page>('GET', '/v1/alerts?limit=2', ops);
      const cursor = encodeURIComponent(first.body.nextCursor ?? '');
      await expect400(`/v1/alerts?limit=2&sort=lastSeen&cursor=${cursor}`, 'query.cursor');
      await expect400(`/v1/alerts?limit=2&order=asc&cursor=${cursor}`, 'query.cursor');
      // The terminal history has its own cursors.
      await expect400(`/v1/terminals/ALRTA001/alerts?cursor=${cursor}`, 'query.cursor');
      const forged = Buffer.from(JSON.stringify({ s: 'firstSeen:desc', v: '2026-02-30T00:00:00.000000Z', k: '1' })).toString('base64url');
      await expect400(`/v1/alerts?cursor=${forged}`, 'query.cursor');
      const badKey = Buffer.from(JSON.stringify({ s: 'firstSeen:desc', v: '2026-01-01T00:00:00.000000Z', k: '99999999999999999999' })).toString('base64url');
      await expect400(`/v1/alerts?cursor=${badKey}`, 'query.cursor');
    });

    it('validation: bad enum, unknown parameter, NUL byte, empty value, bad time range, bad id', async () => {
      await expect400('/v1/alerts?severity=fatal', 'query.severity');
      await expect400('/v1/alerts?state=open,closed', 'query.state');
      await expect400('/v1/alerts?rule=nope', 'query.rule');
      await expect400('/v1/alerts?lang=fr', 'query.lang');
      await expect400('/v1/alerts?severty=critical', 'query.severty');
      await expect400('/v1/alerts?sn=ALRT%00A001', 'query.sn');
      await expect400('/v1/alerts?rule=', 'query.rule');
      await expect400(`/v1/alerts?from=${usIso(BASE_US)}&to=${usIso(BASE_US)}`, 'query.from');
      await expect400('/v1/alerts?from=yesterday', 'query.from');
      await expect400('/v1/alerts?from=0000-01-01T00:00:00Z', 'query.from');
      await expect400('/v1/alerts?to=-000001-01-01T00:00:00Z', 'query.to');
      await expect400('/v1/alerts?limit=501', 'query.limit');
      await expect400('/v1/alerts/abc', 'params.id');
      await expect400('/v1/alerts/99999999999999999999', 'params.id');
      await expect400('/v1/alerts/1/acknowledge?x=1', 'query.x', ops, 'POST');
      await expect400('/v1/alerts/export.csv?cursor=x', 'query.cursor');
      expect((await call<ErrorBody>('GET', '/v1/alerts/999999', ops)).status).toBe(404);
    });

    it('CSV export: same filters, header row, every matching alert, text/csv', async () => {
      const res = await call('GET', '/v1/alerts/export.csv?state=open,acknowledged&lang=zh-CN', viewerA);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toContain('text/csv');
      const lines = res.text.split('\r\n').filter((l) => l !== '');
      expect(lines[0].split(',').slice(0, 6)).toStrictEqual(['id', 'sn', 'providerId', 'rule', 'severity', 'state']);
      const expected = seeded.filter((s) => inScope(s, 'A') && s.state !== 'resolved').sort(byFirstSeenDesc);
      expect(lines.slice(1).map((l) => l.split(',')[0])).toStrictEqual(expected.map((s) => s.id));
      await expect400('/v1/alerts/export.csv?severity=bad', 'query.severity', viewerA);
      expect((await call('GET', `/v1/alerts/export.csv?providerId=${spB.id}`, viewerA)).status).toBe(404);
    });

    it('tenancy: a provider key never sees another provider\u2019s alerts (404 on get, acknowledge, resolve; absent from lists and counts)', async () => {
      const bAlert = seeded.find((s) => s.provider === 'B' && s.state === 'open') as Seeded;
      for (const key of [adminA, viewerA]) {
        expect((await call<ErrorBody>('GET', `/v1/alerts/${bAlert.id}`, key)).status).toBe(404);
        expect((await call('GET', `/v1/alerts?providerId=${spB.id}`, key)).status).toBe(404);
        expect((await call('GET', `/v1/terminals/${bAlert.sn}/alerts`, key)).status).toBe(404);
      }
      expect((await call<ErrorBody>('POST', `/v1/alerts/${bAlert.id}/acknowledge`, adminA)).status).toBe(404);
      expect((await call<ErrorBody>('POST', `/v1/alerts/${bAlert.id}/resolve`, adminA)).status).toBe(404);
      expect((await gw.query<{ state: string }>(`SELECT state FROM alerts WHERE id = $1`, [bAlert.id]))[0].state).toBe('open');
      const listed = await all(`/v1/alerts?sn=${bAlert.sn}`, adminA);
      expect(listed.items).toStrictEqual([]);
      // Summary counts: A's unresolved only, by severity and by rule.
      const summary = await call<{
        alerts: { open: number; acknowledged: number; bySeverity: Record<string, number>; byRule: { rule: string; count: number }[] };
      }>('GET', '/v1/fleet/summary', viewerA);
      expect(summary.status).toBe(200);
      const live = seeded.filter((s) => inScope(s, 'A') && s.state !== 'resolved');
      expect(summary.body.alerts.open).toBe(live.length);
      expect(summary.body.alerts.acknowledged).toBe(live.filter((s) => s.state === 'acknowledged').length);
      for (const sev of SEVERITIES) expect(summary.body.alerts.bySeverity[sev]).toBe(live.filter((s) => s.severity === sev).length);
      expect(summary.body.alerts.byRule.reduce((n, r) => n + r.count, 0)).toBe(live.length);
      const all4 = await call<{ alerts: { open: number } }>('GET', '/v1/fleet/summary', ops);
      expect(all4.body.alerts.open).toBe(seeded.filter((s) => s.state !== 'resolved').length);
      const sub = await call<{ alerts: { open: number } }>('GET', `/v1/fleet/summary?providerId=${spA1.id}`, ops);
      expect(sub.body.alerts.open).toBe(seeded.filter((s) => s.provider === 'A1' && s.state !== 'resolved').length);
    });

    it('terminal history: the terminal\u2019s alerts, newest first, paginated', async () => {
      const { items } = await all('/v1/terminals/ALRTA001/alerts?limit=3', viewerA);
      expect(items.map((a) => a.id)).toStrictEqual(
        seeded
          .filter((s) => s.sn === 'ALRTA001')
          .sort(byFirstSeenDesc)
          .map((s) => s.id),
      );
      const open = await all('/v1/terminals/ALRTA001/alerts?state=open', viewerA);
      expect(open.items.every((a) => a.state === 'open')).toBe(true);
      expect((await call('GET', '/v1/terminals/NOSUCHSN/alerts', ops)).status).toBe(404);
    });

    it('lifecycle: acknowledge (who, when; repeat is a no-op), resolve with its event row, 409 on acknowledging a resolved alert; viewers 403', async () => {
      const alert = await seed({ sn: 'ALRTA003', provider: 'A', rule: 'relocated', severity: 'warning', state: 'open', firstSeenUs: BASE_US - 1 });
      expect((await call<ErrorBody>('POST', `/v1/alerts/${alert.id}/acknowledge`, viewerA)).status).toBe(403);
      expect((await call<ErrorBody>('POST', `/v1/alerts/${alert.id}/resolve`, opsViewer)).status).toBe(403);
      const ack = await call<Alert>('POST', `/v1/alerts/${alert.id}/acknowledge`, adminA);
      expect(ack.status).toBe(200);
      expect(ack.body).toMatchObject({ state: 'acknowledged', acknowledgedBy: 'admin-a', resolvedAt: null });
      expect(Date.now() - Date.parse(ack.body.acknowledgedAt ?? '')).toBeLessThan(60_000);
      expect(await auditCount('alert.acknowledge', alert.id)).toBe(1);
      const again = await call<Alert>('POST', `/v1/alerts/${alert.id}/acknowledge`, ops);
      expect(again.status).toBe(200);
      expect(again.body).toMatchObject({ state: 'acknowledged', acknowledgedBy: 'admin-a', acknowledgedAt: ack.body.acknowledgedAt });
      expect(await auditCount('alert.acknowledge', alert.id)).toBe(1);

      const resolved = await call<Alert>('POST', `/v1/alerts/${alert.id}/resolve`, ops);
      expect(resolved.status).toBe(200);
      expect(resolved.body).toMatchObject({ state: 'resolved', resolvedBy: 'ops-key', acknowledgedBy: 'admin-a' });
      const events = await gw.query<{ kind: string; sn: string; rule: string; severity: string; provider_id: string; details: Record<string, unknown> }>(
        `SELECT kind, sn, rule, severity, provider_id, details FROM alert_events WHERE alert_id = $1`,
        [alert.id],
      );
      expect(events).toStrictEqual([
        { kind: 'resolved', sn: 'ALRTA003', rule: 'relocated', severity: 'warning', provider_id: spA.id, details: { resolvedBy: 'ops-key', manual: true } },
      ]);
      const audit = await gw.query<{ before: { state: string }; after: { state: string; resolvedBy: string }; provider_id: string }>(
        `SELECT before, after, provider_id FROM audit_log WHERE action = 'alert.resolve' AND target_id = $1`,
        [alert.id],
      );
      expect(audit).toHaveLength(1);
      expect(audit[0]).toMatchObject({ before: { state: 'acknowledged' }, after: { state: 'resolved', resolvedBy: 'ops-key' }, provider_id: spA.id });

      const late = await call<ErrorBody>('POST', `/v1/alerts/${alert.id}/acknowledge`, adminA);
      expect(late.status).toBe(409);
      expect(late.body.error.code).toBe('CONFLICT');
      expect(late.body.error.details?.[0]?.code).toBe('ALERT_RESOLVED');
      const reresolve = await call<Alert>('POST', `/v1/alerts/${alert.id}/resolve`, adminA);
      expect([reresolve.status, reresolve.body.resolvedBy]).toStrictEqual([200, 'ops-key']);
      expect(await eventCount(alert.id)).toBe(1);
      expect(await auditCount('alert.resolve', alert.id)).toBe(1);
      // Resolving straight from open works too.
      const open = await seed({ sn: 'ALRTA003', provider: 'A', rule: 'relocated', severity: 'info', state: 'open', firstSeenUs: BASE_US - 2 });
      expect((await call<Alert>('POST', `/v1/alerts/${open.id}/resolve`, adminA)).body.state).toBe('resolved');
      expect(await eventCount(open.id)).toBe(1);
    });

    it('concurrent acknowledges and resolves of one alert: one change each, one event, nothing lost', async () => {
      const rounds = 15;
      for (let round = 0; round < rounds; round++) {
        const alert = await seed({ sn: 'ALRTA002', provider: 'A', rule: 'tx_reversal', severity: 'critical', state: 'open', firstSeenUs: BASE_US + round });
        const results = await Promise.all([
          call<Alert>('POST', `/v1/alerts/${alert.id}/acknowledge`, adminA),
          call<Alert>('POST', `/v1/alerts/${alert.id}/acknowledge`, ops),
          call<Alert>('POST', `/v1/alerts/${alert.id}/resolve`, adminA),
          call<Alert>('POST', `/v1/alerts/${alert.id}/resolve`, ops),
        ]);
        const [ack1, ack2, res1, res2] = results;
        for (const r of [ack1, ack2]) expect([200, 409]).toContain(r.status);
        expect([res1.status, res2.status]).toStrictEqual([200, 200]);
        expect(await eventCount(alert.id)).toBe(1);
        expect(await auditCount('alert.resolve', alert.id)).toBe(1);
        // Acknowledged at most once; an acknowledge that came after the resolve was refused.
        const acks = await auditCount('alert.acknowledge', alert.id);
        expect(acks).toBe([ack1, ack2].some((r) => r.status === 200 && r.body.state === 'acknowledged') ? 1 : 0);
        const [row] = await gw.query<{ state: string; resolved_by: string }>(`SELECT state, resolved_by FROM alerts WHERE id = $1`, [alert.id]);
        expect(row.state).toBe('resolved');
        expect(['admin-a', 'ops-key']).toContain(row.resolved_by);
        seeded[seeded.length - 1].state = 'resolved';
      }
    });

    it('alerts follow the terminal: after a move the new owner sees them and the previous owner gets 404', async () => {
      const alert = seeded.find((x) => x.sn === 'ALRTB002') as Seeded;
      expect((await call('GET', `/v1/alerts/${alert.id}`, adminB)).status).toBe(200);
      expect((await call('POST', '/v1/terminals/ALRTB002/move', ops, { providerId: spA1.id })).status).toBe(200);
      expect((await call('GET', `/v1/alerts/${alert.id}`, adminB)).status).toBe(404);
      expect((await all('/v1/alerts?sn=ALRTB002', adminB)).items).toStrictEqual([]);
      const moved = await call<Alert>('GET', `/v1/alerts/${alert.id}`, viewerA);
      expect([moved.status, moved.body.providerId]).toStrictEqual([200, spA1.id]);
      expect((await all('/v1/terminals/ALRTB002/alerts', viewerA)).items.length).toBe(seeded.filter((x) => x.sn === 'ALRTB002').length);
    });
  });
}
