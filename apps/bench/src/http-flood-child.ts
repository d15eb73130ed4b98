/**
 * HTTP attacker for `bench:ingest --http-flood N`: N concurrent clients without a valid API key, each
 * sending a large JSON body of nested arrays to the fleet API over and over (no key, or a made-up
 * one, alternately). Reports how the server answered when the parent sends `stop`.
 *
 * Environment: FLOOD_URL (the gateway's HTTP base URL), FLOOD_CONCURRENCY, FLOOD_BYTES.
 */
import { request } from 'node:http';

const url = new URL('/v1/providers', process.env.FLOOD_URL);
const concurrency = Number(process.env.FLOOD_CONCURRENCY ?? 4);
const bytes = Number(process.env.FLOOD_BYTES ?? 10 * 1024 * 1024);

// Nested arrays are what makes a JSON parser work hardest per byte: built once, sent many times.
const unit = '[[[[[[[[1]]]]]]]],';
const body = Buffer.from(`[${unit.repeat(Math.max(1, Math.floor(bytes / unit.length)))}[]]`);

const outcomes = new Map<string, number>();
let sent = 0;
let running = true;
const count = (key: string) => outcomes.set(key, (outcomes.get(key) ?? 0) + 1);

function once(i: number): Promise<void> {
  return new Promise((resolve) => {
    const headers: Record<string, string | number> = { 'content-type': 'application/json', 'content-length': body.length };
    if (i % 2 === 1) headers.authorization = 'Bearer fk_flood_not_a_real_key';
    const req = request(url, { method: 'POST', headers }, (res) => {
      count(String(res.statusCode));
      res.resume();
      res.on('end', resolve);
      res.on('error', () => resolve());
    });
    // A server that answers before reading the body closes the socket under our write: that is the point.
    req.on('error', (err: NodeJS.ErrnoException) => {
      count(err.code ?? 'error');
      resolve();
    });
    sent++;
    req.end(body);
  });
}

async function client(id: number): Promise<void> {
  for (let i = id; running; i++) await once(i);
}

process.on('message', (m: { type?: string }) => {
  if (m?.type !== 'stop') return;
  running = false;
  process.send?.({ type: 'flood-result', sent, bodyBytes: body.length, outcomes: Object.fromEntries(outcomes) });
  setTimeout(() => process.exit(0), 200);
});
process.on('disconnect', () => process.exit(0));
for (let c = 0; c < concurrency; c++) void client(c);
process.send?.({ type: 'flood-ready', bodyBytes: body.length });
