import { describe, expect, it } from '@jest/globals';
import { HEARTBEAT_SCHEMA_VERSION, heartbeatSchema, type Heartbeat } from './heartbeat.schema.js';
import { sampleHeartbeat as validHeartbeat } from './heartbeat.fixture.js';
import { extraFields, parsePayload, type ParseResult } from './validation.js';

const OPTIONS = { maxBytes: 8192, supportedVersions: [HEARTBEAT_SCHEMA_VERSION] } as const;

type Json = Record<string, unknown>;

/** Deep-copies the valid heartbeat and applies `edit` to the copy. */
function heartbeatWith(edit: (hb: Json) => void): Json {
  const hb = structuredClone(validHeartbeat());
  edit(hb);
  return hb;
}

function obj(value: unknown): Json {
  expect(value !== null && typeof value === 'object').toBeTruthy();
  return value as Json;
}

function parse(payload: string | Buffer | Uint8Array, options: { maxBytes: number; supportedVersions: readonly number[] } = OPTIONS): ParseResult<Heartbeat> {
  return parsePayload(payload, heartbeatSchema, options);
}

function parseJson(value: unknown): ParseResult<Heartbeat> {
  return parse(JSON.stringify(value));
}

function expectFailure(result: ParseResult<Heartbeat>, reason: string): string {
  expect(result.ok).toBe(false);
  if (result.ok) throw new Error('unreachable');
  expect(result.reason).toBe(reason);
  expect(typeof result.detail).toBe('string');
  expect(result.detail.length > 0).toBeTruthy();
  return result.detail;
}

function expectOk(result: ParseResult<Heartbeat>): { value: Heartbeat; extra: Record<string, unknown> | null } {
  expect(result.ok).toBeTruthy();
  if (!result.ok) throw new Error(result.detail);
  return { value: result.value, extra: result.extra };
}

describe('parsePayload', () => {
  it('accepts a valid heartbeat as string, Buffer and Uint8Array, with no extra fields', () => {
    const json = JSON.stringify(validHeartbeat());
    for (const payload of [json, Buffer.from(json), new Uint8Array(Buffer.from(json))]) {
      const { value, extra } = expectOk(parse(payload));
      expect(value.seq).toBe(42);
      expect(value.sim.plan.status).toBe('active');
      expect(value.location?.source).toBe('gps');
      expect(extra).toBe(null);
    }
  });

  it('accepts a heartbeat without the optional fields', () => {
    const hb = heartbeatWith((h) => {
      delete h.location;
      const signal = obj(h.signal);
      for (const k of ['rsrp', 'rsrq', 'sinr', 'rssi', 'csq', 'cellId']) delete signal[k];
      delete obj(h.battery).temperatureC;
      const plan = obj(obj(h.sim).plan);
      delete plan.lastRenewal;
      delete plan.allowanceMb;
    });
    expectOk(parseJson(hb));
  });

  it('rejects payloads over maxBytes as payload_too_large, counting bytes not characters', () => {
    const json = JSON.stringify(validHeartbeat());
    const size = Buffer.byteLength(json);
    expectOk(parse(json, { maxBytes: size, supportedVersions: [1] }));
    const detail = expectFailure(parse(json, { maxBytes: size - 1, supportedVersions: [1] }), 'payload_too_large');
    expect(detail).toMatch(new RegExp(`${size}`));
    expectFailure(parse(Buffer.from(json), { maxBytes: size - 1, supportedVersions: [1] }), 'payload_too_large');
    // 6 characters, 12 bytes in UTF-8.
    expectFailure(parse('"éééééé"', { maxBytes: 10, supportedVersions: [1] }), 'payload_too_large');
  });

  it('checks the size before parsing (an oversized malformed payload is payload_too_large)', () => {
    expectFailure(parse('{'.repeat(100), { maxBytes: 50, supportedVersions: [1] }), 'payload_too_large');
  });

  it('rejects invalid JSON as malformed_json', () => {
    expectFailure(parse('{"v":1,'), 'malformed_json');
    expectFailure(parse(''), 'malformed_json');
    expectFailure(parse(Buffer.from([0xff, 0xfe, 0x00])), 'malformed_json');
  });

  it('rejects invalid UTF-8 inside an otherwise valid heartbeat as malformed_json instead of replacing it', () => {
    const json = JSON.stringify(validHeartbeat());
    const at = json.indexOf('EP-');
    expect(at).toBeGreaterThan(0);
    for (const bad of [[0xff], [0xc3], [0xed, 0xa0, 0x80], [0xc0, 0xaf]]) {
      const payload = Buffer.concat([Buffer.from(json.slice(0, at)), Buffer.from(bad), Buffer.from(json.slice(at))]);
      expect(expectFailure(parse(payload), 'malformed_json')).toContain('UTF-8');
    }
    // Valid multi-byte UTF-8 is fine.
    expectOk(parse(Buffer.from(JSON.stringify({ ...validHeartbeat(), x_note: 'Café 终端 🚀' }))));
  });

  it('rejects NUL in any string or key, declared or extra, as schema_violation naming it', () => {
    expect(expectFailure(parseJson(heartbeatWith((h) => (h.model = 'EP\u0000T1'))), 'schema_violation')).toContain('model');
    expect(expectFailure(parseJson({ ...validHeartbeat(), x_vendor: { a: ['ok', 'b\u0000'] } }), 'schema_violation')).toContain('x_vendor.a.1');
    expect(expectFailure(parseJson({ ...validHeartbeat(), 'x\u0000k': 1 }), 'schema_violation')).toContain('NUL');
  });

  it('rejects lone surrogates (valid JSON escapes, not Unicode) as schema_violation', () => {
    expect(expectFailure(parse('{"v":1,"x":"\\ud800"}'.replace('{"v":1,', JSON.stringify(validHeartbeat()).slice(0, -1) + ',')), 'schema_violation')).toContain(
      'lone surrogate',
    );
    expect(expectFailure(parseJson({ ...validHeartbeat(), x_vendor: { 'k\udc00': 1 } }), 'schema_violation')).toContain('x_vendor');
    // A proper surrogate pair (an emoji) is fine.
    expectOk(parse(JSON.stringify({ ...validHeartbeat(), x_note: '\ud83d\ude80' })));
  });

  it('rejects JSON that is not an object as malformed_json', () => {
    for (const payload of ['[1,2]', '42', 'null', '"hello"', 'true']) {
      const detail = expectFailure(parse(payload), 'malformed_json');
      expect(detail).toMatch(/object/);
    }
  });

  it('rejects a missing, wrong-typed or unknown version as unsupported_version', () => {
    expectFailure(parseJson(heartbeatWith((h) => delete h.v)), 'unsupported_version');
    expectFailure(parseJson(heartbeatWith((h) => (h.v = '1'))), 'unsupported_version');
    const detail = expectFailure(parseJson(heartbeatWith((h) => (h.v = 2))), 'unsupported_version');
    expect(detail).toMatch(/2/);
  });

  it('uses the supported versions given by the caller', () => {
    const hb = heartbeatWith((h) => (h.v = 2));
    // Version 2 passes the version gate, then the v1 schema's literal rejects it.
    const detail = expectFailure(parse(JSON.stringify(hb), { maxBytes: 8192, supportedVersions: [1, 2] }), 'schema_violation');
    expect(detail).toMatch(/^v: /);
    expectFailure(parse(JSON.stringify(validHeartbeat()), { maxBytes: 8192, supportedVersions: [2] }), 'unsupported_version');
  });

  it('reports a schema_violation with the path of the offending field', () => {
    const cases: [Json, RegExp][] = [
      [heartbeatWith((h) => delete h.model), /(^|; )model: /],
      [heartbeatWith((h) => (h.seq = -1)), /(^|; )seq: /],
      [heartbeatWith((h) => (h.seq = 1.5)), /(^|; )seq: /],
      [heartbeatWith((h) => (h.ts = 'yesterday')), /(^|; )ts: /],
      [heartbeatWith((h) => (obj(h.battery).percent = 101)), /(^|; )battery\.percent: /],
      [heartbeatWith((h) => (obj(h.signal).rat = '6G')), /(^|; )signal\.rat: /],
      [heartbeatWith((h) => (obj(obj(h.sim).plan).status = 'paused')), /(^|; )sim\.plan\.status: /],
      [heartbeatWith((h) => (obj(obj(obj(h.sim).plan).lastRenewal).result = 'maybe')), /(^|; )sim\.plan\.lastRenewal\.result: /],
      [heartbeatWith((h) => (obj(h.location).lat = 91)), /(^|; )location\.lat: /],
    ];
    for (const [hb, pattern] of cases) {
      const detail = expectFailure(parseJson(hb), 'schema_violation');
      expect(detail).toMatch(pattern);
    }
  });

  it('lists several violations in the detail', () => {
    const hb = heartbeatWith((h) => {
      obj(h.battery).percent = -1;
      obj(h.sim).imei = '123';
    });
    const detail = expectFailure(parseJson(hb), 'schema_violation');
    expect(detail).toMatch(/battery\.percent: /);
    expect(detail).toMatch(/sim\.imei: /);
  });
});

describe('heartbeat schema ranges', () => {
  const valid = (edit: (hb: Json) => void) => expectOk(parseJson(heartbeatWith(edit)));
  const invalid = (edit: (hb: Json) => void, path: string) => {
    const detail = expectFailure(parseJson(heartbeatWith(edit)), 'schema_violation');
    expect(detail.startsWith(`${path}: `) || detail.includes(`; ${path}: `)).toBeTruthy();
  };

  it('battery percent is 0..100', () => {
    valid((h) => (obj(h.battery).percent = 0));
    valid((h) => (obj(h.battery).percent = 100));
    invalid((h) => (obj(h.battery).percent = 100.1), 'battery.percent');
    invalid((h) => (obj(h.battery).percent = -0.1), 'battery.percent');
    invalid((h) => (obj(h.battery).percent = '50'), 'battery.percent');
  });

  it('csq is 0..31 or 99', () => {
    for (const csq of [0, 31, 99]) valid((h) => (obj(h.signal).csq = csq));
    for (const csq of [32, 98, 100, -1, 10.5]) invalid((h) => (obj(h.signal).csq = csq), 'signal.csq');
  });

  it('mccMnc is 5 or 6 digits', () => {
    valid((h) => (obj(h.signal).mccMnc = '46000'));
    valid((h) => (obj(h.signal).mccMnc = '310260'));
    for (const v of ['4600', '4600000', '46O00', '46 000', '']) invalid((h) => (obj(h.signal).mccMnc = v), 'signal.mccMnc');
    invalid((h) => (obj(h.signal).mccMnc = 46000), 'signal.mccMnc');
  });

  it('iccid is 18 to 22 digits', () => {
    valid((h) => (obj(h.sim).iccid = '8'.repeat(18)));
    valid((h) => (obj(h.sim).iccid = '8'.repeat(22)));
    for (const v of ['8'.repeat(17), '8'.repeat(23), `${'8'.repeat(18)}F`]) invalid((h) => (obj(h.sim).iccid = v), 'sim.iccid');
  });

  it('imei is exactly 15 digits', () => {
    for (const v of ['1'.repeat(14), '1'.repeat(16), `${'1'.repeat(14)}A`]) invalid((h) => (obj(h.sim).imei = v), 'sim.imei');
  });

  it('other ranges: signal levels, location, uptime, plan usage', () => {
    invalid((h) => (obj(h.signal).rsrp = -30), 'signal.rsrp');
    invalid((h) => (obj(h.location).lon = 180.5), 'location.lon');
    invalid((h) => (obj(h.location).source = 'wifi'), 'location.source');
    invalid((h) => (h.uptimeS = -1), 'uptimeS');
    invalid((h) => (obj(obj(h.sim).plan).usedMb = -1), 'sim.plan.usedMb');
    invalid((h) => (obj(obj(h.sim).plan).expiresAt = '2025-02-30T00:00:00Z'), 'sim.plan.expiresAt');
    invalid((h) => (obj(h.firmware).version = ''), 'firmware.version');
  });

  const tx = (): Json => ({
    approved: 12,
    declined: 4,
    declinesByCode: { '51': 1, '92': 2 },
    reversals: { pending: 1, succeeded: 2, failed: 0 },
  });
  const withTx = (edit: (t: Json) => void) => (h: Json) => {
    const t = tx();
    edit(t);
    h.tx = t;
  };

  it('tx is optional and, when present, parsed with its counts', () => {
    const { value, extra } = expectOk(parseJson(heartbeatWith((h) => (h.tx = tx()))));
    expect(value.tx).toStrictEqual(tx());
    expect(extra).toBe(null);
    expect(expectOk(parseJson(validHeartbeat())).value.tx).toBe(undefined);
    // an idle interval, and declines without a response code (timeouts)
    valid(withTx((t) => Object.assign(t, { approved: 0, declined: 0, declinesByCode: {}, reversals: { pending: 0, succeeded: 0, failed: 0 } })));
    valid(withTx((t) => Object.assign(t, { declined: 9, declinesByCode: { '92': 2 } })));
    valid(withTx((t) => Object.assign(t, { approved: 100_000, declined: 100_000, declinesByCode: { '05': 100_000 } })));
  });

  it('tx counts are integers 0..100000 and every part is required', () => {
    for (const bad of [-1, 1.5, 100_001, '3', null]) {
      invalid(
        withTx((t) => (t.approved = bad)),
        'tx.approved',
      );
      invalid(
        withTx((t) => (t.declined = bad)),
        'tx.declined',
      );
      invalid(
        withTx((t) => (obj(t.reversals).pending = bad)),
        'tx.reversals.pending',
      );
      invalid(
        withTx((t) => (obj(t.reversals).failed = bad)),
        'tx.reversals.failed',
      );
    }
    for (const key of ['approved', 'declined', 'declinesByCode', 'reversals'])
      invalid(
        withTx((t) => delete t[key]),
        `tx.${key}`,
      );
    invalid(
      withTx((t) => delete obj(t.reversals).succeeded),
      'tx.reversals.succeeded',
    );
    invalid((h) => (h.tx = null), 'tx');
    invalid((h) => (h.tx = [1, 2]), 'tx');
  });

  it('tx.declinesByCode: two-digit codes, bounded counts, at most 32 codes, not more than declined', () => {
    for (const code of ['9', '920', 'A1', ' 92', '']) {
      invalid(
        withTx((t) => (t.declinesByCode = JSON.parse(`{${JSON.stringify(code)}:1}`) as Json)),
        `tx.declinesByCode.${code}`,
      );
    }
    // zod never copies a "__proto__" key into a record: it is dropped, not stored
    const proto = expectOk(parseJson(heartbeatWith(withTx((t) => (t.declinesByCode = JSON.parse('{"__proto__":1,"92":1}') as Json)))));
    expect(Object.keys(proto.value.tx?.declinesByCode ?? {})).toStrictEqual(['92']);
    for (const count of [-1, 0.5, 100_001, '1'])
      invalid(
        withTx((t) => (t.declinesByCode = { '92': count })),
        'tx.declinesByCode.92',
      );
    const codes = (n: number): Json => Object.fromEntries(Array.from({ length: n }, (_, i) => [String(10 + i), 1]));
    valid(withTx((t) => Object.assign(t, { declined: 32, declinesByCode: codes(32) })));
    invalid(
      withTx((t) => Object.assign(t, { declined: 33, declinesByCode: codes(33) })),
      'tx.declinesByCode',
    );
    invalid(
      withTx((t) => Object.assign(t, { declined: 2, declinesByCode: { '92': 2, '96': 1 } })),
      'tx.declinesByCode',
    );
  });
});

describe('extraFields', () => {
  it('collects unknown keys at the top level and inside nested (and optional) objects', () => {
    const hb = heartbeatWith((h) => {
      h.vendorBlob = { a: 1 };
      obj(h.battery).healthPct = 93;
      obj(obj(h.sim).plan).promo = 'spring';
      obj(h.location).altitudeM = 12;
      h.tx = { approved: 1, declined: 0, declinesByCode: {}, reversals: { pending: 0, succeeded: 0, failed: 0, x_queued: 2 }, x_offline: 1 };
    });
    const { value, extra } = expectOk(parseJson(hb));
    expect(extra).toStrictEqual({
      vendorBlob: { a: 1 },
      battery: { healthPct: 93 },
      sim: { plan: { promo: 'spring' } },
      location: { altitudeM: 12 },
      tx: { reversals: { x_queued: 2 }, x_offline: 1 },
    });
    expect(value.battery.percent).toBe(87);
  });

  it('returns null when everything is declared, and for non-objects', () => {
    expect(extraFields(validHeartbeat(), heartbeatSchema)).toBe(null);
    expect(extraFields(null, heartbeatSchema)).toBe(null);
    expect(extraFields([1, 2], heartbeatSchema)).toBe(null);
    expect(extraFields('x', heartbeatSchema)).toBe(null);
  });

  it('does not descend into values whose schema is not an object', () => {
    // `model` is a string in the schema: an object there is a type error, not an extra field.
    expect(extraFields({ model: { nested: true } }, heartbeatSchema)).toBe(null);
  });

  it('regression: reports unknown keys that share a name with Object.prototype members', () => {
    const raw = JSON.parse('{"v":1,"constructor":"x","toString":"y"}') as unknown;
    expect(extraFields(raw, heartbeatSchema)).toStrictEqual({ constructor: 'x', toString: 'y' });
  });
});
