import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  connectOk,
  endClient,
  makeHeartbeat,
  publishHeartbeat,
  startTestDatabase,
  startTestGateway,
  testDbKinds,
  waitFor,
  type TestDatabase,
  type TestGateway,
} from '#testing';

/**
 * Seeded MQTT fuzz: mutated heartbeats and random payloads on every topic of a terminal. Each message
 * must end up stored or dead-lettered with a documented reason, the connection must survive, and the
 * next good heartbeat must be stored. Longer run: FUZZ_RUNS=5000 FUZZ_SEED=<n> TEST_DB=pglite npx jest apps/fleet/test/gateway-fuzz
 */
const RUNS = Number(process.env.FUZZ_RUNS ?? 150);
const SEED = Number(process.env.FUZZ_SEED ?? 20261201);
const REASONS = new Set(['payload_too_large', 'malformed_json', 'unsupported_version', 'schema_violation', 'clock_skew', 'unknown_topic', 'acl_denied']);

/** mulberry32: small, seedable, good enough to pick mutations. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function fuzzer(seed: number) {
  const rnd = prng(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)];
  const randomString = (): string => {
    const alphabet = ['a', 'Z', '0', ' ', '\u0000', '\u0001', '"', '\\', 'é', '终', '🚀', '\ud800', '\n', '%', '{'];
    return Array.from({ length: int(12) }, () => pick(alphabet)).join('');
  };
  const randomValue = (depth = 0): Json => {
    switch (int(depth > 1 ? 6 : 8)) {
      case 0:
        return null;
      case 1:
        return rnd() < 0.5;
      case 2:
        return pick([0, -1, 1.5, 1e308, -1e308, 2 ** 31, 2 ** 53 + 1, 99, -156, 100.0001]);
      case 3:
        return randomString();
      case 4:
        return pick(['2025-02-30', '2026-12-01T00:00:00Z', '2026-12-01T00:00:00+0800', 'NaN', '', '1']);
      case 5:
        return int(1000);
      case 6:
        return Array.from({ length: int(3) }, () => randomValue(depth + 1));
      default:
        return Object.fromEntries(Array.from({ length: int(3) }, () => [randomString(), randomValue(depth + 1)]));
    }
  };
  const paths = (value: Json, prefix: string[] = []): string[][] => {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return [prefix];
    return [prefix, ...Object.entries(value).flatMap(([k, v]) => paths(v, [...prefix, k]))];
  };
  const mutateJson = (hb: { [key: string]: Json }): { [key: string]: Json } => {
    const copy = structuredClone(hb);
    const candidates = paths(copy).filter((p) => p.length > 0);
    for (let i = 0, n = 1 + int(3); i < n; i++) {
      const path = pick(candidates);
      let parent: { [key: string]: Json } = copy;
      for (const key of path.slice(0, -1)) {
        const next = parent[key];
        if (next === null || typeof next !== 'object' || Array.isArray(next)) break;
        parent = next;
      }
      const last = path[path.length - 1];
      const op = int(3);
      if (op === 0) delete parent[last];
      else if (op === 1) parent[last] = randomValue();
      else parent[`x_${randomString()}`] = randomValue();
    }
    return copy;
  };
  const mutateBytes = (bytes: Buffer): Buffer => {
    const out = Buffer.from(bytes);
    switch (int(4)) {
      case 0:
        return out.subarray(0, int(out.length));
      case 1:
        out[int(out.length)] = int(256);
        return out;
      case 2:
        return Buffer.concat([out.subarray(0, int(out.length)), Buffer.from(pick([[0xff], [0xc3], [0xed, 0xa0, 0x80], [0x00]])), out]);
      default:
        return Buffer.from(Array.from({ length: int(64) }, () => int(256)));
    }
  };
  return { rnd, int, pick, mutateJson, mutateBytes, randomString };
}

for (const kind of testDbKinds()) {
  describe(`MQTT fuzz on ${kind} (seed ${SEED}, ${RUNS} runs)`, () => {
    let db: TestDatabase;
    let gw: TestGateway;
    let secret = '';
    const SN = 'FUZZ0001';

    beforeAll(async () => {
      db = await startTestDatabase(kind);
      gw = await startTestGateway(db);
      secret = (await gw.register([SN])).get(SN) ?? '';
    });
    afterAll(async () => {
      await gw?.close();
      await db?.stop();
    });

    it('stores or dead-letters every message with a documented reason, keeps the connection, stores the next good heartbeat', async () => {
      const f = fuzzer(SEED);
      const client = await connectOk(gw.mqttUrl, SN, secret);
      let closes = 0;
      client.on('close', () => closes++);
      const topicsFor = [
        `pos/v1/${SN}/heartbeat`,
        `pos/v1/${SN}/presence`,
        `pos/v1/${SN}/commands/ack`,
        `pos/v1/${SN}/status`,
        `pos/v1/OTHER001/heartbeat`,
        `pos/v1/${SN}/commands`,
      ];
      let presenceAccepted = 0;
      const base = Date.now() - 60 * 60_000;
      for (let i = 0; i < RUNS; i++) {
        // A distinct ts per run, so no mutation is a duplicate of another.
        const hb = makeHeartbeat({ seq: i }, new Date(base + i * 1000)) as unknown as { [key: string]: Json };
        const useBytes = f.rnd() < 0.3;
        const onHeartbeat = f.rnd() < 0.7;
        const topic = onHeartbeat ? topicsFor[0] : f.pick(topicsFor.slice(1));
        const payload = useBytes ? f.mutateBytes(Buffer.from(JSON.stringify(hb))) : Buffer.from(JSON.stringify(f.mutateJson(hb)));
        if (topic.endsWith('/presence') && /"state":"(online|offline)"/.test(payload.toString())) presenceAccepted++;
        await client.publishAsync(topic, payload, { qos: 1 });
      }
      expect(closes).toBe(0);
      expect(client.connected).toBe(true);

      // Every message is either a stored heartbeat or a dead letter (presence that happens to be valid aside).
      const counts = async () => {
        const [{ stored }] = await gw.query<{ stored: number }>('SELECT count(*)::int AS stored FROM heartbeats WHERE sn = $1', [SN]);
        const [{ dead }] = await gw.query<{ dead: number }>('SELECT count(*)::int AS dead FROM dead_letters WHERE client_id = $1', [SN]);
        return { stored, dead };
      };
      const final = await waitFor(counts, ({ stored, dead }) => stored + dead >= RUNS - presenceAccepted);
      expect(final.stored + final.dead).toBeLessThanOrEqual(RUNS);
      const odd = await gw.query<{ reason: string; detail: string; payload: Buffer }>(
        'SELECT reason, detail, payload FROM dead_letters WHERE client_id = $1 AND NOT (reason = ANY($2))',
        [SN, [...REASONS]],
      );
      expect(odd.map((d) => `${d.reason}: ${d.detail}: ${Buffer.from(d.payload).toString()}`)).toStrictEqual([]);

      const good = makeHeartbeat({ seq: RUNS + 1 });
      await publishHeartbeat(client, SN, good);
      const [{ n }] = await gw.query<{ n: number }>('SELECT count(*)::int AS n FROM heartbeats WHERE sn = $1 AND time = $2', [SN, good.ts]);
      expect(n).toBe(1);
      await endClient(client);
    }, 120_000);
  });
}
