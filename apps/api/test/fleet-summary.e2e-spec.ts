import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { FLEET_SUMMARY, RollupRefreshRepository } from '#ingest';
import { API } from '#runtime';
import { startTestDatabase, startTestGateway, testDbKinds, type TestDatabase, type TestGateway } from '#testing';
import { apiClient } from './api-client.js';

interface Summary {
  asOf: string;
  total: number;
  byOnline: { online: number; offline: number; never: number };
  byPlanStatus: Record<string, number>;
  byFirmwareVersion: { top: { version: string; count: number }[]; other: number; unknown: number };
  byModel: { model: string; count: number }[];
  planExpiringWithin30Days: number;
  autoRenewOff: number;
  autoRenewFailed: number;
  batteryBelow20: number;
  signalBelowMinus110: number;
  alerts: { open: number };
}
interface Provider {
  id: string;
}

/** Everything but the time of the counts. */
const counts = ({ asOf: _asOf, ...rest }: Summary) => rest;

for (const kind of testDbKinds()) {
  describe(`fleet summary from the rollup snapshot on ${kind}`, () => {
    let db: TestDatabase;
    let gw: TestGateway;
    let call: ReturnType<typeof apiClient>;
    let refresher: RollupRefreshRepository;
    let ops: string;
    let viewerA: string;
    let spA: Provider;
    let spA1: Provider;
    let spB: Provider;

    const summary = async (key: string, query = ''): Promise<Summary> => {
      const res = await call<Summary>('GET', `/v1/fleet/summary${query}`, key);
      expect(res.status).toBe(200);
      return res.body;
    };
    /** What the worker does every few seconds. */
    const rebuild = async (): Promise<string> => {
      expect(await refresher.acquire(FLEET_SUMMARY, 'test-worker', 60_000, 0)).not.toBeNull();
      const asOf = await refresher.rebuildFleetSummary('test-worker');
      if (!asOf) throw new Error('lease lost');
      return asOf.toISOString();
    };
    const scopes = () => [
      { key: ops, query: '' },
      { key: viewerA, query: '' },
      { key: ops, query: `?providerId=${spA1.id}` },
      { key: ops, query: `?providerId=${spB.id}` },
    ];

    beforeAll(async () => {
      db = await startTestDatabase(kind);
      gw = await startTestGateway(db, { API_RATE_LIMIT_PER_MINUTE: '1000000' }, { composition: API });
      call = apiClient(gw.httpUrl);
      refresher = new RollupRefreshRepository(gw.dataSource);
      ops = await gw.issueKey('ops-key');
      const mk = async (code: string, parentId?: string) => (await call<Provider>('POST', '/v1/providers', ops, { code, name: code, parentId })).body;
      spA = await mk('fs-a');
      spA1 = await mk('fs-a1', spA.id);
      spB = await mk('fs-b');
      viewerA = await gw.issueKey('viewer-a', 'provider-viewer', spA.id);
      const terminals: [string, string, string][] = [
        ['FSUMA001', 'EP-T1', spA.id],
        ['FSUMA002', 'EP-T1', spA.id],
        ['FSUMA003', 'MP-S3', spA.id],
        ['FSUMA101', 'MP-S3', spA1.id],
        ['FSUMA102', 'QR-Mini', spA1.id],
        ['FSUMB001', 'EP-T1', spB.id],
        ['FSUMB002', 'EP-T1', spB.id],
      ];
      for (const [sn, model, providerId] of terminals) expect((await call('POST', '/v1/terminals', ops, { sn, model, providerId })).status).toBe(201);
      await gw.query(
        `INSERT INTO terminal_state (sn, online, last_connected_at, last_heartbeat_at, plan_status, firmware_version, battery_pct, rsrp, plan_expires_on, plan_auto_renew, renewal_result)
         VALUES ('FSUMA001', true,  now(), now(), 'active',    'V2.0.0', 15,  -115, current_date + 5,  false, 'failed'),
                ('FSUMA002', false, now(), now(), 'grace',     'V2.0.0', 90,  -80,  current_date + 90, true,  'ok'),
                ('FSUMA101', true,  now(), now(), 'expired',   'V1.9.0', 19,  -111, current_date - 1,  true,  NULL),
                ('FSUMB001', false, NULL,  NULL,  NULL,        NULL,     NULL, NULL, NULL,             NULL,  NULL),
                ('FSUMB002', true,  now(), now(), 'suspended', 'V2.0.0', 50,  -95,  current_date + 30, false, NULL)`,
      );
    });
    afterAll(async () => {
      await gw?.close();
      await db?.stop();
    });

    let live: Summary[] = [];

    it('without a snapshot (no worker yet) counts live, exactly, per scope', async () => {
      const t0 = Date.now();
      live = [];
      for (const s of scopes()) live.push(await summary(s.key, s.query));
      for (const s of live) expect(Date.parse(s.asOf) >= t0 - 1_000).toBe(true);
      const [all, a, a1, b] = live;
      expect(counts(all)).toMatchObject({
        total: 7,
        byOnline: { online: 3, offline: 1, never: 3 },
        byPlanStatus: { active: 1, grace: 1, suspended: 1, expired: 1, unknown: 3 },
        byFirmwareVersion: {
          top: [
            { version: 'V2.0.0', count: 3 },
            { version: 'V1.9.0', count: 1 },
          ],
          other: 0,
          unknown: 3,
        },
        byModel: [
          { model: 'EP-T1', count: 4 },
          { model: 'MP-S3', count: 2 },
          { model: 'QR-Mini', count: 1 },
        ],
        planExpiringWithin30Days: 2,
        autoRenewOff: 2,
        autoRenewFailed: 1,
        batteryBelow20: 2,
        signalBelowMinus110: 2,
      });
      expect([a.total, a1.total, b.total]).toStrictEqual([5, 2, 2]);
      expect(a1.byModel).toStrictEqual([
        { model: 'MP-S3', count: 1 },
        { model: 'QR-Mini', count: 1 },
      ]);
      expect(b.byOnline).toStrictEqual({ online: 1, offline: 0, never: 1 });
    });

    it('from the snapshot: the same counts in every scope, with the snapshot time as asOf', async () => {
      const asOf = await rebuild();
      const fromSnapshot: Summary[] = [];
      for (const s of scopes()) fromSnapshot.push(await summary(s.key, s.query));
      expect(fromSnapshot.map((s) => s.asOf)).toStrictEqual(fromSnapshot.map(() => asOf));
      expect(fromSnapshot.map(counts)).toStrictEqual(live.map(counts));
    });

    it('reported state may lag until the next rebuild; asOf says how old it is', async () => {
      const asOf = await rebuild();
      await gw.query(`UPDATE terminal_state SET online = true, last_connected_at = now() WHERE sn = 'FSUMA002'`);
      const stale = await summary(ops);
      expect([stale.asOf, stale.byOnline.online]).toStrictEqual([asOf, 3]);
      const next = await rebuild();
      const fresh = await summary(ops);
      expect([fresh.asOf, fresh.byOnline.online]).toStrictEqual([next, 4]);
      expect(Date.parse(next) >= Date.parse(asOf)).toBe(true);
    });

    it('registered counts are current between rebuilds: a registration or a move shows at once, scoped', async () => {
      const asOf = await rebuild();
      expect((await call('POST', '/v1/terminals', ops, { sn: 'FSUMA004', model: 'QR-Mini', providerId: spA1.id })).status).toBe(201);
      const afterRegister = await summary(ops, `?providerId=${spA1.id}`);
      expect([afterRegister.asOf, afterRegister.total, afterRegister.byOnline.never, afterRegister.byPlanStatus.unknown]).toStrictEqual([asOf, 3, 2, 2]);
      expect(afterRegister.byModel).toStrictEqual([
        { model: 'QR-Mini', count: 2 },
        { model: 'MP-S3', count: 1 },
      ]);
      expect((await call('POST', '/v1/terminals/FSUMA004/move', ops, { providerId: spB.id })).status).toBe(200);
      const [a1, b] = [await summary(ops, `?providerId=${spA1.id}`), await summary(ops, `?providerId=${spB.id}`)];
      expect([a1.asOf, a1.total, b.asOf, b.total]).toStrictEqual([asOf, 2, asOf, 3]);
      // A terminal with reported state moved out: its state counts under the old provider until the
      // next rebuild, and the derived counts do not go below 0.
      expect((await call('POST', '/v1/terminals/FSUMA101/move', ops, { providerId: spB.id })).status).toBe(200);
      const a1Stale = await summary(ops, `?providerId=${spA1.id}`);
      expect([a1Stale.total, a1Stale.byOnline, a1Stale.byFirmwareVersion.unknown]).toStrictEqual([1, { online: 1, offline: 0, never: 0 }, 0]);
      await rebuild();
      const a1Fresh = await summary(ops, `?providerId=${spA1.id}`);
      expect([a1Fresh.total, a1Fresh.byOnline, a1Fresh.byFirmwareVersion.unknown]).toStrictEqual([1, { online: 0, offline: 0, never: 1 }, 1]);
      const bFresh = await summary(ops, `?providerId=${spB.id}`);
      expect([bFresh.total, bFresh.byOnline.online]).toStrictEqual([4, 2]);
    });

    it('a snapshot older than FLEET_SUMMARY_MAX_AGE_MS (the worker stopped) is not used', async () => {
      const asOf = await rebuild();
      await gw.query(`UPDATE terminal_state SET online = false WHERE sn = 'FSUMA001'`);
      expect((await summary(ops)).asOf).toBe(asOf);
      await gw.query(`UPDATE rollup_refresh SET refreshed_at = refreshed_at - interval '61 seconds' WHERE name = 'fleet_summary'`);
      const liveAgain = await summary(ops);
      expect(liveAgain.asOf).not.toBe(asOf);
      expect(liveAgain.byOnline.online).toBe(3);
      expect(liveAgain.total).toBe(8);
    });
  });
}
