import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { checkHeartbeatFast } from './heartbeat-fast-check.js';
import { sampleHeartbeat } from './heartbeat.fixture.js';
import { HEARTBEAT_SCHEMA_VERSION, heartbeatSchema } from './heartbeat.schema.js';
import { parsePayload } from './validation.js';

const FULL = { maxBytes: 65_536, supportedVersions: [HEARTBEAT_SCHEMA_VERSION] } as const;
const FAST = { ...FULL, fast: checkHeartbeatFast } as const;

/** Every optional section present, plus undeclared fields at several depths and date edge cases. */
function richHeartbeat(): Record<string, unknown> {
  const hb = sampleHeartbeat();
  const plan = (hb.sim as { plan: Record<string, unknown> }).plan;
  plan.expiresAt = '2024-02-29';
  plan.lastRenewal = { at: '2025-02-01T00:00:00Z', result: 'failed', reason: 'payment_declined' };
  return {
    ...hb,
    ts: '2025-03-03T08:00:00.123+08:00',
    tx: { approved: 10, declined: 3, declinesByCode: { '92': 2, '05': 1 }, reversals: { pending: 0, succeeded: 1, failed: 0 } },
  };
}

/** Every path of the sample, to mutate. */
function paths(o: unknown, prefix: string[] = []): string[][] {
  if (typeof o !== 'object' || o === null) return [];
  return Object.entries(o).flatMap(([k, v]) => [[...prefix, k], ...paths(v, [...prefix, k])]);
}

const PATHS = paths(richHeartbeat());

/** Values near every rule: bounds, wrong types, enum neighbours, format edge cases, unstorable text. */
const nasty = fc.oneof(
  fc.constantFrom(
    null,
    true,
    false,
    0,
    -0,
    1,
    -1,
    0.5,
    99,
    31,
    32,
    100,
    100.0001,
    -40,
    -40.5,
    -156,
    -31,
    -30.9,
    20,
    40,
    -23,
    -120,
    -25,
    90,
    -90,
    180,
    -181,
    1_000_000,
    10_000_000,
    10_000_001,
    100_000,
    100_001,
    2_147_483_647,
    2_147_483_648,
    315_360_000,
    315_360_001,
    Number.MAX_SAFE_INTEGER + 2,
    '',
    'x',
    'x'.repeat(32),
    'x'.repeat(33),
    'x'.repeat(64),
    'x'.repeat(65),
    'x'.repeat(200),
    'x'.repeat(201),
    'a\u0000b',
    '\ud800',
    'ok\udc00',
    '\ud83d\ude00',
    'LTE',
    'lte',
    'NB-IoT',
    'esim',
    'grace',
    'cell',
    'success',
    '46000',
    '460001',
    '4600',
    '123456789012345',
    '12345678901234567890',
    '2025-02-29',
    '2024-02-29',
    '2025-13-01',
    '2025-03-03T08:00:00Z',
    '2025-03-03T08:00:00',
    '2025-03-03T24:00:00Z',
    '2025-03-03 08:00:00Z',
    '2025-03-03T08:00:00.5-05:30',
    [],
    [1],
    {},
    { '92': 1 },
    { '9': 1 },
    { '92': -1 },
    { __proto__x: 1 },
    { nested: 'a\u0000' },
  ),
  fc.double(),
  fc.integer(),
  fc.string(),
  fc.jsonValue(),
);

type Mutation = { path: string[]; op: 'set' | 'delete'; value?: unknown } | { path: string[]; op: 'add'; key: string; value: unknown };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ path: fc.constantFrom(...PATHS), op: fc.constant<'set'>('set'), value: nasty }),
  fc.record({ path: fc.constantFrom(...PATHS), op: fc.constant<'delete'>('delete') }),
  fc.record({
    path: fc.constantFrom([], ...PATHS),
    op: fc.constant<'add'>('add'),
    key: fc.oneof(fc.constantFrom('extraA', 'ts', 'v', 'a\u0000', '\ud800', '__proto__', '99'), fc.string()),
    value: nasty,
  }),
);

function apply(hb: Record<string, unknown>, m: Mutation): void {
  const parentPath = m.op === 'add' ? m.path : m.path.slice(0, -1);
  let target: unknown = hb;
  for (const k of parentPath) target = (target as Record<string, unknown> | null)?.[k];
  if (typeof target !== 'object' || target === null) return;
  const obj = target as Record<string, unknown>;
  if (m.op === 'add') Object.defineProperty(obj, m.key, { value: m.value, enumerable: true, writable: true, configurable: true });
  else if (m.op === 'delete') delete obj[m.path[m.path.length - 1]];
  else obj[m.path[m.path.length - 1]] = m.value;
}

/** Every field path the schema declares (through optional wrappers and refinements). */
function declaredPaths(schema: unknown, prefix: string[] = []): string[][] {
  type Def = { def?: { type?: string; innerType?: Def; shape?: Record<string, unknown> } } | undefined;
  let current = schema as Def;
  while (current?.def?.innerType) current = current.def.innerType;
  const shape = current?.def?.type === 'object' ? current.def.shape : undefined;
  if (!shape) return [];
  return Object.entries(shape).flatMap(([k, v]) => [[...prefix, k], ...declaredPaths(v, [...prefix, k])]);
}

describe('checkHeartbeatFast (ingest fast path)', () => {
  it('is exercised on every field the schema declares (a new field must be added to the sample and to the fast check)', () => {
    const sample = new Set(PATHS.map((p) => p.join('.')));
    const declared = declaredPaths(heartbeatSchema).map((p) => p.join('.'));
    expect(declared).toEqual(expect.arrayContaining(['sim.plan.lastRenewal.reason', 'tx.reversals.failed', 'location.source', 'uptimeS']));
    expect(
      declaredPaths(heartbeatSchema)
        .map((p) => p.join('.'))
        .filter((p) => !sample.has(p)),
    ).toStrictEqual([]);
  });

  it('accepts the valid heartbeats and returns what the schema path returns', () => {
    const plain = richHeartbeat();
    const extras = { ...richHeartbeat(), vendor: { a: [1, 'two'] }, sim: { ...(richHeartbeat().sim as object), eid: '89049' } };
    for (const hb of [plain, extras]) {
      const raw = Buffer.from(JSON.stringify(hb));
      expect(checkHeartbeatFast(JSON.parse(raw.toString()) as Record<string, unknown>)).not.toBeNull();
      expect(parsePayload(raw, heartbeatSchema, FAST)).toStrictEqual(parsePayload(raw, heartbeatSchema, FULL));
    }
    expect(parsePayload(Buffer.from(JSON.stringify(extras)), heartbeatSchema, FAST)).toMatchObject({
      ok: true,
      extra: { vendor: { a: [1, 'two'] }, sim: { eid: '89049' } },
    });
  });

  it('never disagrees with the schema path: same verdict, value, extras and rejection (differential, fixed seed)', () => {
    let validAndFast = 0;
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 3 }), (mutations) => {
        const hb = richHeartbeat();
        for (const m of mutations) apply(hb, m);
        const raw = Buffer.from(JSON.stringify(hb));
        const full = parsePayload(raw, heartbeatSchema, FULL);
        expect(parsePayload(raw, heartbeatSchema, FAST)).toStrictEqual(full);
        const fast = checkHeartbeatFast(JSON.parse(raw.toString()) as Record<string, unknown>);
        // Looser than the schema would be a bug; stricter only on text that may be unstorable (and "__proto__").
        if (!full.ok) expect(fast).toBeNull();
        else if (!/[\uD800-\uDFFF]|\\u0000|__proto__/.test(raw.toString())) {
          expect(fast).not.toBeNull();
          validAndFast++;
        }
      }),
      { seed: Number(process.env.FAST_SEED ?? 20261201), numRuns: Number(process.env.FAST_RUNS ?? 1500) },
    );
    // The mutations must also produce valid heartbeats, or the property would prove little.
    expect(validAndFast).toBeGreaterThan(100);
  });
});
