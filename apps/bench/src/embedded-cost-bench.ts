/**
 * `node dist/apps/bench/src/embedded-cost-bench.js`: where the embedded database's time goes, in CPU
 * time (both threads, process.cpuUsage), so a loaded host shifts it less than wall time.
 *
 *   statement: the real HeartbeatRepository.insertBatch against a migrated embedded database with
 *              4,000 registered terminals, per stored row, by batch size, alert queue on and off;
 *   transport: one request/reply round trip to a worker thread over loopback TCP (what the embedded
 *              database uses) vs a MessagePort with a transferred buffer, for a small query and for
 *              one ingest batch's size.
 *
 * Usage: node dist/apps/bench/src/embedded-cost-bench.js [statement|transport]...  (default both)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { loadConfig } from '#config';
import { createDataSource, EmbeddedDatabase, migrate } from '#db';
import { HeartbeatRepository, type HeartbeatRow } from '#ingest';
import { makeHeartbeat } from '#testing';

const cpuMicros = (since: NodeJS.CpuUsage): number => {
  const d = process.cpuUsage(since);
  return d.user + d.system;
};

async function statement(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'embedded-cost-'));
  const db = await EmbeddedDatabase.start({ dataDir: dir });
  const ds = createDataSource({ url: db.url, poolSize: 1 });
  try {
    await ds.initialize();
    await migrate(ds, { timescale: 'auto' });
    const sns = Array.from({ length: 4000 }, (_, i) => `COST${String(i).padStart(6, '0')}`);
    // The root provider every migrated database has.
    const [provider] = await ds.query<{ id: string }[]>(`SELECT id FROM providers WHERE code = 'root'`);
    await ds.query(`INSERT INTO terminals (sn, model, provider_id, credential_hash) SELECT unnest($1::text[]), 'M', $2, '\\x00'`, [sns, provider.id]);
    let ms = Date.now() - 6 * 3_600_000;
    for (const alerts of [true, false]) {
      const config = loadConfig({ ...process.env, ALERTS_ENABLED: String(alerts) });
      const repo = new HeartbeatRepository(ds, config);
      for (const size of [500, 2000, 5000]) {
        let rows = 0;
        let cpu = 0;
        for (let b = 0; b < Math.max(3, Math.ceil(12_000 / size)); b++) {
          const batch: HeartbeatRow[] = Array.from({ length: size }, (_, i) => {
            const time = new Date(ms++);
            return { time, sn: sns[(b * size + i) % sns.length], receivedAt: new Date(), heartbeat: makeHeartbeat({ seq: b }, time), extra: null };
          });
          const c0 = process.cpuUsage();
          await repo.insertBatch(batch);
          cpu += cpuMicros(c0);
          rows += size;
        }
        console.log(`statement: alert queue ${alerts ? 'on ' : 'off'}, ${size}-row batches: ${Math.round(cpu / rows)} µs CPU per row`);
      }
    }
  } finally {
    await ds.destroy().catch(() => undefined);
    await db.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** An echo worker: answers every `size` bytes with 100 bytes, over TCP and over its port. */
const ECHO = `
const { parentPort, workerData } = require('node:worker_threads');
const net = require('node:net');
const size = workerData.size;
const server = net.createServer((s) => {
  let n = 0;
  s.on('data', (d) => { n += d.length; while (n >= size) { n -= size; s.write(Buffer.alloc(100)); } });
});
server.listen(0, '127.0.0.1', () => parentPort.postMessage({ port: server.address().port }));
parentPort.on('message', () => parentPort.postMessage(new Uint8Array(100)));
`;

async function transport(size: number, n: number): Promise<void> {
  const worker = new Worker(ECHO, { eval: true, workerData: { size } });
  const { port } = await new Promise<{ port: number }>((resolve) => worker.once('message', resolve));
  const payload = Buffer.alloc(size, 7);
  const socket = connect(port, '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  let c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    await new Promise((resolve) => {
      socket.once('data', resolve);
      socket.write(payload);
    });
  }
  const tcp = cpuMicros(c0) / n;
  c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    const copy = new Uint8Array(size);
    copy.set(payload);
    await new Promise((resolve) => {
      worker.once('message', resolve);
      worker.postMessage(copy, [copy.buffer]);
    });
  }
  const messagePort = cpuMicros(c0) / n;
  socket.destroy();
  await worker.terminate();
  console.log(`transport: ${size} B request + 100 B reply: TCP ${Math.round(tcp)} µs, MessagePort ${Math.round(messagePort)} µs CPU per round trip`);
}

const parts = process.argv.slice(2);
if (parts.length === 0 || parts.includes('statement')) await statement();
if (parts.length === 0 || parts.includes('transport')) {
  await transport(300, 3000);
  await transport(800_000, 300);
}
