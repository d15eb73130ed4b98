/**
 * MQTT attacker for `bench:ingest --mqtt-flood K`: K concurrent connections that never authenticate.
 * Each opens a TCP connection to the broker, declares a CONNECT packet of FLOOD_PACKET_BYTES (up to
 * MQTT's maximum, 256 MiB) and streams filler for it as fast as the server reads, until the server
 * closes the connection; then it opens the next one at once. Reports what happened when the parent
 * sends `stop`.
 *
 * Environment: FLOOD_MQTT_URL (mqtt://host:port), FLOOD_CONCURRENCY, FLOOD_PACKET_BYTES.
 */
import { connect, type Socket } from 'node:net';

const target = new URL(process.env.FLOOD_MQTT_URL ?? 'mqtt://127.0.0.1:1883');
const concurrency = Number(process.env.FLOOD_CONCURRENCY ?? 8);
const declared = Math.min(Number(process.env.FLOOD_PACKET_BYTES ?? 200 * 1024 * 1024), 268_435_455);

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

const header = Buffer.concat([Buffer.from([0x10]), varint(declared)]);
const filler = Buffer.alloc(64 * 1024, 0x41);

let opened = 0;
let closedByServer = 0;
let refusedAtConnect = 0;
let bytesWritten = 0;
let maxBytesOnOneConnection = 0;
let running = true;
const live = new Set<Socket>();

function attack(): Promise<void> {
  return new Promise((resolve) => {
    let written = 0;
    let done = false;
    const socket = connect({ host: target.hostname, port: Number(target.port) });
    live.add(socket);
    const finish = (byServer: boolean) => {
      if (done) return;
      done = true;
      live.delete(socket);
      if (byServer) closedByServer++;
      maxBytesOnOneConnection = Math.max(maxBytesOnOneConnection, written);
      socket.destroy();
      resolve();
    };
    const pump = () => {
      while (running && !done && written < declared) {
        written += filler.length;
        bytesWritten += filler.length;
        if (!socket.write(filler)) return void socket.once('drain', pump);
      }
    };
    socket.once('connect', () => {
      opened++;
      socket.write(header);
      pump();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (written === 0 && err.code === 'ECONNREFUSED') refusedAtConnect++;
    });
    socket.once('close', () => finish(running));
  });
}

async function attacker(): Promise<void> {
  while (running) {
    await attack();
    // A closed connection is retried at once: the pressure stays on. A short pause only when refused at connect.
    if (running && refusedAtConnect > 0) await new Promise((r) => setTimeout(r, 5));
  }
}

process.on('message', (m: { type?: string }) => {
  if (m?.type !== 'stop') return;
  running = false;
  for (const s of live) s.destroy();
  process.send?.({ type: 'flood-result', opened, closedByServer, refusedAtConnect, bytesWritten, maxBytesOnOneConnection, declared });
  setTimeout(() => process.exit(0), 200);
});
process.on('disconnect', () => process.exit(0));
for (let c = 0; c < concurrency; c++) void attacker();
process.send?.({ type: 'flood-ready', declared });
