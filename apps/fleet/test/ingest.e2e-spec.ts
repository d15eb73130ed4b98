import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { topics } from '#contracts';
import {
  connectOk,
  connectTerminal,
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

const metric = (gw: TestGateway, name: string, labels = '') => scrapeMetric(gw.httpUrl, name, labels);

const minutesAgo = (m: number) => new Date(Date.now() - m * 60_000);

for (const kind of testDbKinds()) {
  describe(`gateway spine on ${kind}`, () => {
    let db: TestDatabase;
    let gw: TestGateway;
    let secrets: Map<string, string>;
    const SN = ['SPN0001', 'SPN0002', 'SPN0003', 'SPN0004', 'SPN0005', 'SPN0006', 'SPN0007', 'SPN0008'];

    beforeAll(async () => {
      db = await startTestDatabase(kind);
      gw = await startTestGateway(db);
      secrets = await gw.register(SN);
    });
    afterAll(async () => {
      await gw?.close();
      await db?.stop();
    });

    describe('authentication', () => {
      it('accepts a registered terminal whose client id, username and secret match', async () => {
        const client = await connectOk(gw.mqttUrl, SN[0], secrets.get(SN[0]) ?? '');
        expect(client.connected).toBe(true);
        await endClient(client);
      });

      it('refuses unknown SN, wrong secret, client id != SN and disabled terminals with CONNACK 5', async () => {
        const good = secrets.get(SN[1]) ?? '';
        const cases = [
          { clientId: 'NOPE0001', username: 'NOPE0001', password: good, reason: 'unknown_terminal' },
          { clientId: SN[1], username: SN[1], password: 'wrong-secret', reason: 'bad_secret' },
          { clientId: 'OTHER001', username: SN[1], password: good, reason: 'client_id_mismatch' },
        ];
        for (const c of cases) {
          const before = await metric(gw, 'fleet_mqtt_auth_failures_total', `reason="${c.reason}"`);
          const result = await connectTerminal(gw.mqttUrl, c);
          expect(result.ok).toBe(false);
          if (!result.ok) expect(result.returnCode).toBe(5);
          expect(await metric(gw, 'fleet_mqtt_auth_failures_total', `reason="${c.reason}"`)).toBe(before + 1);
        }
        // A disabled terminal in a fresh cache entry (registered and disabled before its first CONNECT).
        const [disabledSn] = [...(await gw.register(['DIS00001']))].map(([sn]) => sn);
        await gw.registry.setEnabled([disabledSn], false);
        const result = await connectTerminal(gw.mqttUrl, { clientId: disabledSn, username: disabledSn, password: 'x' });
        expect(result.ok).toBe(false);
        if (!result.ok) expect(result.returnCode).toBe(5);
      });
    });

    describe('heartbeat storage', () => {
      it('acknowledges a QoS 1 heartbeat only after it is stored, and updates latest state', async () => {
        const sn = SN[2];
        const client = await connectOk(gw.mqttUrl, sn, secrets.get(sn) ?? '');
        const hb = makeHeartbeat({ seq: 7 }, minutesAgo(2));
        await publishHeartbeat(client, sn, { ...hb, futureField: { x: 1 } });
        // No waiting: PUBACK means committed.
        const rows = await gw.query<{ seq: number; rsrp: number; plan_status: string; extra: unknown }>(
          'SELECT seq, rsrp, plan_status, extra FROM heartbeats WHERE sn = $1',
          [sn],
        );
        expect(rows.length).toBe(1);
        expect(rows[0].seq).toBe(7);
        expect(rows[0].rsrp).toBe(-92);
        expect(rows[0].plan_status).toBe('active');
        expect(rows[0].extra).toStrictEqual({ futureField: { x: 1 } });
        const state = await gw.query<{ seq: number; last_heartbeat_at: Date; online: boolean }>(
          'SELECT seq, last_heartbeat_at, online FROM terminal_state WHERE sn = $1',
          [sn],
        );
        expect(state[0].seq).toBe(7);
        expect(new Date(state[0].last_heartbeat_at).toISOString()).toBe(hb.ts);
        await endClient(client);
      });

      it('stores every field verbatim, also text that array literals must quote and escape', async () => {
        const sn = SN[7];
        const client = await connectOk(gw.mqttUrl, sn, secrets.get(sn) ?? '');
        const base = makeHeartbeat({ seq: 9 }, minutesAgo(4));
        const hb = {
          ...base,
          model: 'a"b\\c,{d} NULL',
          firmware: { version: 'NULL', appVersion: ' 5.0 ' },
          signal: { ...base.signal, cellId: '{}' },
          sim: {
            ...base.sim,
            carrier: '中国移动 😀',
            plan: { ...base.sim.plan, lastRenewal: { at: '2026-01-02T03:04:05.678+08:00', result: 'failed' as const, reason: 'say "no"\\' } },
          },
          location: { lat: -33.8688, lon: 151.2093, accuracyM: 0.5, source: 'cell' as const },
          tx: { approved: 3, declined: 2, declinesByCode: { '92': 1, '05': 1 }, reversals: { pending: 1, succeeded: 0, failed: 0 } },
          vendor: { note: 'q"uote\\back', list: [1, null, 'x'] },
        };
        await publishHeartbeat(client, sn, hb);
        const [row] = await gw.query<Record<string, unknown>>(
          `SELECT model, firmware_version, app_version, cell_id, carrier, renewal_at, renewal_result, renewal_reason, lat, lon,
                  location_accuracy_m, location_source, battery_temp_c, charging, plan_expires_on::text AS plan_expires_on,
                  tx_declines, tx_reversals_pending, extra, uptime_s::int AS uptime_s, csq
             FROM heartbeats WHERE sn = $1`,
          [sn],
        );
        expect({ ...row, renewal_at: new Date(row.renewal_at as string).toISOString() }).toStrictEqual({
          model: hb.model,
          firmware_version: 'NULL',
          app_version: ' 5.0 ',
          cell_id: '{}',
          carrier: hb.sim.carrier,
          renewal_at: '2026-01-01T19:04:05.678Z',
          renewal_result: 'failed',
          renewal_reason: 'say "no"\\',
          lat: -33.8688,
          lon: 151.2093,
          location_accuracy_m: 0.5,
          location_source: 'cell',
          battery_temp_c: 31.5,
          charging: false,
          plan_expires_on: '2027-06-30',
          tx_declines: { '92': 1, '05': 1 },
          tx_reversals_pending: 1,
          extra: { vendor: hb.vendor },
          uptime_s: 3600,
          csq: 22,
        });
        await endClient(client);
      });

      it('stores a retransmitted heartbeat once', async () => {
        const sn = SN[3];
        const client = await connectOk(gw.mqttUrl, sn, secrets.get(sn) ?? '');
        const dupBefore = await metric(gw, 'fleet_ingest_heartbeats_duplicate_total');
        const hb = makeHeartbeat({ seq: 1 }, minutesAgo(3));
        await publishHeartbeat(client, sn, hb);
        await publishHeartbeat(client, sn, hb);
        const rows = await gw.query<{ n: number }>('SELECT count(*)::int AS n FROM heartbeats WHERE sn = $1', [sn]);
        expect(rows[0].n).toBe(1);
        expect(await metric(gw, 'fleet_ingest_heartbeats_duplicate_total')).toBe(dupBefore + 1);
        await endClient(client);
      });

      it('never lets an older heartbeat overwrite newer latest state', async () => {
        const sn = SN[4];
        const client = await connectOk(gw.mqttUrl, sn, secrets.get(sn) ?? '');
        const newer = makeHeartbeat({ seq: 20, battery: { percent: 55, charging: false } }, minutesAgo(1));
        const older = makeHeartbeat({ seq: 19, battery: { percent: 90, charging: true } }, minutesAgo(5));
        await publishHeartbeat(client, sn, newer);
        await publishHeartbeat(client, sn, older);
        const state = await gw.query<{ seq: number; battery_pct: number }>('SELECT seq, battery_pct FROM terminal_state WHERE sn = $1', [sn]);
        expect(state[0]).toStrictEqual({ seq: 20, battery_pct: 55 });
        const rows = await gw.query<{ n: number }>('SELECT count(*)::int AS n FROM heartbeats WHERE sn = $1', [sn]);
        expect(rows[0].n).toBe(2);
        await endClient(client);
      });
    });

    describe('bad input', () => {
      it('dead-letters each kind of bad heartbeat with its reason, keeps the connection, stores the next good one', async () => {
        const sn = SN[5];
        const client = await connectOk(gw.mqttUrl, sn, secrets.get(sn) ?? '');
        const good = makeHeartbeat({}, minutesAgo(1));
        const cases: { reason: string; payload: string; topic?: string }[] = [
          { reason: 'malformed_json', payload: '{"v":1,' },
          { reason: 'malformed_json', payload: '[1,2,3]' },
          { reason: 'unsupported_version', payload: JSON.stringify({ ...good, v: 99 }) },
          { reason: 'schema_violation', payload: JSON.stringify({ ...good, seq: 'seven' }) },
          { reason: 'schema_violation', payload: JSON.stringify({ ...good, battery: { percent: 140, charging: false } }) },
          { reason: 'schema_violation', payload: JSON.stringify({ ...good, signal: { ...good.signal, rsrp: -400 } }) },
          { reason: 'clock_skew', payload: JSON.stringify({ ...good, ts: '2001-01-01T00:00:00Z' }) },
          { reason: 'payload_too_large', payload: JSON.stringify({ ...good, blob: 'x'.repeat(9000) }) },
          { reason: 'unknown_topic', payload: JSON.stringify(good), topic: `pos/v1/${sn}/telemetry` },
        ];
        for (const c of cases) {
          const before = await metric(gw, 'fleet_ingest_rejected_total', `reason="${c.reason}"`);
          await client.publishAsync(c.topic ?? topics.heartbeat(sn), c.payload, { qos: 1 });
          expect(await metric(gw, 'fleet_ingest_rejected_total', `reason="${c.reason}"`)).toBe(before + 1);
          expect(client.connected).toBe(true);
        }
        const letters = await waitFor(
          () =>
            gw.query<{ reason: string; payload: Buffer; client_id: string }>(
              'SELECT reason, payload, client_id FROM dead_letters WHERE client_id = $1 ORDER BY id',
              [sn],
            ),
          (rows) => rows.length === cases.length,
        );
        expect(letters.map((l) => l.reason)).toStrictEqual(cases.map((c) => c.reason));
        expect(letters[0].payload.toString()).toBe('{"v":1,');
        await publishHeartbeat(client, sn, good);
        const stored = await gw.query<{ n: number }>('SELECT count(*)::int AS n FROM heartbeats WHERE sn = $1', [sn]);
        expect(stored[0].n).toBe(1);
        await endClient(client);
      });

      it('enforces the topic ACL: no publishing as another terminal, no subscribing outside own commands', async () => {
        const sn = SN[6];
        const victim = SN[0];
        const client = await connectOk(gw.mqttUrl, sn, secrets.get(sn) ?? '');
        const denied = await metric(gw, 'fleet_mqtt_acl_denied_total', 'action="publish"');
        await publishHeartbeat(client, victim, makeHeartbeat({}, minutesAgo(1)));
        expect(await metric(gw, 'fleet_mqtt_acl_denied_total', 'action="publish"')).toBe(denied + 1);
        const victimRows = await gw.query<{ n: number }>('SELECT count(*)::int AS n FROM heartbeats WHERE sn = $1', [victim]);
        expect(victimRows[0].n).toBe(0);
        // mqtt.js rejects when any filter is refused; the SUBACK is on the error.
        const suback = await client.subscribeAsync([topics.commands(sn), topics.commands(victim), 'pos/v1/#'], { qos: 1 }).then(
          () => null,
          (err: { packet?: { granted?: number[] } }) => err.packet?.granted ?? null,
        );
        expect(suback).toStrictEqual([1, 128, 128]);
        expect(await metric(gw, 'fleet_mqtt_acl_denied_total', 'action="subscribe"')).toBe(2);
        expect(client.connected).toBe(true);
        await endClient(client);
      });
    });

    describe('presence', () => {
      it('records online on connect and a clean offline on DISCONNECT', async () => {
        const sn = SN[0];
        const client = await connectOk(gw.mqttUrl, sn, secrets.get(sn) ?? '');
        await waitFor(
          () => gw.query<{ online: boolean }>('SELECT online FROM terminal_state WHERE sn = $1', [sn]),
          (r) => r[0]?.online === true,
        );
        await endClient(client);
        const state = await waitFor(
          () => gw.query<{ online: boolean; last_disconnect_reason: string }>('SELECT online, last_disconnect_reason FROM terminal_state WHERE sn = $1', [sn]),
          (r) => r[0]?.online === false,
        );
        expect(state[0].last_disconnect_reason).toBe('clean_disconnect');
        const events = await gw.query<{ online: boolean; reason: string }>('SELECT online, reason FROM presence_events WHERE sn = $1 ORDER BY time', [sn]);
        expect(events.slice(-2)).toStrictEqual([
          { online: true, reason: 'connected' },
          { online: false, reason: 'clean_disconnect' },
        ]);
      });

      it('publishes the Last Will and records connection_lost when the socket drops', async () => {
        const sn = SN[1];
        const observer = await connectOk(gw.mqttUrl, 'SVCOBS01', 'x').catch(() => null);
        expect(observer).toBe(null);
        const svc = await gw.registry.createServiceAccount('observer');
        const watcher = await connectOk(gw.mqttUrl, 'observer-1', svc.secret, { username: svc.username });
        const wills: string[] = [];
        watcher.on('message', (topic, payload) => {
          if (topic === topics.presence(sn)) wills.push(payload.toString());
        });
        await watcher.subscribeAsync(topics.presence(sn), { qos: 1 });
        const client = await connectOk(gw.mqttUrl, sn, secrets.get(sn) ?? '', {
          will: { topic: topics.presence(sn), payload: Buffer.from('{"v":1,"state":"offline"}'), qos: 1, retain: true },
        });
        await waitFor(
          () => gw.query<{ online: boolean }>('SELECT online FROM terminal_state WHERE sn = $1', [sn]),
          (r) => r[0]?.online === true,
        );
        client.stream.destroy();
        const state = await waitFor(
          () => gw.query<{ online: boolean; last_disconnect_reason: string }>('SELECT online, last_disconnect_reason FROM terminal_state WHERE sn = $1', [sn]),
          (r) => r[0]?.online === false,
        );
        expect(state[0].last_disconnect_reason).toBe('connection_lost');
        await waitFor(
          async () => wills.length,
          (n) => n > 0,
        );
        expect(JSON.parse(wills[0])).toStrictEqual({ v: 1, state: 'offline' });
        client.end(true);
        await endClient(watcher);
      });
    });

    describe('database outage', () => {
      it('holds PUBACK while the database is down and stores the heartbeat once it is back', async () => {
        const sn = SN[3];
        const client = await connectOk(gw.mqttUrl, sn, secrets.get(sn) ?? '', { keepalive: 0 });
        await db.pause();
        let acked = false;
        const hb = makeHeartbeat({ seq: 99 }, minutesAgo(0.5));
        const publish = publishHeartbeat(client, sn, hb).then(() => {
          acked = true;
        });
        await new Promise((r) => setTimeout(r, 1500));
        expect(acked).toBe(false);
        await db.resume();
        await publish;
        expect(acked).toBe(true);
        const rows = await gw.query<{ seq: number }>('SELECT seq FROM heartbeats WHERE sn = $1 AND time = $2', [sn, hb.ts]);
        expect(rows).toStrictEqual([{ seq: 99 }]);
        await endClient(client);
      });
    });
  });
}
