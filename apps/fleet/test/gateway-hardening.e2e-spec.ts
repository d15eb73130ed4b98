import { connect as tcpConnect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import mqtt from 'mqtt';
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

const metric = (gw: TestGateway, name: string, labels = '') => scrapeMetric(gw.httpUrl, name, labels);
const refused = (gw: TestGateway, reason: string) => metric(gw, 'fleet_mqtt_connections_refused_total', `reason="${reason}"`);

/** MQTT "remaining length" variable byte integer. */
function varint(n: number): Buffer {
  const bytes: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    bytes.push(b);
  } while (n > 0);
  return Buffer.from(bytes);
}

function mqttString(s: string): Buffer {
  const body = Buffer.from(s, 'utf8');
  const len = Buffer.alloc(2);
  len.writeUInt16BE(body.length);
  return Buffer.concat([len, body]);
}

/** A complete MQTT 3.1.1 CONNECT with username and password. */
function connectPacket(clientId: string, username: string, password: string, keepalive = 60): Buffer {
  const header = Buffer.concat([mqttString('MQTT'), Buffer.from([4, 0xc2, keepalive >> 8, keepalive & 0xff])]);
  const body = Buffer.concat([header, mqttString(clientId), mqttString(username), mqttString(password)]);
  return Buffer.concat([Buffer.from([0x10]), varint(body.length), body]);
}

/** A QoS 1 PUBLISH. */
function publishPacket(topic: string, messageId: number, payload: string): Buffer {
  const id = Buffer.from([messageId >> 8, messageId & 0xff]);
  const body = Buffer.concat([mqttString(topic), id, Buffer.from(payload, 'utf8')]);
  return Buffer.concat([Buffer.from([0x32]), varint(body.length), body]);
}

/** Counts PUBACKs (0x40 0x02 id id) arriving on a raw socket after its CONNACK. */
function countPubacks(socket: Socket): { count: () => number } {
  let buffered = Buffer.alloc(0);
  let count = 0;
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    while (buffered.length >= 4 && buffered[0] === 0x40) {
      count++;
      buffered = buffered.subarray(4);
    }
  });
  return { count: () => count };
}

function openSocket(url: string): Promise<Socket> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ host: hostname, port: Number(port) }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Writes chunks until the peer closes the socket; resolves with the bytes written and the time taken. */
function streamUntilClosed(socket: Socket, chunk: Buffer, limitBytes: number): Promise<{ written: number; ms: number; closed: boolean }> {
  const started = Date.now();
  return new Promise((resolve) => {
    let written = 0;
    let closed = false;
    const finish = () => resolve({ written, ms: Date.now() - started, closed });
    socket.on('error', () => undefined);
    socket.once('close', () => {
      closed = true;
      finish();
    });
    const pump = () => {
      while (!closed && written < limitBytes) {
        written += chunk.length;
        if (!socket.write(chunk)) return void socket.once('drain', pump);
      }
      if (written >= limitBytes) setTimeout(() => (closed ? undefined : (socket.destroy(), finish())), 2_000);
    };
    pump();
  });
}

function waitClosed(socket: Socket, timeoutMs: number): Promise<boolean> {
  if (socket.destroyed) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

const MiB = 1024 * 1024;

for (const kind of testDbKinds()) {
  describe(`gateway hardening on ${kind}`, () => {
    let db: TestDatabase;
    let gw: TestGateway;
    let secrets: Map<string, string>;
    const SN = [
      'HRD0001',
      'HRD0002',
      'HRD0003',
      'HRD0004',
      'HRD0005',
      'HRD0006',
      'HRD0007',
      'HRD0008',
      'HRD0009',
      'HRD0010',
      'HRD0011',
      'HRD0012',
      'HRD0013',
      'HRD0014',
      'HRD0015',
      'HRD0016',
      'HRD0017',
    ];
    const secret = (sn: string) => secrets.get(sn) ?? '';

    beforeAll(async () => {
      db = await startTestDatabase(kind);
      gw = await startTestGateway(db, { MQTT_MAX_KEEPALIVE_S: '2', MQTT_MAX_PENDING_PER_ADDRESS: '20' });
      secrets = await gw.register(SN);
    });
    afterAll(async () => {
      await gw?.close();
      await db?.stop();
    });

    describe('packet size caps', () => {
      it('disconnects a client that declares a 200 MiB packet before CONNECT, without reading it, and keeps serving terminals', async () => {
        const before = await refused(gw, 'packet_too_large');
        const rssBefore = process.memoryUsage().rss;
        const socket = await openSocket(gw.mqttUrl);
        socket.write(Buffer.concat([Buffer.from([0x10]), varint(200 * MiB)]));
        const result = await streamUntilClosed(socket, Buffer.alloc(64 * 1024, 0x41), 200 * MiB);
        expect(result.closed).toBe(true);
        expect(result.ms).toBeLessThan(3_000);
        // The broker stopped reading at the header; what was written is what sat in socket buffers.
        expect(result.written).toBeLessThan(50 * MiB);
        expect(process.memoryUsage().rss - rssBefore).toBeLessThan(100 * MiB);
        expect(await refused(gw, 'packet_too_large')).toBe(before + 1);

        const client = await connectOk(gw.mqttUrl, SN[0], secret(SN[0]));
        await publishHeartbeat(client, SN[0], makeHeartbeat({ seq: 1 }));
        const rows = await gw.query('SELECT 1 FROM heartbeats WHERE sn = $1', [SN[0]]);
        expect(rows.length).toBe(1);
        await endClient(client);
      });

      it('keeps memory flat while several clients stream huge declared packets at once', async () => {
        const before = await refused(gw, 'packet_too_large');
        const rssBefore = process.memoryUsage().rss;
        const attackers = await Promise.all(Array.from({ length: 8 }, () => openSocket(gw.mqttUrl)));
        const results = await Promise.all(
          attackers.map((socket, i) => {
            // Alternate CONNECT and PUBLISH fixed headers: any packet type is capped.
            socket.write(Buffer.concat([Buffer.from([i % 2 ? 0x30 : 0x10]), varint(250 * MiB)]));
            return streamUntilClosed(socket, Buffer.alloc(64 * 1024, 0x42), 64 * MiB);
          }),
        );
        expect(results.every((r) => r.closed)).toBe(true);
        expect(process.memoryUsage().rss - rssBefore).toBeLessThan(128 * MiB);
        expect(await refused(gw, 'packet_too_large')).toBe(before + 8);
        const client = await connectOk(gw.mqttUrl, SN[0], secret(SN[0]));
        await publishHeartbeat(client, SN[0], makeHeartbeat({ seq: 2 }));
        await endClient(client);
      });

      it('refuses a CONNECT larger than the pre-authentication cap even when complete', async () => {
        const before = await refused(gw, 'packet_too_large');
        const socket = await openSocket(gw.mqttUrl);
        socket.on('error', () => undefined);
        socket.write(connectPacket(SN[1], SN[1], 'x'.repeat(gw.config.mqtt.maxPacketBytesBeforeAuth + 10)));
        expect(await waitClosed(socket, 3_000)).toBe(true);
        expect(await refused(gw, 'packet_too_large')).toBe(before + 1);
      });

      it('closes an authenticated connection that declares a 100 MiB PUBLISH, and the terminal can reconnect', async () => {
        const sn = SN[1];
        const before = await refused(gw, 'packet_too_large');
        const socket = await openSocket(gw.mqttUrl);
        socket.on('error', () => undefined);
        const connack = new Promise<Buffer>((resolve) => socket.once('data', resolve));
        socket.write(connectPacket(sn, sn, secret(sn)));
        expect([...(await connack)]).toStrictEqual([0x20, 2, 0, 0]);
        socket.write(Buffer.concat([Buffer.from([0x32]), varint(100 * MiB)]));
        const result = await streamUntilClosed(socket, Buffer.alloc(64 * 1024, 0x41), 100 * MiB);
        expect(result.closed).toBe(true);
        expect(result.written).toBeLessThan(50 * MiB);
        expect(await refused(gw, 'packet_too_large')).toBe(before + 1);

        // A payload over HEARTBEAT_MAX_BYTES but under the packet cap is still a dead letter on a kept connection.
        const client = await connectOk(gw.mqttUrl, sn, secret(sn));
        await publishHeartbeat(client, sn, JSON.stringify({ ...makeHeartbeat(), blob: 'x'.repeat(9000) }));
        expect(client.connected).toBe(true);
        await publishHeartbeat(client, sn, makeHeartbeat({ seq: 2 }));
        await endClient(client);
      });

      it('caps unauthenticated connections per source address and frees the slots when they close', async () => {
        const cap = gw.config.mqtt.maxPendingPerAddress;
        const before = await refused(gw, 'pending_per_address_limit');
        const idle = await Promise.all(Array.from({ length: cap }, () => openSocket(gw.mqttUrl)));
        await waitFor(
          () => metric(gw, 'fleet_mqtt_pending_connections'),
          (n) => n >= cap,
        );
        const extra = await openSocket(gw.mqttUrl);
        extra.on('error', () => undefined);
        expect(await waitClosed(extra, 3_000)).toBe(true);
        expect(await refused(gw, 'pending_per_address_limit')).toBe(before + 1);
        for (const s of idle) s.destroy();
        await waitFor(
          () => metric(gw, 'fleet_mqtt_pending_connections'),
          (n) => n === 0,
        );
        const client = await connectOk(gw.mqttUrl, SN[2], secret(SN[2]));
        await endClient(client);
      });
    });

    describe('publishes in flight per connection', () => {
      // The gateway's default MQTT_MAX_INFLIGHT_PER_CONNECTION.
      const CAP = 16;
      const rawTerminal = async (sn: string) => {
        const socket = await openSocket(gw.mqttUrl);
        socket.on('error', () => undefined);
        const connack = new Promise<Buffer>((resolve) => socket.once('data', resolve));
        socket.write(connectPacket(sn, sn, secret(sn)));
        expect([...(await connack)]).toStrictEqual([0x20, 2, 0, 0]);
        return { socket, pubacks: countPubacks(socket) };
      };
      /** n heartbeats with distinct ts, in one TCP write: the gateway reads them in one go. */
      const burst = (sn: string, n: number) =>
        Buffer.concat(
          Array.from({ length: n }, (_, i) =>
            publishPacket(`pos/v1/${sn}/heartbeat`, i + 1, JSON.stringify(makeHeartbeat({ seq: i + 1 }, new Date(Date.now() - 120_000 + i)))),
          ),
        );
      const stored = async (sn: string) => (await gw.query<{ n: number }>('SELECT count(*)::int AS n FROM heartbeats WHERE sn = $1', [sn]))[0].n;

      it('acknowledges a pipelined burst within the cap and keeps the connection', async () => {
        const sn = SN[15];
        const { socket, pubacks } = await rawTerminal(sn);
        socket.write(burst(sn, CAP));
        await waitFor(
          () => Promise.resolve(pubacks.count()),
          (n) => n === CAP,
          30_000,
        );
        expect(socket.destroyed).toBe(false);
        expect(await stored(sn)).toBe(CAP);
        socket.destroy();
      });

      it('closes a connection that pipelines more publishes than the cap without holding them, and keeps serving others', async () => {
        const sn = SN[16];
        const other = SN[2];
        const before = await metric(gw, 'fleet_mqtt_inflight_exceeded_total');
        const { socket, pubacks } = await rawTerminal(sn);
        socket.write(burst(sn, 400));
        expect(await waitClosed(socket, 30_000)).toBe(true);
        expect(pubacks.count()).toBeLessThanOrEqual(CAP);
        expect(await metric(gw, 'fleet_mqtt_inflight_exceeded_total')).toBe(before + 1);
        // Only what was admitted is stored: the rest of the read was dropped unacknowledged, to be sent again.
        await waitFor(
          () => stored(sn),
          (k) => k > 0,
          30_000,
        );
        const events = await waitFor(
          () => gw.query<{ reason: string }>('SELECT reason FROM presence_events WHERE sn = $1 AND NOT online', [sn]),
          (rows) => rows.length > 0,
          30_000,
        );
        expect(events.map((e) => e.reason)).toStrictEqual(['closed_by_server']);

        // Another terminal was served meanwhile, and this one may reconnect and publish as the protocol says.
        const client = await connectOk(gw.mqttUrl, other, secret(other));
        await publishHeartbeat(client, other, makeHeartbeat({ seq: 7 }));
        await endClient(client);
        const again = await connectOk(gw.mqttUrl, sn, secret(sn));
        await publishHeartbeat(again, sn, makeHeartbeat({ seq: 1000 }));
        expect(again.connected).toBe(true);
        await endClient(again);
        const seqs = (await gw.query<{ seq: number }>('SELECT seq FROM heartbeats WHERE sn = $1', [sn])).map((r) => r.seq);
        expect(seqs).toContain(1000);
        expect(seqs.length).toBeLessThanOrEqual(CAP + 1);
      });
    });

    describe('session takeover', () => {
      it('records taken_over (not connection_lost) when a second connection uses the same client id, and keeps the terminal online', async () => {
        const sn = SN[3];
        const before = await metric(gw, 'fleet_presence_events_total', 'reason="taken_over"');
        const lostBefore = await metric(gw, 'fleet_presence_events_total', 'reason="connection_lost"');
        const first = await connectOk(gw.mqttUrl, sn, secret(sn), {
          will: { topic: `pos/v1/${sn}/presence`, payload: Buffer.from('{"v":1,"state":"offline"}'), qos: 1, retain: true },
        });
        const firstClosed = new Promise<void>((resolve) => first.once('close', () => resolve()));
        const second = await connectOk(gw.mqttUrl, sn, secret(sn));
        await firstClosed;
        first.end(true);
        const events = await waitFor(
          () => gw.query<{ online: boolean; reason: string }>('SELECT online, reason FROM presence_events WHERE sn = $1', [sn]),
          (rows) => rows.length >= 3,
        );
        // The takeover and the new connect may share a millisecond: compare as a set.
        expect(events.map((e) => e.reason).sort()).toStrictEqual(['connected', 'connected', 'taken_over']);
        expect(events.every((e) => e.online)).toBe(true);
        const [state] = await gw.query<{ online: boolean }>('SELECT online FROM terminal_state WHERE sn = $1', [sn]);
        expect(state.online).toBe(true);
        expect(await metric(gw, 'fleet_presence_events_total', 'reason="taken_over"')).toBe(before + 1);
        expect(await metric(gw, 'fleet_presence_events_total', 'reason="connection_lost"')).toBe(lostBefore);

        await endClient(second);
        const after = await waitFor(
          () => gw.query<{ online: boolean; last_disconnect_reason: string }>('SELECT online, last_disconnect_reason FROM terminal_state WHERE sn = $1', [sn]),
          (rows) => rows[0]?.online === false,
        );
        expect(after[0].last_disconnect_reason).toBe('clean_disconnect');
      });
    });

    describe('clock corrections', () => {
      type StateRow = { seq: number; battery_pct: number; last_heartbeat_at: Date; last_received_at: Date };
      const state = async (sn: string) =>
        (await gw.query<StateRow>('SELECT seq, battery_pct, last_heartbeat_at, last_received_at FROM terminal_state WHERE sn = $1', [sn]))[0];
      const inMinutes = (m: number) => new Date(Date.now() + m * 60_000);

      it('follows the terminal after its clock is set back from minutes ahead (same boot, higher seq), and moves last_received_at', async () => {
        const sn = SN[6];
        const client = await connectOk(gw.mqttUrl, sn, secret(sn));
        await publishHeartbeat(client, sn, makeHeartbeat({ seq: 1, uptimeS: 100, battery: { percent: 80, charging: false } }, inMinutes(5)));
        const ahead = await state(sn);
        await new Promise((r) => setTimeout(r, 20));
        const corrected = makeHeartbeat({ seq: 2, uptimeS: 160, battery: { percent: 79, charging: false } }, new Date());
        await publishHeartbeat(client, sn, corrected);
        const after = await state(sn);
        expect(after.seq).toBe(2);
        expect(after.battery_pct).toBe(79);
        expect(new Date(after.last_heartbeat_at).toISOString()).toBe(corrected.ts);
        expect(new Date(after.last_received_at).getTime()).toBeGreaterThan(new Date(ahead.last_received_at).getTime());
        await endClient(client);
      });

      it('follows a terminal that rebooted after running with its clock ahead (seq and uptime restart)', async () => {
        const sn = SN[7];
        const client = await connectOk(gw.mqttUrl, sn, secret(sn));
        await publishHeartbeat(client, sn, makeHeartbeat({ seq: 40, uptimeS: 2400 }, inMinutes(4)));
        await new Promise((r) => setTimeout(r, 20));
        const rebooted = makeHeartbeat({ seq: 0, uptimeS: 0, battery: { percent: 33, charging: true } }, new Date());
        await publishHeartbeat(client, sn, rebooted);
        const after = await state(sn);
        expect(after.seq).toBe(0);
        expect(new Date(after.last_heartbeat_at).toISOString()).toBe(rebooted.ts);
        await endClient(client);
      });

      it('keeps fresher state against a heartbeat older than the skew window, but still moves last_received_at (also for duplicates)', async () => {
        const sn = SN[8];
        const client = await connectOk(gw.mqttUrl, sn, secret(sn));
        const current = makeHeartbeat({ seq: 9, uptimeS: 600 }, new Date());
        await publishHeartbeat(client, sn, current);
        const first = await state(sn);
        await new Promise((r) => setTimeout(r, 20));
        // 20 minutes older, even with a higher seq and a "reboot": a replay, not a correction.
        await publishHeartbeat(
          client,
          sn,
          makeHeartbeat({ seq: 10, uptimeS: 0, battery: { percent: 1, charging: false } }, new Date(Date.now() - 20 * 60_000)),
        );
        const second = await state(sn);
        expect(second.seq).toBe(9);
        expect(new Date(second.last_heartbeat_at).toISOString()).toBe(current.ts);
        expect(new Date(second.last_received_at).getTime()).toBeGreaterThan(new Date(first.last_received_at).getTime());
        await new Promise((r) => setTimeout(r, 20));
        await publishHeartbeat(client, sn, current);
        const third = await state(sn);
        expect(third.seq).toBe(9);
        expect(new Date(third.last_received_at).getTime()).toBeGreaterThan(new Date(second.last_received_at).getTime());
        await endClient(client);
      });
    });

    describe('text encoding', () => {
      type Letter = { topic: string; reason: string; detail: string; payload: Buffer };
      const letters = (sn: string) => gw.query<Letter>('SELECT topic, reason, detail, payload FROM dead_letters WHERE client_id = $1 ORDER BY id', [sn]);

      it('rejects invalid UTF-8 as malformed_json and keeps the exact bytes; rejects NUL in strings; stores the next good heartbeat', async () => {
        const sn = SN[9];
        const client = await connectOk(gw.mqttUrl, sn, secret(sn));
        const json = JSON.stringify(makeHeartbeat({ seq: 1, model: 'EP-T1' }));
        const at = json.indexOf('EP-T1');
        const invalid = Buffer.concat([Buffer.from(json.slice(0, at)), Buffer.from([0xc3, 0x28]), Buffer.from(json.slice(at))]);
        await publishHeartbeat(client, sn, invalid);
        await publishHeartbeat(client, sn, JSON.stringify(makeHeartbeat({ seq: 2, model: 'EP\u0000T1' })));
        await publishHeartbeat(client, sn, JSON.stringify({ ...makeHeartbeat({ seq: 3 }), x_note: 'a\u0000b' }));
        const rows = await waitFor(
          () => letters(sn),
          (r) => r.length >= 3,
        );
        expect(rows.map((r) => r.reason)).toStrictEqual(['malformed_json', 'schema_violation', 'schema_violation']);
        expect(rows[0].detail).toContain('UTF-8');
        expect(Buffer.from(rows[0].payload).equals(invalid)).toBe(true);
        expect(rows[1].detail).toContain('model');
        expect(rows[2].detail).toContain('x_note');
        expect(await gw.query('SELECT 1 FROM heartbeats WHERE sn = $1', [sn])).toHaveLength(0);
        expect(client.connected).toBe(true);
        await publishHeartbeat(client, sn, makeHeartbeat({ seq: 4 }));
        expect(await gw.query('SELECT 1 FROM heartbeats WHERE sn = $1', [sn])).toHaveLength(1);
        await endClient(client);
      });

      it('keeps every dead letter when a topic contains NUL, including the ones batched with it', async () => {
        const sn = SN[10];
        const client = await connectOk(gw.mqttUrl, sn, secret(sn));
        // QoS 0: no waiting between them, so they share a dead-letter batch.
        client.publish(`pos/v1/${sn}/st\u0000atus`, 'x', { qos: 0 });
        client.publish(`pos/v1/${sn}/other`, 'y', { qos: 0 });
        client.publish(`pos/v1/OTHER\u0000SN/heartbeat`, 'z', { qos: 0 });
        await client.publishAsync(`pos/v1/${sn}/again`, 'w', { qos: 1 });
        const rows = await waitFor(
          () => letters(sn),
          (r) => r.length >= 4,
        );
        expect(rows.map((r) => r.topic)).toStrictEqual([
          `pos/v1/${sn}/st\\u0000atus`,
          `pos/v1/${sn}/other`,
          'pos/v1/OTHER\\u0000SN/heartbeat',
          `pos/v1/${sn}/again`,
        ]);
        expect(rows.map((r) => r.reason)).toStrictEqual(['unknown_topic', 'unknown_topic', 'acl_denied', 'unknown_topic']);
        expect(await metric(gw, 'fleet_ingest_dropped_total', 'stream="dead_letters"')).toBe(0);
        await endClient(client);
      });

      it('handles raw topic names with invalid UTF-8 or NUL: acknowledged, counted, dead-lettered, connection kept, next heartbeat stored', async () => {
        const sn = SN[14];
        const rejected = (reason: string) => metric(gw, 'fleet_ingest_rejected_total', `reason="${reason}"`);
        const before = { unknown: await rejected('unknown_topic'), acl: await rejected('acl_denied') };
        const socket = await openSocket(gw.mqttUrl);
        let received = Buffer.alloc(0);
        let closed = false;
        socket.on('data', (d: Buffer) => (received = Buffer.concat([received, d])));
        socket.on('close', () => (closed = true));
        socket.on('error', () => undefined);
        socket.write(connectPacket(sn, sn, secret(sn)));
        await waitFor(
          async () => received.length,
          (n) => n >= 4,
        );
        expect([...received.subarray(0, 4)]).toStrictEqual([0x20, 2, 0, 0]);
        received = received.subarray(4);

        // QoS 1 PUBLISH with the topic's bytes exactly as given (no client library repairs them).
        const publish = (topic: Buffer, id: number, payload: Buffer): Buffer => {
          const body = Buffer.concat([Buffer.from([topic.length >> 8, topic.length & 0xff]), topic, Buffer.from([id >> 8, id & 0xff]), payload]);
          return Buffer.concat([Buffer.from([0x32]), varint(body.length), body]);
        };
        const own = `pos/v1/${sn}/`;
        const bad = [
          Buffer.concat([Buffer.from(`${own}heart`), Buffer.from([0xc3, 0x28]), Buffer.from('beat')]), // invalid 2-byte sequence
          Buffer.concat([Buffer.from(`${own}heartbeat`), Buffer.from([0x00])]), // raw NUL
          Buffer.concat([Buffer.from(own), Buffer.from([0xed, 0xa0, 0x80])]), // an encoded UTF-16 surrogate
          Buffer.concat([Buffer.from(own), Buffer.from([0xc0, 0xaf]), Buffer.from('heartbeat')]), // overlong "/"
          Buffer.concat([Buffer.from('pos/v1/'), Buffer.from([0xff, 0xfe]), Buffer.from('/heartbeat')]), // not its own prefix
        ];
        const payload = Buffer.from(JSON.stringify(makeHeartbeat({ seq: 1 })));
        bad.forEach((topic, i) => socket.write(publish(topic, i + 1, payload)));
        const good = makeHeartbeat({ seq: 2 });
        socket.write(publish(Buffer.from(`${own}heartbeat`), 99, Buffer.from(JSON.stringify(good))));

        // Every PUBLISH is acknowledged (PUBACK 0x40 0x02 id), the good one too, on the same connection.
        const pubacks = await waitFor(
          async () => received,
          (r) => r.length >= 4 * (bad.length + 1),
        );
        const ids = Array.from({ length: pubacks.length / 4 }, (_, i) => pubacks.subarray(i * 4, i * 4 + 4)).map((p) =>
          p[0] === 0x40 && p[1] === 2 ? p.readUInt16BE(2) : -1,
        );
        expect(ids.sort((a, b) => a - b)).toStrictEqual([1, 2, 3, 4, 5, 99]);
        expect(closed).toBe(false);

        const rows = await waitFor(
          () => letters(sn),
          (r) => r.length >= bad.length,
        );
        expect(rows.map((r) => r.reason)).toStrictEqual(['unknown_topic', 'unknown_topic', 'unknown_topic', 'unknown_topic', 'acl_denied']);
        // Stored as text: invalid sequences as U+FFFD (never as a different valid topic), NUL as the visible escape.
        expect(rows.map((r) => r.topic)).toStrictEqual([
          `${own}heart\uFFFD(beat`,
          `${own}heartbeat\\u0000`,
          `${own}\uFFFD\uFFFD\uFFFD`,
          `${own}\uFFFD\uFFFDheartbeat`,
          'pos/v1/\uFFFD\uFFFD/heartbeat',
        ]);
        for (const r of rows) expect(Buffer.from(r.payload).equals(payload)).toBe(true);
        expect(await rejected('unknown_topic')).toBe(before.unknown + 4);
        expect(await rejected('acl_denied')).toBe(before.acl + 1);
        expect(await metric(gw, 'fleet_ingest_dropped_total', 'stream="dead_letters"')).toBe(0);
        expect(await gw.query('SELECT seq FROM heartbeats WHERE sn = $1', [sn])).toStrictEqual([{ seq: 2 }]);
        socket.destroy();
      });
    });

    describe('retain and server-side close', () => {
      it('retains presence but never a heartbeat, whatever the retain flag says', async () => {
        const sn = SN[12];
        const client = await connectOk(gw.mqttUrl, sn, secret(sn));
        await client.publishAsync(`pos/v1/${sn}/heartbeat`, JSON.stringify(makeHeartbeat({ seq: 1 })), { qos: 1, retain: true });
        await client.publishAsync(`pos/v1/${sn}/presence`, JSON.stringify({ v: 1, state: 'online' }), { qos: 1, retain: true });
        const account = await gw.registry.createServiceAccount('watcher');
        const watcher = await mqtt.connectAsync(gw.mqttUrl, {
          clientId: 'watcher-1',
          username: account.username,
          password: account.secret,
          reconnectPeriod: 0,
          protocolVersion: 4,
        });
        const received: string[] = [];
        watcher.on('message', (topic) => received.push(topic));
        await watcher.subscribeAsync(`pos/v1/${sn}/#`, { qos: 1 });
        await new Promise((r) => setTimeout(r, 500));
        expect(received).toStrictEqual([`pos/v1/${sn}/presence`]);
        await endClient(watcher);
        await endClient(client);
      });

      it('records closed_by_server when the backend closes a terminal connection (disable)', async () => {
        const sn = SN[13];
        const client = await connectOk(gw.mqttUrl, sn, secret(sn), { reconnectPeriod: 0 });
        await waitFor(
          () => gw.query<{ online: boolean }>('SELECT online FROM terminal_state WHERE sn = $1', [sn]),
          (r) => r[0]?.online === true,
        );
        await gw.registry.setEnabled([sn], false);
        expect(gw.broker.disconnect(sn)).toBe(true);
        const rows = await waitFor(
          () => gw.query<{ online: boolean; last_disconnect_reason: string }>('SELECT online, last_disconnect_reason FROM terminal_state WHERE sn = $1', [sn]),
          (r) => r[0]?.online === false,
        );
        expect(rows[0].last_disconnect_reason).toBe('closed_by_server');
        client.end(true);
      });
    });

    describe('protocol version', () => {
      it('refuses an MQTT 5 CONNECT with CONNACK return code 1 (unacceptable protocol version) and closes', async () => {
        const sn = SN[11];
        const socket = await openSocket(gw.mqttUrl);
        socket.on('error', () => undefined);
        const v4 = connectPacket(sn, sn, secret(sn));
        // Same CONNECT as level 5: version byte 5 and an empty properties block after the keep-alive.
        const body = v4.subarray(2);
        const v5Body = Buffer.concat([body.subarray(0, 6), Buffer.from([5]), body.subarray(7, 10), Buffer.from([0]), body.subarray(10)]);
        const reply = new Promise<Buffer>((resolve) => socket.once('data', resolve));
        socket.write(Buffer.concat([Buffer.from([0x10]), varint(v5Body.length), v5Body]));
        expect([...(await reply)].slice(0, 4)).toStrictEqual([0x20, 2, 0, 1]);
        expect(await waitClosed(socket, 3_000)).toBe(true);
      });
    });

    describe('keep-alive', () => {
      it('closes a connection with keep-alive 0 that goes silent, and records it offline', async () => {
        const sn = SN[4];
        const client = mqtt.connect(gw.mqttUrl, { clientId: sn, username: sn, password: secret(sn), keepalive: 0, reconnectPeriod: 0, protocolVersion: 4 });
        client.on('error', () => undefined);
        await new Promise<void>((resolve) => client.once('connect', () => resolve()));
        const closed = new Promise<number>((resolve) => {
          const started = Date.now();
          client.once('close', () => resolve(Date.now() - started));
        });
        // MQTT_MAX_KEEPALIVE_S = 2: aedes closes after 1.5 x 2 s of silence.
        const ms = await closed;
        expect(ms).toBeLessThan(6_000);
        client.end(true);
        const rows = await waitFor(
          () => gw.query<{ online: boolean; last_disconnect_reason: string }>('SELECT online, last_disconnect_reason FROM terminal_state WHERE sn = $1', [sn]),
          (r) => r[0]?.online === false,
        );
        expect(rows[0].last_disconnect_reason).toBe('connection_lost');
      });

      it('keeps a connection that pings within the maximum keep-alive', async () => {
        const sn = SN[5];
        const client = await connectOk(gw.mqttUrl, sn, secret(sn), { keepalive: 1 });
        await new Promise((r) => setTimeout(r, 4_000));
        expect(client.connected).toBe(true);
        await endClient(client);
      });
    });
  });

  describe(`connection rate per address on ${kind}`, () => {
    let db: TestDatabase;
    let gw: TestGateway;

    beforeAll(async () => {
      db = await startTestDatabase(kind);
      gw = await startTestGateway(db, { MQTT_CONNECT_RATE_PER_ADDRESS_PER_MINUTE: '5' });
    });
    afterAll(async () => {
      await gw?.close();
      await db?.stop();
    });

    it('closes connections beyond the per-address rate and counts them', async () => {
      const sockets: Socket[] = [];
      for (let i = 0; i < 5; i++) sockets.push(await openSocket(gw.mqttUrl));
      const sixth = await openSocket(gw.mqttUrl);
      sixth.on('error', () => undefined);
      expect(await waitClosed(sixth, 3_000)).toBe(true);
      expect(await refused(gw, 'rate_limited')).toBe(1);
      // The admitted ones are still open (waiting for CONNECT).
      expect(sockets.every((s) => !s.destroyed)).toBe(true);
      for (const s of sockets) s.destroy();
    });
  });
}

for (const kind of testDbKinds()) {
  describe(`presence after a crash on ${kind}`, () => {
    let db: TestDatabase;

    beforeAll(async () => {
      db = await startTestDatabase(kind);
    });
    afterAll(async () => {
      await db?.stop();
    });

    it('records an offline event (server_restart) for terminals a crashed run left online, so history alternates', async () => {
      const sn = 'CRASH0001';
      const first = await startTestGateway(db);
      const secret = (await first.register([sn])).get(sn) ?? '';
      const client = await connectOk(first.mqttUrl, sn, secret);
      await waitFor(
        () => first.query('SELECT 1 FROM presence_events WHERE sn = $1', [sn]),
        (rows) => rows.length === 1,
      );
      client.end(true);
      await first.close();
      // What a crash leaves behind: the connect recorded, no disconnect (written by a gateway that resets nothing).
      const tamper = await startTestGateway(db, { PRESENCE_RESET_ON_START: 'false' });
      await tamper.query(`DELETE FROM presence_events WHERE sn = $1 AND reason <> 'connected'`, [sn]);
      await tamper.query(`UPDATE terminal_state SET online = true, presence_changed_at = now() - interval '1 minute' WHERE sn = $1`, [sn]);
      await tamper.close();

      const second = await startTestGateway(db);
      try {
        const again = await connectOk(second.mqttUrl, sn, secret);
        const events = await waitFor(
          () => second.query<{ online: boolean; reason: string }>('SELECT online, reason FROM presence_events WHERE sn = $1 ORDER BY time', [sn]),
          (rows) => rows.length >= 3,
        );
        expect(events.map((e) => `${e.online}:${e.reason}`)).toStrictEqual(['true:connected', 'false:server_restart', 'true:connected']);
        await endClient(again);
      } finally {
        await second.close();
      }
    });
  });
}
