/**
 * Runs simulated terminals against an in-process aedes broker (no backend needed).
 */
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { describe, it } from 'node:test';
import { Aedes, type Client } from 'aedes';
import {
  commandAckSchema,
  HEARTBEAT_MAX_BYTES_DEFAULT,
  heartbeatSchema,
  parsePayload,
  presenceSchema,
  topics,
  type Heartbeat,
} from '#contracts';
import { generateTerminalProfile, type TerminalProfile } from './fleet-generator.js';
import { SimStats } from './sim-stats.js';
import { COMMAND_REJECT_REASON, DEFAULT_RUNTIME, SimulatedTerminal, type TerminalRuntimeOptions } from './terminal-client.js';

interface Published {
  topic: string;
  payload: string;
  retain: boolean;
  at: number;
}

interface TestBroker {
  port: number;
  broker: Aedes;
  published: Published[];
  /** While true, heartbeat PUBLISHes are never authorised, so the client gets no PUBACK. */
  holdHeartbeats: boolean;
  connects: string[];
  clients: Map<string, Client>;
  close(): Promise<void>;
}

const SECRET = 'correct-horse';

async function startBroker(): Promise<TestBroker> {
  const state = { holdHeartbeats: false };
  const published: Published[] = [];
  const connects: string[] = [];
  const clients = new Map<string, Client>();
  const broker = await Aedes.createBroker({
    authenticate: (client, username, password, done) => {
      if (username === client.id && password?.toString() === SECRET) return done(null, true);
      done(Object.assign(new Error('not authorized'), { returnCode: 5 as const }), false);
    },
    authorizeSubscribe: (client, sub, done) => done(null, sub.topic === topics.commands(client.id) ? sub : null),
    authorizePublish: (_client, packet, done) => {
      if (state.holdHeartbeats && packet.topic.endsWith('/heartbeat')) return; // never acknowledged
      done(null);
    },
  });
  broker.on('client', (client) => {
    connects.push(client.id);
    clients.set(client.id, client);
  });
  broker.on('publish', (packet) => {
    if (packet.topic.startsWith('$SYS')) return;
    published.push({
      topic: packet.topic,
      payload: Buffer.from(packet.payload).toString('utf8'),
      retain: packet.retain,
      at: Date.now(),
    });
  });
  const server: Server = createServer(broker.handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    broker,
    published,
    connects,
    clients,
    get holdHeartbeats() {
      return state.holdHeartbeats;
    },
    set holdHeartbeats(v: boolean) {
      state.holdHeartbeats = v;
    },
    close: async () => {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function waitFor(what: string, predicate: () => boolean, timeoutMs = 5_000): Promise<void> {
  const start = Date.now();
  while (!predicate()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const silentLog = { info: (): void => {}, limited: (): void => {} };

function makeTerminal(
  port: number,
  overrides: Partial<TerminalRuntimeOptions>,
  secret = SECRET,
  profile: TerminalProfile = generateTerminalProfile(1, { seed: 'client-spec', snPrefix: 'TST' }),
): { terminal: SimulatedTerminal; stats: SimStats } {
  const stats = new SimStats();
  const terminal = new SimulatedTerminal(
    profile,
    { sn: profile.sn, username: profile.sn, secret },
    { ...DEFAULT_RUNTIME, brokerUrl: `mqtt://127.0.0.1:${port}`, backoff: { baseMs: 20, capMs: 100 }, ...overrides },
    stats,
    silentLog,
  );
  return { terminal, stats };
}

function heartbeatsOf(b: TestBroker, sn: string): Heartbeat[] {
  return b.published
    .filter((p) => p.topic === topics.heartbeat(sn))
    .map((p) => {
      const r = parsePayload(p.payload, heartbeatSchema, { maxBytes: HEARTBEAT_MAX_BYTES_DEFAULT, supportedVersions: [1] });
      assert.ok(r.ok, r.ok ? '' : r.detail);
      return r.value;
    });
}

describe('SimulatedTerminal against a broker', { timeout: 20_000 }, () => {
  it('announces presence, sends valid heartbeats, rejects commands and disconnects cleanly', async () => {
    const b = await startBroker();
    const { terminal, stats } = makeTerminal(b.port, { intervalMs: 100, includeLocation: true });
    const sn = terminal.sn;
    try {
      terminal.start(0);
      await waitFor('3 acked heartbeats', () => stats.acked >= 3);
      assert.deepEqual(b.connects, [sn], 'client id is the SN');
      const online = b.published.find((p) => p.topic === topics.presence(sn));
      assert.ok(online?.retain);
      const presence = presenceSchema.parse(JSON.parse(online.payload));
      assert.equal(presence.state, 'online');
      assert.ok(presence.ts);

      const hbs = heartbeatsOf(b, sn);
      assert.deepEqual(hbs.slice(0, 3).map((h) => h.seq), [0, 1, 2]);
      assert.ok(hbs.every((h) => h.location !== undefined));
      assert.equal(stats.connected, 1);
      assert.ok(stats.histogram.count >= 3, 'PUBACK latency recorded');

      b.broker.publish(
        {
          cmd: 'publish',
          topic: topics.commands(sn),
          payload: Buffer.from(JSON.stringify({ v: 1, id: 'c-1', type: 'ota.firmware', issuedAt: new Date().toISOString(), params: {} })),
          qos: 1,
          retain: false,
          dup: false,
        },
        () => {},
      );
      await waitFor('command ack', () => b.published.some((p) => p.topic === topics.commandAck(sn)));
      const ack = commandAckSchema.parse(JSON.parse(b.published.find((p) => p.topic === topics.commandAck(sn))?.payload ?? ''));
      assert.equal(ack.id, 'c-1');
      assert.equal(ack.status, 'rejected');
      assert.equal(ack.error, COMMAND_REJECT_REASON);
      assert.equal(stats.commandsReceived, 1);

      await terminal.disconnect();
      await waitFor('offline presence', () =>
        b.published.some((p) => p.topic === topics.presence(sn) && p.payload.includes('"offline"')),
      );
      await new Promise((r) => setTimeout(r, 100));
      const offline = b.published.filter((p) => p.topic === topics.presence(sn) && p.payload.includes('"offline"'));
      assert.equal(offline.length, 1);
      assert.ok(offline[0].retain);
      assert.ok(presenceSchema.parse(JSON.parse(offline[0].payload)).ts, 'published by the terminal (with ts), not the Last Will');
      assert.equal(stats.connected, 0);
      const sent = stats.sent;
      await new Promise((r) => setTimeout(r, 250));
      assert.equal(stats.sent, sent, 'no heartbeats after disconnect');
    } finally {
      await terminal.disconnect();
      await b.close();
    }
  });

  it('keeps retrying with backoff when refused, buffering only the newest heartbeats', async () => {
    const b = await startBroker();
    const { terminal, stats } = makeTerminal(b.port, { intervalMs: 40, outboxCapacity: 3 }, 'wrong-secret');
    try {
      terminal.start(0);
      await waitFor('several refused attempts', () => (stats.errors.get('auth') ?? 0) >= 4 && stats.dropped >= 2);
      assert.equal(stats.everConnectedSns.size, 0);
      assert.equal(stats.sent, 0);
      assert.equal(terminal.unacked, 3);
      assert.ok(stats.connectAttempts >= 4);
    } finally {
      await terminal.disconnect();
      await b.close();
    }
  });

  it('waits for PUBACK, retransmits the same heartbeat after a lost connection, and the broker fires the Last Will', async () => {
    const b = await startBroker();
    b.holdHeartbeats = true;
    const { terminal, stats } = makeTerminal(b.port, { intervalMs: 50, outboxCapacity: 3, maxInflight: 1 });
    const sn = terminal.sn;
    try {
      terminal.start(0);
      await waitFor('first heartbeat sent', () => stats.sent === 1);
      await waitFor('outbox full', () => stats.dropped >= 2);
      assert.equal(stats.sent, 1, 'no second publish while the first awaits PUBACK');
      assert.equal(stats.acked, 0);
      assert.equal(terminal.inflight, 1);
      assert.equal(terminal.unacked, 3);
      const first = heartbeatsOf(b, sn);
      assert.equal(first.length, 0, 'held publishes never reach subscribers');

      // the network drops the connection: no DISCONNECT, so the broker publishes the Last Will
      b.holdHeartbeats = false;
      const client = b.clients.get(sn);
      assert.ok(client);
      client.conn.destroy();
      const isWill = (p: Published): boolean => p.topic === topics.presence(sn) && p.payload === '{"v":1,"state":"offline"}';
      await waitFor('Last Will', () => b.published.some(isWill));
      assert.ok(b.published.find(isWill)?.retain);

      await waitFor('reconnected and acked', () => stats.acked >= 4);
      assert.equal(stats.reconnects, 1);
      assert.ok(stats.retransmits >= 1, 'the unacknowledged heartbeat was sent again');
      const hbs = heartbeatsOf(b, sn);
      const tss = hbs.map((h) => h.ts);
      assert.deepEqual([...tss].sort(), tss, 'buffered heartbeats go out oldest first');
      assert.equal(new Set(tss).size, tss.length, 'each ts is delivered once here (the held copy never went through)');
      assert.equal(hbs[0].seq, 0, 'the heartbeat that was in flight is retransmitted first, unchanged');
      assert.ok(hbs[1].seq > 2, 'older buffered heartbeats were dropped in favour of newer ones');
    } finally {
      await terminal.disconnect();
      await b.close();
    }
  });

  it('drops off without DISCONNECT when its battery dies, and stays silent', async () => {
    const b = await startBroker();
    const base = generateTerminalProfile(2, { seed: 'client-spec', snPrefix: 'TST' });
    const dying: TerminalProfile = {
      ...base,
      merchant: { ...base.merchant, docked: false, chargesOvernight: 0 },
      battery: { ...base.battery, activeDrainPctPerHour: 1e9, idleDrainPctPerHour: 1e9 },
    };
    const { terminal, stats } = makeTerminal(b.port, { intervalMs: 150 }, SECRET, dying);
    const sn = terminal.sn;
    try {
      terminal.start(150);
      await waitFor('connected', () => stats.connected === 1);
      const isWill = (p: Published): boolean => p.topic === topics.presence(sn) && p.payload === '{"v":1,"state":"offline"}';
      await waitFor('Last Will after the battery died', () => b.published.some(isWill));
      assert.equal(stats.powerOffs, 1);
      assert.equal(stats.connected, 0);
      await new Promise((r) => setTimeout(r, 400));
      assert.equal(heartbeatsOf(b, sn).length, 0, 'a dead terminal sends nothing');
      assert.equal(stats.connectAttempts, 1, 'and does not reconnect');
    } finally {
      await terminal.disconnect();
      await b.close();
    }
  });
});
