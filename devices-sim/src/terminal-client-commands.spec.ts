/**
 * The command flow of a simulated terminal against an in-process aedes broker and a local HTTP artifact
 * server with Range support (no backend needed): reboot, set_heartbeat_interval, and ota.install with a
 * resumed download, verification, install, reboot onto the new version, and the failure scenarios.
 */
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { describe, expect, it } from '@jest/globals';
import { Aedes } from 'aedes';
import { commandAckSchema, heartbeatSchema, topics, type CommandAck, type Heartbeat } from '#contracts';
import { generateTerminalProfile, type TerminalProfile } from './fleet-generator.js';
import { badReleaseFault, type OtaScenarioKind } from './ota-model.js';
import { SimStats } from './sim-stats.js';
import { DEFAULT_COMMAND_RUNTIME, DEFAULT_RUNTIME, SimulatedTerminal, type CommandRuntimeOptions } from './terminal-client.js';

const SECRET = 'correct-horse';
const TEST_TIMEOUT_MS = 60_000;

interface Published {
  topic: string;
  payload: string;
}

async function startBroker(): Promise<{ port: number; broker: Aedes; published: Published[]; close(): Promise<void> }> {
  const published: Published[] = [];
  const broker = await Aedes.createBroker({
    authenticate: (client, username, password, done) => done(null, username === client.id && password?.toString() === SECRET),
    authorizeSubscribe: (client, sub, done) => done(null, sub.topic === topics.commands(client.id) ? sub : null),
  });
  broker.on('publish', (packet) => {
    if (!packet.topic.startsWith('$SYS')) published.push({ topic: packet.topic, payload: Buffer.from(packet.payload).toString('utf8') });
  });
  const server: Server = createServer(broker.handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    broker,
    published,
    close: async () => {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

interface ArtifactServer {
  url: string;
  /** Range headers of every request (undefined: none). */
  ranges: (string | undefined)[];
  /** Request paths with their query, in order. */
  paths: string[];
  ifRanges: (string | undefined)[];
  close(): Promise<void>;
}

/** Serves `artifact` with ETag and single-range support; the first full GET is cut after `cutAt` bytes. */
async function startArtifactServer(artifact: Buffer, cutAt: number | null): Promise<ArtifactServer> {
  const etag = `"${createHash('sha256').update(artifact).digest('hex')}"`;
  const ranges: (string | undefined)[] = [];
  const ifRanges: (string | undefined)[] = [];
  const paths: string[] = [];
  let cut = cutAt;
  const server: HttpServer = createHttpServer((req, res) => {
    paths.push(req.url ?? '');
    const range = req.headers.range;
    ranges.push(range);
    ifRanges.push(req.headers['if-range'] as string | undefined);
    const m = range ? /^bytes=(\d+)-$/.exec(range) : null;
    if (m && (req.headers['if-range'] === undefined || req.headers['if-range'] === etag)) {
      const start = Number(m[1]);
      if (start >= artifact.length) {
        res.writeHead(416, { 'content-range': `bytes */${artifact.length}` }).end();
        return;
      }
      res.writeHead(206, {
        'content-length': artifact.length - start,
        'content-range': `bytes ${start}-${artifact.length - 1}/${artifact.length}`,
        etag,
        'accept-ranges': 'bytes',
      });
      res.end(artifact.subarray(start));
      return;
    }
    res.writeHead(200, { 'content-length': artifact.length, etag, 'accept-ranges': 'bytes' });
    if (cut !== null) {
      const at = cut;
      cut = null;
      // the link drops: part of the body, then the socket dies
      res.write(artifact.subarray(0, at), () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    res.end(artifact);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/ota/v1/artifacts/rel-1?sn=x&cmd=y&exp=1&sig=z`,
    ranges,
    paths,
    ifRanges,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function waitFor(what: string, predicate: () => boolean, timeoutMs = 25_000): Promise<void> {
  const start = Date.now();
  while (!predicate()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function subscribed(terminal: SimulatedTerminal): Promise<void> {
  await waitFor('connected and subscribed', () => terminal.receivesCommands);
}

const silentLog = { info: (): void => {}, limited: (): void => {} };

/** A terminal whose SIM plan is active (the plan guard passes). */
function healthyProfile(): TerminalProfile {
  for (let i = 1; i < 200; i++) {
    const p = generateTerminalProfile(i, { seed: 'commands-spec', snPrefix: 'CMD' });
    if (p.sim.plan.scenario === 'healthy' && p.rebootsPerDay < 5) return p;
  }
  throw new Error('no healthy profile');
}

function makeTerminal(port: number, commands: Partial<CommandRuntimeOptions>, otaScenario: OtaScenarioKind | null = null): SimulatedTerminal {
  const profile = healthyProfile();
  const runtime = {
    ...DEFAULT_RUNTIME,
    brokerUrl: `mqtt://127.0.0.1:${port}`,
    intervalMs: 150,
    backoff: { baseMs: 20, capMs: 100 },
    commands: { ...DEFAULT_COMMAND_RUNTIME, installDelayMs: 50, rebootDelayMs: 100, deferRetryMs: 100, downloadRetryMs: 50, ...commands },
  };
  return new SimulatedTerminal(profile, { sn: profile.sn, username: profile.sn, secret: SECRET }, runtime, new SimStats(), silentLog, Date.now, otaScenario);
}

function sendCommand(broker: Aedes, sn: string, command: Record<string, unknown>): void {
  const payload = Buffer.from(JSON.stringify({ v: 1, issuedAt: new Date().toISOString(), ...command }));
  broker.publish({ cmd: 'publish', topic: topics.commands(sn), payload, qos: 1, retain: false, dup: false }, () => {});
}

function acksOf(published: Published[], sn: string, id: string): CommandAck[] {
  return published
    .filter((p) => p.topic === topics.commandAck(sn))
    .map((p) => commandAckSchema.parse(JSON.parse(p.payload)))
    .filter((a) => a.id === id);
}

function heartbeatsOf(published: Published[], sn: string): Heartbeat[] {
  return published.filter((p) => p.topic === topics.heartbeat(sn)).map((p) => heartbeatSchema.parse(JSON.parse(p.payload)));
}

/** Statuses in order, repeated `downloading` collapsed. */
function statusSequence(acks: CommandAck[]): string[] {
  return acks.map((a) => a.status).filter((s, i, all) => !(s === 'downloading' && all[i - 1] === 'downloading'));
}

function release(artifact: Buffer, privateKey: ReturnType<typeof generateKeyPairSync>['privateKey']): { sha256: string; signature: string } {
  const digest = createHash('sha256').update(artifact).digest();
  return { sha256: digest.toString('hex'), signature: sign(null, digest, privateKey).toString('base64') };
}

const anyTimeGuards = { minBatteryPct: 0, planHeadroomBytes: 0, window: { start: '00:00', end: '00:00', tz: 'Asia/Shanghai' } };

describe('SimulatedTerminal commands', () => {
  it(
    'ota.install: resumes a cut download with Range, verifies, installs, reboots onto the new version',
    async () => {
      const artifact = Buffer.alloc(300_000, 7);
      for (let i = 0; i < artifact.length; i++) artifact[i] = (i * 31) % 251;
      const keys = generateKeyPairSync('ed25519');
      const b = await startBroker();
      const http = await startArtifactServer(artifact, 100_000);
      const terminal = makeTerminal(b.port, { releasePublicKey: keys.publicKey });
      const sn = terminal.sn;
      try {
        terminal.start(0);
        await waitFor('2 heartbeats', () => heartbeatsOf(b.published, sn).length >= 2);
        await subscribed(terminal);
        const oldVersion = heartbeatsOf(b.published, sn)[0].firmware.version;
        sendCommand(b.broker, sn, {
          id: 'ota-1',
          type: 'ota.install',
          params: {
            releaseId: 'rel-1',
            component: 'firmware',
            version: 'SIM_V9.9.9',
            url: http.url,
            size: artifact.length,
            ...release(artifact, keys.privateKey),
            guards: anyTimeGuards,
          },
        });
        await waitFor('succeeded', () => acksOf(b.published, sn, 'ota-1').some((a) => a.status === 'succeeded'));
        const acks = acksOf(b.published, sn, 'ota-1');
        expect(statusSequence(acks)).toStrictEqual(['accepted', 'downloading', 'downloaded', 'verified', 'installing', 'succeeded']);
        const progress = acks.filter((a) => a.status === 'downloading').map((a) => a.progress);
        expect(progress[0]).toBe(0);
        expect(progress.at(-1)).toBe(100);
        expect(progress).toStrictEqual([...progress].sort((x, y) => (x ?? 0) - (y ?? 0)));
        expect(acks.find((a) => a.status === 'succeeded')?.version).toBe('SIM_V9.9.9');
        expect(acks.find((a) => a.status === 'verified')?.error).toBeUndefined();

        // the second request resumed where the cut one stopped, with If-Range
        expect(http.ranges[0]).toBeUndefined();
        expect(http.ranges.length).toBe(2);
        const resumedAt = Number(/^bytes=(\d+)-$/.exec(http.ranges[1] ?? '')?.[1]);
        expect(resumedAt > 0 && resumedAt <= 100_000).toBeTruthy();
        expect(http.ifRanges[1]).toBe(`"${createHash('sha256').update(artifact).digest('hex')}"`);

        // rebooted: a new boot (seq 0, small uptime) heartbeats the new version
        await waitFor('heartbeat of the new version', () => heartbeatsOf(b.published, sn).some((h) => h.firmware.version === 'SIM_V9.9.9'));
        const first = heartbeatsOf(b.published, sn).find((h) => h.firmware.version === 'SIM_V9.9.9');
        expect(first?.seq).toBe(0);
        expect((first?.uptimeS ?? 99) < 5).toBeTruthy();
        expect(oldVersion).not.toBe('SIM_V9.9.9');
        expect(terminal.commandStatus('ota-1')).toBe('succeeded');
      } finally {
        await terminal.disconnect();
        await http.close();
        await b.close();
      }
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'ota.install: a corrupted download fails checksum_mismatch; a wrong signature fails signature_invalid',
    async () => {
      const artifact = Buffer.from('firmware image '.repeat(1000));
      const keys = generateKeyPairSync('ed25519');
      const other = generateKeyPairSync('ed25519');
      const b = await startBroker();
      const http = await startArtifactServer(artifact, null);
      const corrupt = makeTerminal(b.port, { releasePublicKey: keys.publicKey }, 'ota-checksum-mismatch');
      try {
        corrupt.start(0);
        await subscribed(corrupt);
        const params = { releaseId: 'rel-1', component: 'app', version: 'V9', url: http.url, size: artifact.length, guards: anyTimeGuards };
        sendCommand(b.broker, corrupt.sn, { id: 'ota-bad-sum', type: 'ota.install', params: { ...params, ...release(artifact, keys.privateKey) } });
        await waitFor('failed', () => acksOf(b.published, corrupt.sn, 'ota-bad-sum').some((a) => a.status === 'failed'));
        const failed = acksOf(b.published, corrupt.sn, 'ota-bad-sum').find((a) => a.status === 'failed');
        expect(failed?.reason).toBe('checksum_mismatch');
        expect(statusSequence(acksOf(b.published, corrupt.sn, 'ota-bad-sum'))).toStrictEqual(['accepted', 'downloading', 'downloaded', 'failed']);
        await corrupt.disconnect();

        const wrongKey = makeTerminal(b.port, { releasePublicKey: other.publicKey });
        wrongKey.start(0);
        try {
          await subscribed(wrongKey);
          sendCommand(b.broker, wrongKey.sn, { id: 'ota-bad-sig', type: 'ota.install', params: { ...params, ...release(artifact, keys.privateKey) } });
          await waitFor('failed', () => acksOf(b.published, wrongKey.sn, 'ota-bad-sig').some((a) => a.status === 'failed'));
          expect(acksOf(b.published, wrongKey.sn, 'ota-bad-sig').find((a) => a.status === 'failed')?.reason).toBe('signature_invalid');
        } finally {
          await wrongKey.disconnect();
        }
      } finally {
        await corrupt.disconnect();
        await http.close();
        await b.close();
      }
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'ota.install: low battery defers (battery) without downloading, then downloads from the newest URL once charged; install failure rolls back',
    async () => {
      const artifact = Buffer.from('x'.repeat(5000));
      const keys = generateKeyPairSync('ed25519');
      const b = await startBroker();
      const http = await startArtifactServer(artifact, null);
      const low = makeTerminal(b.port, {}, 'ota-low-battery');
      const failing = makeTerminal(b.port, {}, 'ota-install-fail');
      try {
        low.start(0);
        await subscribed(low);
        const params = {
          releaseId: 'rel-1',
          component: 'firmware',
          version: 'V9',
          url: http.url,
          size: artifact.length,
          ...release(artifact, keys.privateKey),
        };
        sendCommand(b.broker, low.sn, {
          id: 'ota-low',
          type: 'ota.install',
          params: { ...params, guards: { ...anyTimeGuards, minBatteryPct: 9, orCharging: true } },
        });
        await waitFor('deferred', () => acksOf(b.published, low.sn, 'ota-low').some((a) => a.status === 'deferred'));
        await new Promise((r) => setTimeout(r, 400));
        const acks = acksOf(b.published, low.sn, 'ota-low');
        // one deferred per reason, however often it re-checks
        expect(acks.map((a) => [a.status, a.reason])).toStrictEqual([
          ['accepted', undefined],
          ['deferred', 'battery'],
        ]);
        expect(http.ranges.length).toBe(0);
        // a resend of the same command is answered with its current status; its URL (signed afresh by
        // the ledger) replaces the one the terminal holds
        const freshUrl = http.url.replace('sig=z', 'sig=fresh');
        sendCommand(b.broker, low.sn, { id: 'ota-low', type: 'ota.install', params: { ...params, url: freshUrl, guards: anyTimeGuards } });
        await waitFor('answer to the resend', () => acksOf(b.published, low.sn, 'ota-low').length === 3);
        expect(acksOf(b.published, low.sn, 'ota-low')[2].status).toBe('deferred');
        // on the charger: the guard clears (the scenario read 8 %, just under the floor of 9) and the
        // download uses the newest URL
        low.otaScenario = null;
        await waitFor('succeeded', () => acksOf(b.published, low.sn, 'ota-low').some((a) => a.status === 'succeeded'));
        expect(http.paths.length).toBeGreaterThan(0);
        expect(http.paths.every((path) => path.endsWith('sig=fresh'))).toBe(true);
        await low.disconnect();

        failing.start(0);
        await subscribed(failing);
        const before = failing.firmware?.version;
        sendCommand(b.broker, failing.sn, { id: 'ota-fail', type: 'ota.install', params: { ...params, guards: anyTimeGuards } });
        await waitFor('rolled_back', () => acksOf(b.published, failing.sn, 'ota-fail').some((a) => a.status === 'rolled_back'));
        const seq = acksOf(b.published, failing.sn, 'ota-fail');
        expect(statusSequence(seq)).toStrictEqual(['accepted', 'downloading', 'downloaded', 'verified', 'installing', 'failed', 'rolled_back']);
        expect(seq.find((a) => a.status === 'failed')?.reason).toBe('install_failed');
        expect(seq.find((a) => a.status === 'rolled_back')?.version).toBe(before);
        // without a key the signature is not checked, and the verified ack says so
        expect(seq.find((a) => a.status === 'verified')?.error).toMatch(/signature not checked/);
      } finally {
        await low.disconnect();
        await failing.disconnect();
        await http.close();
        await b.close();
      }
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'ota.install with a bad release: succeeded, one heartbeat on the new version, then silent or weak signal',
    async () => {
      const artifact = Buffer.from('bad release '.repeat(500));
      const keys = generateKeyPairSync('ed25519');
      const b = await startBroker();
      const http = await startArtifactServer(artifact, null);
      const terminal = makeTerminal(b.port, { releasePublicKey: keys.publicKey }, 'ota-bad-release');
      const sn = terminal.sn;
      const fault = badReleaseFault(sn, String(terminal.profile.stateSeed));
      try {
        terminal.start(0);
        await subscribed(terminal);
        const params = { releaseId: 'rel-1', component: 'firmware', version: 'BAD_V1', url: http.url, size: artifact.length, guards: anyTimeGuards };
        sendCommand(b.broker, sn, { id: 'ota-sick', type: 'ota.install', params: { ...params, ...release(artifact, keys.privateKey) } });
        await waitFor('succeeded', () => acksOf(b.published, sn, 'ota-sick').some((a) => a.status === 'succeeded'));
        await waitFor('3 heartbeat intervals after the install', () => heartbeatsOf(b.published, sn).some((h) => h.firmware.version === 'BAD_V1'));
        await new Promise((r) => setTimeout(r, 800));
        const after = heartbeatsOf(b.published, sn).filter((h) => h.firmware.version === 'BAD_V1');
        if (fault === 'silent') {
          expect(after.length).toBe(1);
        } else {
          expect(after.length > 2).toBeTruthy();
          expect(after.slice(1).every((h) => (h.signal.rsrp ?? 0) < -110)).toBeTruthy();
        }
        expect(terminal.isConnected).toBe(true);
      } finally {
        await terminal.disconnect();
        await http.close();
        await b.close();
      }
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'reboot restarts seq and uptime; set_heartbeat_interval changes the pace; bad params and unknown types are rejected',
    async () => {
      const b = await startBroker();
      const terminal = makeTerminal(b.port, {});
      const sn = terminal.sn;
      try {
        terminal.start(0);
        await waitFor('4 heartbeats', () => heartbeatsOf(b.published, sn).length >= 4);
        await subscribed(terminal);
        sendCommand(b.broker, sn, { id: 'rb-1', type: 'reboot', params: {} });
        await waitFor('reboot succeeded', () => acksOf(b.published, sn, 'rb-1').some((a) => a.status === 'succeeded'));
        expect(acksOf(b.published, sn, 'rb-1').map((a) => a.status)).toStrictEqual(['accepted', 'succeeded']);
        const count = heartbeatsOf(b.published, sn).length;
        await waitFor('heartbeat after reboot', () => heartbeatsOf(b.published, sn).length > count);
        const after = heartbeatsOf(b.published, sn)[count];
        expect(after.seq).toBe(0);
        expect(after.uptimeS < 5).toBeTruthy();
        // the broker saw the reboot as a lost connection (Last Will) and a new one
        expect(b.published.some((p) => p.topic === topics.presence(sn) && p.payload.includes('"offline"'))).toBeTruthy();

        sendCommand(b.broker, sn, { id: 'hb-1', type: 'set_heartbeat_interval', params: { seconds: 45 } });
        await waitFor('interval succeeded', () => acksOf(b.published, sn, 'hb-1').some((a) => a.status === 'succeeded'));
        expect(terminal.heartbeatIntervalMs).toBe(45_000);
        const settled = heartbeatsOf(b.published, sn).length;
        await new Promise((r) => setTimeout(r, 600));
        // at the old pace (150 ms) four more would have come
        expect(heartbeatsOf(b.published, sn).length - settled <= 1).toBeTruthy();

        sendCommand(b.broker, sn, { id: 'hb-2', type: 'set_heartbeat_interval', params: { seconds: 5 } });
        sendCommand(b.broker, sn, { id: 'x-1', type: 'format_disk', params: {} });
        sendCommand(b.broker, sn, { id: 'old-1', type: 'reboot', expiresAt: '2020-01-01T00:00:00Z', params: {} });
        await waitFor('3 rejections', () => ['hb-2', 'x-1', 'old-1'].every((id) => acksOf(b.published, sn, id).length > 0));
        expect(acksOf(b.published, sn, 'hb-2')[0]).toMatchObject({ status: 'rejected', reason: 'invalid_params' });
        expect(acksOf(b.published, sn, 'x-1')[0]).toMatchObject({ status: 'rejected', reason: 'unknown_type' });
        expect(acksOf(b.published, sn, 'old-1')[0]).toMatchObject({ status: 'rejected', reason: 'expired' });
      } finally {
        await terminal.disconnect();
        await b.close();
      }
    },
    TEST_TIMEOUT_MS,
  );
});
