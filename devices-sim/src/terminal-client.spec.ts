/**
 * Runs simulated terminals against an in-process aedes broker (no backend needed).
 */
import { createServer, type AddressInfo, type Server } from 'node:net';
import { describe, expect, it } from '@jest/globals';
import { expectPresent } from '#testing/expect-present.js';
import { Aedes, type Client } from 'aedes';
import { commandAckSchema, HEARTBEAT_MAX_BYTES_DEFAULT, heartbeatSchema, parsePayload, presenceSchema, topics, type Heartbeat } from '#contracts';
import { generateTerminalProfile, type TerminalProfile } from './fleet-generator.js';
import { SimStats } from './sim-stats.js';
import { DEFAULT_RUNTIME, SimulatedTerminal, type TerminalRuntimeOptions } from './terminal-client.js';

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
  /** Payloads of the heartbeats held that way. */
  held: string[];
  connects: string[];
  clients: Map<string, Client>;
  close(): Promise<void>;
}

const SECRET = 'correct-horse';
/** Each test normally takes well under a second; Jest's default 5 s is too tight under load. */
const TEST_TIMEOUT_MS = 40_000;

async function startBroker(): Promise<TestBroker> {
  const state = { holdHeartbeats: false };
  const published: Published[] = [];
  const held: string[] = [];
  const connects: string[] = [];
  const clients = new Map<string, Client>();
  const broker = await Aedes.createBroker({
    authenticate: (client, username, password, done) => {
      if (username === client.id && password?.toString() === SECRET) return done(null, true);
      done(Object.assign(new Error('not authorized'), { returnCode: 5 as const }), false);
    },
    authorizeSubscribe: (client, sub, done) => done(null, sub.topic === topics.commands(client.id) ? sub : null),
    authorizePublish: (_client, packet, done) => {
      // never acknowledged
      if (state.holdHeartbeats && packet.topic.endsWith('/heartbeat')) return void held.push(Buffer.from(packet.payload).toString('utf8'));
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
    held,
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

/**
 * Polls until `predicate` holds. The bound is generous (a loaded CI machine stretches every step)
 * but below TEST_TIMEOUT_MS, so a miss names the condition instead of a bare Jest timeout.
 */
async function waitFor(what: string, predicate: () => boolean, timeoutMs = 15_000): Promise<void> {
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
): { terminal: SimulatedTerminal; stats: SimStats; runtime: { -readonly [K in keyof TerminalRuntimeOptions]: TerminalRuntimeOptions[K] } } {
  const stats = new SimStats();
  // The terminal reads its options as it runs: a test may change the pace (intervalMs) mid-run.
  const runtime = { ...DEFAULT_RUNTIME, brokerUrl: `mqtt://127.0.0.1:${port}`, backoff: { baseMs: 20, capMs: 100 }, ...overrides };
  const terminal = new SimulatedTerminal(profile, { sn: profile.sn, username: profile.sn, secret }, runtime, stats, silentLog);
  return { terminal, stats, runtime };
}

function heartbeatsOf(b: TestBroker, sn: string): Heartbeat[] {
  return b.published
    .filter((p) => p.topic === topics.heartbeat(sn))
    .map((p) => {
      const r = parsePayload(p.payload, heartbeatSchema, { maxBytes: HEARTBEAT_MAX_BYTES_DEFAULT, supportedVersions: [1] });
      expect(r.ok).toBeTruthy();
      if (!r.ok) throw new Error(r.detail);
      return r.value;
    });
}

describe('SimulatedTerminal against a broker', () => {
  it(
    'announces presence, sends valid heartbeats, rejects unknown commands and disconnects cleanly',
    async () => {
      const b = await startBroker();
      const { terminal, stats } = makeTerminal(b.port, { intervalMs: 100, includeLocation: true });
      const sn = terminal.sn;
      try {
        terminal.start(0);
        await waitFor('3 acked heartbeats', () => stats.acked >= 3);
        expect(b.connects).toStrictEqual([sn]);
        const online = b.published.find((p) => p.topic === topics.presence(sn));
        expectPresent(online);
        expect(online.retain).toBeTruthy();
        const presence = presenceSchema.parse(JSON.parse(online.payload));
        expect(presence.state).toBe('online');
        expect(presence.ts).toBeTruthy();

        const hbs = heartbeatsOf(b, sn);
        expect(hbs.slice(0, 3).map((h) => h.seq)).toStrictEqual([0, 1, 2]);
        expect(hbs.every((h) => h.location !== undefined)).toBeTruthy();
        expect(stats.connected).toBe(1);
        expect(stats.histogram.count >= 3).toBeTruthy();

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
        expect(ack.id).toBe('c-1');
        expect(ack.status).toBe('rejected');
        expect(ack.reason).toBe('unknown_type');
        expect(stats.commandsReceived).toBe(1);

        await terminal.disconnect();
        await waitFor('offline presence', () => b.published.some((p) => p.topic === topics.presence(sn) && p.payload.includes('"offline"')));
        await new Promise((r) => setTimeout(r, 100));
        const offline = b.published.filter((p) => p.topic === topics.presence(sn) && p.payload.includes('"offline"'));
        expect(offline.length).toBe(1);
        expect(offline[0].retain).toBeTruthy();
        expect(presenceSchema.parse(JSON.parse(offline[0].payload)).ts).toBeTruthy();
        expect(stats.connected).toBe(0);
        const sent = stats.sent;
        await new Promise((r) => setTimeout(r, 250));
        expect(stats.sent).toBe(sent);
      } finally {
        await terminal.disconnect();
        await b.close();
      }
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'keeps retrying with backoff when refused, buffering only the newest heartbeats',
    async () => {
      const b = await startBroker();
      const { terminal, stats } = makeTerminal(b.port, { intervalMs: 40, outboxCapacity: 3 }, 'wrong-secret');
      try {
        terminal.start(0);
        await waitFor('several refused attempts', () => (stats.errors.get('auth') ?? 0) >= 4 && stats.dropped >= 2);
        expect(stats.everConnectedSns.size).toBe(0);
        expect(stats.sent).toBe(0);
        expect(terminal.unacked).toBe(3);
        expect(stats.connectAttempts >= 4).toBeTruthy();
      } finally {
        await terminal.disconnect();
        await b.close();
      }
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'waits for PUBACK, retransmits the same heartbeat after a lost connection, and the broker fires the Last Will',
    async () => {
      const b = await startBroker();
      b.holdHeartbeats = true;
      const { terminal, stats, runtime } = makeTerminal(b.port, { intervalMs: 50, outboxCapacity: 3, maxInflight: 1 });
      const sn = terminal.sn;
      try {
        terminal.start(0);
        await waitFor('first heartbeat sent', () => stats.sent === 1);
        // Under load the connection can take several intervals, so heartbeats may already have been
        // dropped before the first send (then it is not seq 0): count the drops from here.
        const droppedAtFirstSend = stats.dropped;
        await waitFor('first heartbeat held at the broker', () => b.held.length === 1);
        await waitFor('outbox full', () => stats.dropped >= droppedAtFirstSend + 2);
        expect(stats.sent).toBe(1);
        expect(b.held.length).toBe(1);
        expect(stats.acked).toBe(0);
        expect(terminal.inflight).toBe(1);
        expect(terminal.unacked).toBe(3);
        const first = heartbeatsOf(b, sn);
        expect(first.length).toBe(0);

        // While offline, a new heartbeat would evict the oldest entry, the held one (the outbox keeps
        // the newest), and under load the reconnect can take longer than an interval. So pause the
        // terminal's clock first: after its pending tick (one more drop) it makes no heartbeat for an hour.
        const droppedBeforePause = stats.dropped;
        runtime.intervalMs = 3_600_000;
        await waitFor('the pending tick', () => stats.dropped === droppedBeforePause + 1);
        expect(terminal.inflight).toBe(1);

        // the network drops the connection: no DISCONNECT, so the broker publishes the Last Will
        b.holdHeartbeats = false;
        const client = b.clients.get(sn);
        expectPresent(client);
        client.conn.destroy();
        const isWill = (p: Published): boolean => p.topic === topics.presence(sn) && p.payload === '{"v":1,"state":"offline"}';
        await waitFor('Last Will', () => b.published.some(isWill));
        expect(b.published.find(isWill)?.retain).toBeTruthy();

        // The whole outbox (the held heartbeat and the two newest) is delivered after the reconnect.
        await waitFor('reconnected and acked', () => stats.acked === 3 && terminal.unacked === 0);
        expect(stats.reconnects).toBe(1);
        expect(stats.retransmits >= 1).toBeTruthy();
        const hbs = heartbeatsOf(b, sn);
        const tss = hbs.map((h) => h.ts);
        expect([...tss].sort()).toStrictEqual(tss);
        expect(new Set(tss).size).toBe(tss.length);
        // The held heartbeat is retransmitted byte for byte, then only the newest ones the outbox kept.
        expect(b.published.find((p) => p.topic === topics.heartbeat(sn))?.payload).toBe(b.held[0]);
        expect(hbs[1].seq).toBeGreaterThan(hbs[0].seq + 2);
      } finally {
        await terminal.disconnect();
        await b.close();
      }
    },
    TEST_TIMEOUT_MS,
  );

  it('drop scenario: loses the network (Last Will, no reconnect attempts), holds heartbeats, then reconnects and delivers them', async () => {
    const b = await startBroker();
    const base = generateTerminalProfile(3, { seed: 'client-spec', snPrefix: 'TST' });
    const profile: TerminalProfile = { ...base, scenario: { kind: 'drop', startAfterMs: 400, clearAfterMs: 800 } };
    const { terminal, stats } = makeTerminal(b.port, { intervalMs: 100 }, SECRET, profile);
    const sn = terminal.sn;
    const isWill = (p: Published): boolean => p.topic === topics.presence(sn) && p.payload === '{"v":1,"state":"offline"}';
    try {
      terminal.start(0);
      await waitFor('first heartbeat acked', () => stats.acked >= 1);
      await waitFor('Last Will when the network goes', () => b.published.some(isWill));
      expect(stats.networkDrops).toBe(1);
      expect(stats.connected).toBe(0);
      const sentAtDrop = heartbeatsOf(b, sn).length;
      await waitFor('back online', () => stats.connected === 1 && stats.reconnects === 1);
      // no attempts while the network was gone: one to start, one when it came back
      expect(stats.connectAttempts).toBe(2);
      await waitFor('held heartbeats delivered', () => heartbeatsOf(b, sn).length >= sentAtDrop + 5);
      const seqs = heartbeatsOf(b, sn).map((h) => h.seq);
      expect([...seqs].sort((x, y) => x - y)).toStrictEqual(seqs);
      expect(stats.lostOnPowerOff).toBe(0);
    } finally {
      await terminal.disconnect();
      await b.close();
    }
  });

  it('silent scenario: stays connected but sends nothing while active, then resumes with the next seq', async () => {
    const b = await startBroker();
    const base = generateTerminalProfile(4, { seed: 'client-spec', snPrefix: 'TST' });
    const profile: TerminalProfile = { ...base, scenario: { kind: 'silent', startAfterMs: 300, clearAfterMs: 600 } };
    const { terminal, stats } = makeTerminal(b.port, { intervalMs: 100 }, SECRET, profile);
    const sn = terminal.sn;
    try {
      const before = Date.now();
      terminal.start(0);
      const after = Date.now();
      await waitFor('heartbeats after the silence', () => heartbeatsOf(b, sn).some((h) => Date.parse(h.ts) >= after + 900));
      const hbs = heartbeatsOf(b, sn);
      const inWindow = hbs.filter((h) => Date.parse(h.ts) >= after + 300 && Date.parse(h.ts) < before + 900);
      expect(inWindow).toStrictEqual([]);
      expect(hbs.map((h) => h.seq)).toStrictEqual(hbs.map((_, i) => i));
      expect(stats.connectAttempts).toBe(1);
      expect(b.published.some((p) => p.topic === topics.presence(sn) && p.payload === '{"v":1,"state":"offline"}')).toBe(false);
    } finally {
      await terminal.disconnect();
      await b.close();
    }
  });

  it(
    'drops off without DISCONNECT when its battery dies, and stays silent',
    async () => {
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
        expect(stats.powerOffs).toBe(1);
        expect(stats.connected).toBe(0);
        await new Promise((r) => setTimeout(r, 400));
        expect(heartbeatsOf(b, sn).length).toBe(0);
        expect(stats.connectAttempts).toBe(1);
      } finally {
        await terminal.disconnect();
        await b.close();
      }
    },
    TEST_TIMEOUT_MS,
  );
});
