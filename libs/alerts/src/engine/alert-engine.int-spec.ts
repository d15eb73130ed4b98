import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { MqttClient } from 'mqtt';
import {
  connectOk,
  endClient,
  makeHeartbeat,
  publishHeartbeat,
  scrapeMetric,
  startTestDatabase,
  startTestGateway,
  testDbKinds,
  waitFor,
  type TestDatabase,
  type TestGateway,
} from '#testing';
import { AlertEvaluatorService } from './alert-evaluator.service.js';
import { AlertSweepService } from './alert-sweep.service.js';
import { CLOCK, ManualClock } from './clock.js';

interface AlertRow {
  id: string;
  rule: string;
  severity: string;
  state: string;
  occurrences: number;
  details: Record<string, unknown>;
  resolvedBy: string | null;
}

const MINUTE = 60_000;

for (const kind of testDbKinds()) {
  describe(`alert engine on ${kind}: MQTT heartbeats to alerts`, () => {
    let db: TestDatabase;
    let gw: TestGateway;
    const clock = new ManualClock();
    const clients: MqttClient[] = [];
    const SN = 'ALR00001';
    const SCHED = 'ALR00002';
    let secrets: Map<string, string>;

    const alerts = (sn: string, rule: string) =>
      gw.query<AlertRow>(
        `SELECT id::text, rule, severity, state, occurrences, details, resolved_by AS "resolvedBy" FROM alerts WHERE sn = $1 AND rule = $2 ORDER BY id`,
        [sn, rule],
      );
    const events = (sn: string, rule: string) =>
      gw.query<{ kind: string; severity: string }>(`SELECT kind, severity FROM alert_events WHERE sn = $1 AND rule = $2 ORDER BY id`, [sn, rule]);

    beforeAll(async () => {
      db = await startTestDatabase(kind);
      gw = await startTestGateway(
        db,
        // Sweeps only when the test asks.
        { ALERTS_EVAL_INTERVAL_MS: '20', ALERTS_SWEEP_INTERVAL_MS: '86400000' },
        { override: (b) => b.overrideProvider(CLOCK).useValue(clock) },
      );
      const result = await gw.registry.register([
        { sn: SN, model: 'EP-T1', tid: 'TID00001', mid: '898000000000001' },
        { sn: SCHED, model: 'EP-T2', tid: 'TID00002', mid: '898000000000002' },
      ]);
      secrets = new Map(result.credentials.map((c) => [c.sn, c.secret]));
    });
    afterAll(async () => {
      await Promise.all(clients.map((c) => endClient(c, true)));
      await gw?.close();
      await db?.stop();
    });

    it('raises from a heartbeat, deduplicates repeats, escalates, auto-resolves, and drains the queue', async () => {
      const client = await connectOk(gw.mqttUrl, SN, secrets.get(SN) ?? '');
      clients.push(client);
      const base = Date.now() - 10 * MINUTE;
      const send = (i: number, percent: number) =>
        publishHeartbeat(client, SN, makeHeartbeat({ seq: i, battery: { percent, charging: false } }, new Date(base + i * MINUTE)));

      await send(1, 15);
      const [raised] = await waitFor(
        () => alerts(SN, 'battery_low'),
        (rows) => rows.length === 1,
      );
      expect(raised).toMatchObject({ severity: 'warning', state: 'open', occurrences: 1 });
      expect(raised.details).toMatchObject({ sn: SN, tid: 'TID00001', mid: '898000000000001', model: 'EP-T1' });

      await send(2, 14);
      await send(3, 13);
      await waitFor(
        () => alerts(SN, 'battery_low'),
        (rows) => rows.length === 1 && rows[0].occurrences === 3,
      );

      await send(4, 5);
      await waitFor(
        () => alerts(SN, 'battery_low'),
        (rows) => rows[0].severity === 'critical',
      );

      await send(5, 60);
      const final = await waitFor(
        () => alerts(SN, 'battery_low'),
        (rows) => rows[0].state === 'resolved',
      );
      expect(final).toHaveLength(1);
      expect(final[0]).toMatchObject({ id: raised.id, resolvedBy: 'system', occurrences: 4 });
      expect(await events(SN, 'battery_low')).toStrictEqual([
        { kind: 'raised', severity: 'warning' },
        { kind: 'escalated', severity: 'critical' },
        { kind: 'resolved', severity: 'critical' },
      ]);

      // A retransmission (same terminal time) is stored once and evaluated once.
      await send(5, 60);
      await gw.running.app.get(AlertEvaluatorService).drain();
      const queue = await gw.query<{ n: number }>('SELECT count(*)::int AS n FROM alert_eval_queue');
      expect(queue[0].n).toBe(0);
      const cursor = await gw.query<{ at: Date }>('SELECT evaluated_through AS at FROM alert_eval_cursor WHERE sn = $1', [SN]);
      expect(cursor[0].at.getTime()).toBe(base + 5 * MINUTE);
      expect(await events(SN, 'battery_low')).toHaveLength(3);
      expect(await scrapeMetric(gw.httpUrl, 'fleet_alerts_raised_total', 'rule="battery_low",severity="warning"')).toBe(1);
      expect(await scrapeMetric(gw.httpUrl, 'fleet_alerts_resolved_total', 'rule="battery_low"')).toBe(1);
    });

    it('sweeps silent, offline and plan_expiring on the controllable clock, and resolves them when the terminal is back', async () => {
      const sweep = gw.running.app.get(AlertSweepService);
      const evaluator = gw.running.app.get(AlertEvaluatorService);
      const online = () => gw.query<{ online: boolean }>('SELECT online FROM terminal_state WHERE sn = $1', [SCHED]);
      const client = await connectOk(gw.mqttUrl, SCHED, secrets.get(SCHED) ?? '');
      const now = Date.now();
      clock.set(now);
      const hb = makeHeartbeat({ seq: 1 });
      const expires = new Date(now + 10 * 86_400_000).toISOString().slice(0, 10);
      await publishHeartbeat(client, SCHED, { ...hb, sim: { ...hb.sim, plan: { ...hb.sim.plan, expiresAt: expires } } });
      await evaluator.drain();
      // Ten days left: the heartbeat itself raises plan_expiring (info); the sweep keeps it.
      expect((await alerts(SCHED, 'plan_expiring')).map((a) => [a.severity, a.state])).toStrictEqual([['info', 'open']]);
      await sweep.sweep();
      expect(await alerts(SCHED, 'silent')).toHaveLength(0);
      expect(await alerts(SCHED, 'offline')).toHaveLength(0);

      // Connected but no heartbeat for 5 minutes (expected every 60 s, factor 3): silent.
      clock.set(now + 5 * MINUTE);
      expect((await sweep.sweep())?.finished).toBe(true);
      expect((await alerts(SCHED, 'silent')).map((a) => a.state)).toStrictEqual(['open']);
      expect(await alerts(SCHED, 'offline')).toHaveLength(0);

      // Disconnected 20 minutes ago (grace 15): offline; silent no longer applies.
      await endClient(client);
      await waitFor(online, (r) => r[0].online === false);
      clock.set(Date.now() + 20 * MINUTE);
      await sweep.sweep();
      await sweep.sweep();
      // A sweep that finds it still offline writes nothing: occurrences stay at the raise.
      expect((await alerts(SCHED, 'offline')).map((a) => [a.state, a.occurrences])).toStrictEqual([['open', 1]]);
      expect((await alerts(SCHED, 'silent')).map((a) => [a.state, a.resolvedBy])).toStrictEqual([['resolved', 'system']]);
      expect(await events(SCHED, 'offline')).toStrictEqual([{ kind: 'raised', severity: 'warning' }]);

      // Back, with a heartbeat: the next sweep resolves offline.
      const back = await connectOk(gw.mqttUrl, SCHED, secrets.get(SCHED) ?? '');
      clients.push(back);
      await publishHeartbeat(back, SCHED, { ...hb, seq: 2, ts: new Date().toISOString(), sim: { ...hb.sim, plan: { ...hb.sim.plan, expiresAt: expires } } });
      await waitFor(online, (r) => r[0].online);
      clock.set(Date.now());
      await evaluator.drain();
      await sweep.sweep();
      expect((await alerts(SCHED, 'offline')).map((a) => [a.state, a.resolvedBy])).toStrictEqual([['resolved', 'system']]);
      expect((await events(SCHED, 'offline')).map((e) => e.kind)).toStrictEqual(['raised', 'resolved']);
      expect(await alerts(SCHED, 'silent')).toHaveLength(1);
      const plan = await alerts(SCHED, 'plan_expiring');
      expect(plan.map((a) => a.state)).toStrictEqual(['open']);
      // Counted per heartbeat that confirmed it (two); the sweeps that kept it wrote nothing.
      expect(plan[0].occurrences).toBe(2);
      expect((await events(SCHED, 'plan_expiring')).map((e) => e.kind)).toStrictEqual(['raised']);
    });

    it('with ALERTS_ENABLED=false stores heartbeats but queues and evaluates nothing', async () => {
      await Promise.all(clients.splice(0).map((c) => endClient(c, true)));
      await gw.close();
      gw = await startTestGateway(db, { ALERTS_ENABLED: 'false', ALERTS_EVAL_INTERVAL_MS: '20' });
      const client = await connectOk(gw.mqttUrl, SN, secrets.get(SN) ?? '');
      clients.push(client);
      const before = await alerts(SN, 'battery_low');
      // What earlier tests' gateway left queued (a heartbeat committed as it closed) stays as it was.
      const queued = () => gw.query<{ id: string }>('SELECT id::text AS id FROM alert_eval_queue ORDER BY id');
      const queuedBefore = await queued();
      await publishHeartbeat(client, SN, makeHeartbeat({ seq: 9, battery: { percent: 3, charging: false } }));
      const stored = await gw.query<{ n: number }>('SELECT count(*)::int AS n FROM heartbeats WHERE sn = $1 AND battery_pct = 3', [SN]);
      expect(stored[0].n).toBe(1);
      await new Promise((r) => setTimeout(r, 200));
      expect(await queued()).toStrictEqual(queuedBefore);
      expect(await alerts(SN, 'battery_low')).toStrictEqual(before);
    });
  });
}
