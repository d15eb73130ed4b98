import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  connectTerminal,
  endClient,
  makeHeartbeat,
  publishHeartbeat,
  startTestDatabase,
  startTestGateway,
  testDbKinds,
  type TestDatabase,
  type TestGateway,
} from '#testing';
import { apiClient } from './api-client.js';

interface Provider {
  id: string;
  code: string;
}
interface Summary {
  sn: string;
  providerId: string;
  online: boolean;
  batteryPct: number | null;
  rsrp: number | null;
  planStatus: string | null;
  planExpiresOn: string | null;
  lastSeenAt: string | null;
  firmwareVersion: string | null;
  model: string;
}
interface Page {
  items: Summary[];
  nextCursor: string | null;
}
interface ErrorBody {
  error: { code: string; details?: { field: string }[] };
}

/** Deterministic state for terminal i; some terminals have never reported. */
function stateFor(i: number) {
  if (i % 10 === 9) return null;
  return {
    battery: (i * 17) % 101,
    rsrp: -70 - ((i * 7) % 55),
    plan: ['active', 'active', 'grace', 'suspended', 'expired'][i % 5],
    expiresInDays: ((i * 13) % 120) - 20,
    autoRenew: i % 4 !== 0,
    renewal: i % 6 === 0 ? 'failed' : 'success',
    firmware: ['3.2.10', '3.2.9', '3.10.0', '2.8.1'][i % 4],
    online: i % 3 !== 0,
    minutesAgo: (i * 37) % 3000,
  };
}

for (const kind of testDbKinds()) {
  describe(`fleet API: terminals on ${kind}`, () => {
    let db: TestDatabase;
    let gw: TestGateway;
    let call: ReturnType<typeof apiClient>;
    let ops: string;
    let viewerA: string;
    let adminA: string;
    let adminB: string;
    let spA: Provider;
    let spA1: Provider;
    let spB: Provider;
    const owner = new Map<string, string>();
    const all: string[] = [];

    beforeAll(async () => {
      db = await startTestDatabase(kind);
      gw = await startTestGateway(db);
      call = apiClient(gw.httpUrl);
      ops = await gw.issueKey();
      const mk = async (code: string, parentId?: string) => (await call<Provider>('POST', '/v1/providers', ops, { code, name: code, parentId })).body;
      spA = await mk('tp-a');
      spA1 = await mk('tp-a1', spA.id);
      spB = await mk('tp-b');
      const key = async (role: string, providerId: string) =>
        (await call<{ token: string }>('POST', '/v1/api-keys', ops, { name: role, role, providerId })).body.token;
      viewerA = await key('provider-viewer', spA.id);
      adminA = await key('provider-admin', spA.id);
      adminB = await key('provider-admin', spB.id);
      // 60 terminals: 20 in A, 10 in A1, 20 in B, 10 at the root; imported through the API.
      const lines = ['sn,model,tid,mid,provider,lat,lon'];
      for (let i = 0; i < 60; i++) {
        const sn = `TRM${String(i).padStart(5, '0')}`;
        const code = i < 20 ? 'tp-a' : i < 30 ? 'tp-a1' : i < 50 ? 'tp-b' : '';
        lines.push(`${sn},${i % 2 ? 'EP-T1' : 'EP-T2'},,,${code},,`);
        owner.set(sn, code);
        all.push(sn);
      }
      const imported = await call<{ credentials: unknown[]; errors: unknown[] }>('POST', '/v1/terminals/import', ops, lines.join('\n'), {
        'content-type': 'text/csv',
      });
      expect(imported.status).toBe(200);
      expect(imported.body.credentials.length).toBe(60);
      // Latest state written as ingest would (a real database, set up directly).
      for (let i = 0; i < 60; i++) {
        const s = stateFor(i);
        if (!s) continue;
        await gw.query(
          `INSERT INTO terminal_state (sn, last_heartbeat_at, battery_pct, rsrp, plan_status, plan_expires_on, plan_auto_renew, renewal_result, firmware_version, online, model)
           VALUES ($1, now() - make_interval(mins => $2), $3, $4, $5, current_date + $6::int, $7, $8, $9, $10, 'EP')`,
          [all[i], s.minutesAgo, s.battery, s.rsrp, s.plan, s.expiresInDays, s.autoRenew, s.renewal, s.firmware, s.online],
        );
      }
    });
    afterAll(async () => {
      await gw?.close();
      await db?.stop();
    });

    async function listAll(key: string, query: string, limit = 7): Promise<Summary[]> {
      const out: Summary[] = [];
      let cursor: string | null = null;
      for (let guard = 0; guard < 100; guard++) {
        const res: { status: number; body: Page; text: string } = await call<Page>(
          'GET',
          `/v1/terminals?${query}&limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
          key,
        );
        expect(res.status).toBe(200);
        out.push(...res.body.items);
        cursor = res.body.nextCursor;
        if (!cursor) return out;
      }
      throw new Error('pagination did not end');
    }

    const expectSet = (items: Summary[], predicate: (i: number) => boolean, scope: (sn: string) => boolean = () => true) => {
      const expected = all.filter((sn, i) => scope(sn) && predicate(i)).sort();
      expect(items.map((t) => t.sn).sort()).toStrictEqual(expected);
    };

    it('filters the list exactly', async () => {
      const today = (d: number) => d;
      expectSet(await listAll(ops, 'planStatus=expired'), (i) => stateFor(i)?.plan === 'expired');
      expectSet(await listAll(ops, 'planStatus=grace,suspended'), (i) => ['grace', 'suspended'].includes(stateFor(i)?.plan ?? ''));
      expectSet(await listAll(ops, 'planExpiringWithinDays=30'), (i) => {
        const s = stateFor(i);
        return !!s && s.expiresInDays >= 0 && s.expiresInDays <= today(30);
      });
      expectSet(await listAll(ops, 'autoRenew=off'), (i) => stateFor(i)?.autoRenew === false);
      expectSet(await listAll(ops, 'autoRenew=failed'), (i) => stateFor(i)?.renewal === 'failed');
      expectSet(await listAll(ops, 'batteryBelow=20'), (i) => (stateFor(i)?.battery ?? 101) < 20);
      expectSet(await listAll(ops, 'signalBelow=-110'), (i) => (stateFor(i)?.rsrp ?? 0) < -110);
      expectSet(await listAll(ops, 'online=true'), (i) => stateFor(i)?.online === true);
      expectSet(await listAll(ops, 'online=false'), (i) => stateFor(i)?.online !== true);
      expectSet(await listAll(ops, 'firmwareVersion=3.2.9'), (i) => stateFor(i)?.firmware === '3.2.9');
      // 3.10.0 > 3.2.10 > 3.2.9 numerically.
      expectSet(await listAll(ops, 'firmwareMin=3.2.10'), (i) => ['3.2.10', '3.10.0'].includes(stateFor(i)?.firmware ?? ''));
      expectSet(await listAll(ops, 'firmwareMax=3.2.9'), (i) => ['3.2.9', '2.8.1'].includes(stateFor(i)?.firmware ?? ''));
      expectSet(await listAll(ops, 'lastSeenBefore=' + encodeURIComponent(new Date(Date.now() - 1000 * 60_000).toISOString())), (i) => {
        const s = stateFor(i);
        return !s || s.minutesAgo > 1000;
      });
      expectSet(await listAll(ops, 'model=EP-T1'), (i) => i % 2 === 1);
      expectSet(await listAll(ops, `providerId=${spA.id}`), (i) => i < 30);
      expectSet(await listAll(ops, 'q=TRM0001'), (i) => i >= 10 && i < 20);
      expectSet(await listAll(ops, 'planStatus=active&batteryBelow=50&online=true'), (i) => {
        const s = stateFor(i);
        return !!s && s.plan === 'active' && s.battery < 50 && s.online;
      });
    });

    it('pages through every sort in both orders returning each terminal exactly once, in order', async () => {
      for (const sort of ['sn', 'lastSeen', 'battery', 'signal', 'planExpiry']) {
        for (const order of ['asc', 'desc']) {
          const items = await listAll(ops, `sort=${sort}&order=${order}`, 7);
          expect(items.length).toBe(60);
          expect(new Set(items.map((t) => t.sn)).size).toBe(60);
          const key = (t: Summary): number | string | null =>
            sort === 'sn' ? t.sn : sort === 'lastSeen' ? t.lastSeenAt : sort === 'battery' ? t.batteryPct : sort === 'signal' ? t.rsrp : t.planExpiresOn;
          const valued = items.filter((t) => key(t) !== null);
          // Terminals without a value come last, whatever the order.
          expect(items.slice(valued.length).every((t) => key(t) === null)).toBeTruthy();
          for (let i = 1; i < valued.length; i++) {
            const a = key(valued[i - 1]) as number | string;
            const b = key(valued[i]) as number | string;
            expect(order === 'asc' ? a <= b : a >= b).toBeTruthy();
          }
        }
      }
      const bad = await call<ErrorBody>('GET', '/v1/terminals?cursor=garbage', ops);
      expect(bad.status).toBe(400);
      const badFilter = await call<ErrorBody>('GET', '/v1/terminals?batteryBelow=abc&planStatus=broken', ops);
      expect(badFilter.status).toBe(400);
      const fields = badFilter.body.error.details?.map((d) => d.field) ?? [];
      expect(fields.includes('query.batteryBelow') && fields.some((f) => f.startsWith('query.planStatus'))).toBeTruthy();
    });

    it('exports the same rows as the list, as CSV', async () => {
      const query = 'planStatus=active,grace&sort=battery&order=desc';
      const listed = await listAll(ops, query, 500);
      const csv = await call('GET', `/v1/terminals/export.csv?${query}`, ops);
      expect(csv.status).toBe(200);
      expect(csv.headers.get('content-type') ?? '').toMatch(/text\/csv/);
      const rows = csv.text.trim().split('\n');
      const header = rows[0].split(',');
      const snCol = header.indexOf('sn');
      expect(snCol >= 0).toBeTruthy();
      expect(rows.slice(1).map((r) => r.split(',')[snCol])).toStrictEqual(listed.map((t) => t.sn));
      const scoped = await call('GET', '/v1/terminals/export.csv', viewerA);
      expect(scoped.text.trim().split('\n').length - 1).toBe(30);
    });

    it('keeps provider keys inside their subtree for every terminal endpoint', async () => {
      const mine = all[25]; // in A1, below A
      const foreign = all[35]; // in B
      const rootOwned = all[55];
      const aList = await listAll(viewerA, 'sort=sn');
      expect(aList.map((t) => t.sn)).toStrictEqual(all.slice(0, 30));
      for (const sn of [foreign, rootOwned]) {
        const attempts = [
          call<ErrorBody>('GET', `/v1/terminals/${sn}`, adminA),
          call<ErrorBody>('GET', `/v1/terminals/${sn}/telemetry`, adminA),
          call<ErrorBody>('GET', `/v1/terminals/${sn}/presence`, adminA),
          call<ErrorBody>('GET', `/v1/terminals/${sn}/providers`, adminA),
          call<ErrorBody>('POST', `/v1/terminals/${sn}/credentials/rotate`, adminA),
          call<ErrorBody>('POST', `/v1/terminals/${sn}/disable`, adminA),
          call<ErrorBody>('POST', `/v1/terminals/${sn}/enable`, adminA),
          call<ErrorBody>('POST', `/v1/terminals/${sn}/move`, adminA, { providerId: spA.id }),
        ];
        for (const res of await Promise.all(attempts)) expect(res.status).toBe(404);
      }
      expect((await call('GET', `/v1/terminals?providerId=${spB.id}`, adminA)).status).toBe(404);
      expect((await call('POST', `/v1/terminals/${mine}/move`, adminA, { providerId: spB.id })).status).toBe(404);
      expect((await call('POST', '/v1/terminals', adminA, { sn: 'SNEAKY01', model: 'X', providerId: spB.id })).status).toBe(404);
      const importForeign = await call<{ credentials: unknown[]; errors: { row: number; code: string }[] }>(
        'POST',
        '/v1/terminals/import',
        adminA,
        'sn,model,tid,mid,provider,lat,lon\nFRGN0001,EP,,,tp-b,,\nMINE0001,EP,,,tp-a1,,\n',
        { 'content-type': 'text/csv' },
      );
      expect(importForeign.body.credentials.length).toBe(1);
      expect(importForeign.body.errors.map((e) => [e.row, e.code])).toStrictEqual([[2, 'TERMINAL_UNKNOWN_PROVIDER']]);
      // B's admin does not see A's terminal either.
      expect((await call('GET', `/v1/terminals/${mine}`, adminB)).status).toBe(404);
      const summaryA = await call<{ total: number }>('GET', '/v1/fleet/summary', viewerA);
      expect(summaryA.body.total).toBe(31);
      const summaryAll = await call<{ total: number }>('GET', '/v1/fleet/summary', ops);
      expect(summaryAll.body.total).toBe(61);
    });

    it('moves a terminal within scope, keeps history and audit', async () => {
      const sn = all[3];
      const moved = await call<{ provider: { id: string } }>('POST', `/v1/terminals/${sn}/move`, adminA, { providerId: spA1.id }, { 'x-request-id': 'move-1' });
      expect(moved.status).toBe(200);
      expect(moved.body.provider.id).toBe(spA1.id);
      const history = await call<{ items: { from: { id: string } | null; to: { id: string } | null }[] }>('GET', `/v1/terminals/${sn}/providers`, viewerA);
      expect(history.body.items[0].from?.id).toBe(spA.id);
      expect(history.body.items[0].to?.id).toBe(spA1.id);
      const audit = await call<{ items: { action: string; requestId: string; before: { provider?: { id: string } }; after: { provider?: { id: string } } }[] }>(
        'GET',
        `/v1/audit?targetId=${sn}&action=terminal.move`,
        adminA,
      );
      expect(audit.body.items[0].requestId).toBe('move-1');
    });

    it('registers, rotates, disables and enables with MQTT effects, all audited', async () => {
      const created = await call<{ credentials: { username: string; secret: string } }>('POST', '/v1/terminals', adminA, {
        sn: 'NEWT0001',
        model: 'EP-T1',
        tid: 'TIDA0001',
      });
      expect(created.status).toBe(201);
      const { secret } = created.body.credentials;
      const dupSn = await call<ErrorBody>('POST', '/v1/terminals', adminA, { sn: 'NEWT0001', model: 'EP-T1' });
      expect(dupSn.status).toBe(409);
      const dupTid = await call<ErrorBody>('POST', '/v1/terminals', adminA, { sn: 'NEWT0002', model: 'EP-T1', tid: 'TIDA0001' });
      expect(dupTid.status).toBe(409);
      const invalid = await call<ErrorBody>('POST', '/v1/terminals', adminA, { sn: 'x', model: '' });
      expect(invalid.status).toBe(400);
      expect(invalid.body.error.details?.map((d) => d.field).sort()).toStrictEqual(['body.model', 'body.sn']);
      expect((await call('POST', '/v1/terminals', viewerA, { sn: 'NEWT0003', model: 'X' })).status).toBe(403);

      const session = await connectTerminal(gw.mqttUrl, { clientId: 'NEWT0001', username: 'NEWT0001', password: secret });
      expect(session.ok).toBe(true);
      if (!session.ok) return;
      session.client.on('error', () => undefined);
      await publishHeartbeat(session.client, 'NEWT0001', makeHeartbeat({ seq: 1 }, new Date(Date.now() - 60_000)));
      const detail = await call<{ state: { seq: number } | null; online: boolean }>('GET', '/v1/terminals/NEWT0001', viewerA);
      expect(detail.status).toBe(200);
      const telemetry = await call<{ buckets?: unknown[] }>('GET', '/v1/terminals/NEWT0001/telemetry', viewerA);
      expect(telemetry.status).toBe(200);
      const closed = new Promise<void>((resolve) => session.client.once('close', () => resolve()));
      const disabled = await call('POST', '/v1/terminals/NEWT0001/disable', adminA);
      expect(disabled.status).toBe(200);
      await closed; // the live session is cut at once
      const refused = await connectTerminal(gw.mqttUrl, { clientId: 'NEWT0001', username: 'NEWT0001', password: secret });
      expect(refused.ok).toBe(false);
      expect((await call('POST', '/v1/terminals/NEWT0001/enable', adminA)).status).toBe(200);
      const rotated = await call<{ secret: string }>('POST', '/v1/terminals/NEWT0001/credentials/rotate', adminA);
      expect(rotated.status).toBe(200);
      const withNew = await connectTerminal(gw.mqttUrl, { clientId: 'NEWT0001', username: 'NEWT0001', password: rotated.body.secret });
      expect(withNew.ok).toBe(true);
      if (withNew.ok) await endClient(withNew.client);
      const audit = await call<{ items: { action: string; after: unknown }[] }>('GET', '/v1/audit?targetId=NEWT0001', adminA);
      expect(audit.body.items.map((e) => e.action).reverse()).toStrictEqual([
        'terminal.create',
        'terminal.disable',
        'terminal.enable',
        'terminal.rotate_credentials',
      ]);
      expect(!JSON.stringify(audit.body.items).includes(rotated.body.secret)).toBeTruthy();
      expect(!JSON.stringify(audit.body.items).includes(secret)).toBeTruthy();
    });

    it('city and region: CSV import and create set them, PATCH changes or clears them (audited), the list filters by them', async () => {
      const csv = 'sn,model,city,region\nGEO00001,EP,Hangzhou,Zhejiang\nGEO00002,EP,Shanghai,Shanghai\nGEO00003,EP, Ningbo,Zhejiang\n';
      const imported = await call<{ credentials: { sn: string }[]; errors: { row: number; code: string }[] }>('POST', '/v1/terminals/import', adminA, csv, {
        'content-type': 'text/csv',
      });
      // CSV fields are trimmed, so " Ningbo" is Ningbo.
      expect(imported.body.credentials.map((c) => c.sn)).toStrictEqual(['GEO00001', 'GEO00002', 'GEO00003']);
      const created = await call<{ terminal: { city: string | null; region: string | null } }>('POST', '/v1/terminals', adminA, {
        sn: 'GEO00004',
        model: 'EP',
        city: 'Wenzhou',
        region: 'Zhejiang',
      });
      expect(created.status).toBe(201);
      expect(created.body.terminal).toMatchObject({ city: 'Wenzhou', region: 'Zhejiang' });
      expect((await call('POST', '/v1/terminals', adminA, { sn: 'GEO00005', model: 'EP', city: 'x'.repeat(65) })).status).toBe(400);

      const zhejiang = await call<{ items: { sn: string; city: string | null }[] }>('GET', '/v1/terminals?region=Zhejiang', adminA);
      expect(zhejiang.body.items.map((t) => [t.sn, t.city])).toStrictEqual([
        ['GEO00001', 'Hangzhou'],
        ['GEO00003', 'Ningbo'],
        ['GEO00004', 'Wenzhou'],
      ]);
      expect((await call<Page>('GET', '/v1/terminals?city=Shanghai&region=Shanghai', adminA)).body.items.map((t) => t.sn)).toStrictEqual(['GEO00002']);
      expect((await call('GET', '/v1/terminals?city=', adminA)).status).toBe(400);

      const moved = await call<{ city: string | null; region: string | null }>('PATCH', '/v1/terminals/GEO00002', adminA, {
        city: 'Suzhou',
        region: 'Jiangsu',
      });
      expect(moved).toMatchObject({ status: 200, body: { city: 'Suzhou', region: 'Jiangsu' } });
      expect((await call<{ city: string | null; region: string | null }>('PATCH', '/v1/terminals/GEO00002', adminA, { city: null })).body).toMatchObject({
        city: null,
        region: 'Jiangsu',
      });
      expect((await call('PATCH', '/v1/terminals/GEO00002', adminA, {})).status).toBe(400);
      expect((await call('PATCH', '/v1/terminals/GEO00002', adminA, { city: 'x', model: 'EP-T9' })).status).toBe(400);
      expect((await call('PATCH', '/v1/terminals/GEO00002', viewerA, { city: 'x' })).status).toBe(403);
      expect((await call('PATCH', '/v1/terminals/GEO00002', adminB, { city: 'x' })).status).toBe(404);
      const audit = await call<{ items: { action: string; before: { city: string | null }; after: { city: string | null; region: string | null } }[] }>(
        'GET',
        '/v1/audit?targetId=GEO00002',
        adminA,
      );
      const updates = audit.body.items.filter((e) => e.action === 'terminal.update').reverse();
      expect(updates.map((e) => [e.before.city, e.after.city, e.after.region])).toStrictEqual([
        ['Shanghai', 'Suzhou', 'Jiangsu'],
        ['Suzhou', null, 'Jiangsu'],
      ]);
    });

    it('imports CSV keeping valid rows, reporting bad ones, idempotent on SN', async () => {
      const csv = 'sn,model,tid,mid,provider,lat,lon\nIMP00001,EP,,,tp-a,,\nbad!,EP,,,,,\nIMP00002,EP,,,nope,,\n\nIMP00003,EP\n';
      const first = await call<{ credentials: { sn: string }[]; errors: { row: number; code: string }[] }>('POST', '/v1/terminals/import', adminA, csv, {
        'content-type': 'text/csv',
      });
      expect(first.status).toBe(200);
      expect(first.body.credentials.map((c) => c.sn)).toStrictEqual(['IMP00001']);
      expect(first.body.errors.map((e) => e.row)).toStrictEqual([3, 4, 6]);
      const again = await call<{ credentials: unknown[]; errors: { code: string }[] }>('POST', '/v1/terminals/import', adminA, csv, {
        'content-type': 'text/csv',
      });
      expect(again.body.credentials.length).toBe(0);
      expect(again.body.errors[0].code).toBe('TERMINAL_ALREADY_EXISTS');
    });
  });
}
