import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  INTERNAL_HTTP_PATHS,
  type RegisterTerminalsRequest,
  type RegisterTerminalsResponse,
  type RotateCredentialsRequest,
  type TerminalRegistration,
} from '#contracts';
import { CredentialsStore } from './credentials-store.js';
import { ensureCredentials, isAlreadyExistsError, isTidConflictError, type FetchFn } from './enrolment-client.js';

interface Call {
  url: string;
  auth: string | null;
  body: RegisterTerminalsRequest | RotateCredentialsRequest;
}

/**
 * Fake gateway with the real registry's error codes: `existing` SNs are reported as already registered,
 * `broken` SNs fail validation, TIDs in `takenTids` belong to other terminals.
 */
function fakeGateway(
  existing: ReadonlySet<string>,
  broken: ReadonlySet<string> = new Set(),
  takenTids: ReadonlySet<string> = new Set(),
): { fetchFn: FetchFn; calls: Call[] } {
  const calls: Call[] = [];
  const fetchFn: FetchFn = async (url, init) => {
    const body = JSON.parse(String(init.body)) as RegisterTerminalsRequest & RotateCredentialsRequest;
    const auth = new Headers(init.headers).get('authorization');
    calls.push({ url, auth, body });
    if (auth !== 'Bearer good-token') return new Response('{"error":"unauthorized"}', { status: 401 });
    const res: RegisterTerminalsResponse = { credentials: [], errors: [] };
    if (url.endsWith(INTERNAL_HTTP_PATHS.rotateCredentials)) {
      for (const sn of body.sns) res.credentials.push({ sn, username: sn, secret: `rotated-${sn}` });
    } else {
      body.terminals.forEach((t: TerminalRegistration, i: number) => {
        if (existing.has(t.sn)) res.errors.push({ row: i + 1, sn: t.sn, code: 'TERMINAL_ALREADY_EXISTS', message: `terminal ${t.sn} is already registered` });
        else if (broken.has(t.sn)) res.errors.push({ row: i + 1, sn: null, code: 'TERMINAL_INVALID_TID', message: 'bad TID' });
        else if (t.tid && takenTids.has(t.tid)) res.errors.push({ row: i + 1, sn: t.sn, code: 'TERMINAL_TID_IN_USE', message: `TID ${t.tid} belongs to terminal X` });
        else res.credentials.push({ sn: t.sn, username: t.sn, secret: `new-${t.sn}` });
      });
    }
    return new Response(JSON.stringify(res), { status: 200, headers: { 'content-type': 'application/json' } });
  };
  return { fetchFn, calls };
}

const regs = (n: number): TerminalRegistration[] =>
  Array.from({ length: n }, (_, i) => ({ sn: `SIM-${String(i + 1).padStart(6, '0')}`, model: 'QP-E20' }));

describe('ensureCredentials', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sim-enrol-'));
  after(() => rm(dir, { recursive: true, force: true }));

  it('does nothing (and needs no token) when every terminal has credentials', async () => {
    const store = new CredentialsStore(join(dir, 'a.json'));
    for (const r of regs(3)) store.set({ sn: r.sn, username: r.sn, secret: 's' });
    const { fetchFn, calls } = fakeGateway(new Set());
    const report = await ensureCredentials(regs(3), store, {
      httpUrl: 'http://gw',
      fetchFn,
      adminToken: () => Promise.reject(new Error('token must not be read')),
    });
    assert.deepEqual(report, { alreadyKnown: 3, registered: 0, rotated: 0, failed: [] });
    assert.equal(calls.length, 0);
  });

  it('registers missing terminals in batches of 500, rotates already-registered ones, and saves', async () => {
    const path = join(dir, 'b.json');
    const store = new CredentialsStore(path);
    store.set({ sn: 'SIM-000001', username: 'SIM-000001', secret: 'kept' });
    const existing = new Set(['SIM-000002', 'SIM-000777']);
    const { fetchFn, calls } = fakeGateway(existing, new Set(['SIM-001200']));
    const report = await ensureCredentials(regs(1201), store, { httpUrl: 'http://gw', fetchFn, adminToken: async () => 'good-token' });

    const registerCalls = calls.filter((c) => c.url === `http://gw${INTERNAL_HTTP_PATHS.registerTerminals}`);
    const rotateCalls = calls.filter((c) => c.url === `http://gw${INTERNAL_HTTP_PATHS.rotateCredentials}`);
    assert.deepEqual(registerCalls.map((c) => ('terminals' in c.body ? c.body.terminals.length : -1)), [500, 500, 200]);
    assert.equal(rotateCalls.length, 1);
    assert.deepEqual('sns' in rotateCalls[0].body ? rotateCalls[0].body.sns : [], ['SIM-000002', 'SIM-000777']);
    assert.ok(calls.every((c) => c.auth === 'Bearer good-token'));

    assert.equal(report.alreadyKnown, 1);
    assert.equal(report.registered, 1197);
    assert.equal(report.rotated, 2);
    assert.deepEqual(report.failed, [{ sn: 'SIM-001200', code: 'TERMINAL_INVALID_TID', message: 'bad TID' }]);

    const reloaded = await CredentialsStore.load(path);
    assert.equal(reloaded.size, 1200);
    assert.equal(reloaded.get('SIM-000001')?.secret, 'kept');
    assert.equal(reloaded.get('SIM-000002')?.secret, 'rotated-SIM-000002');
    assert.equal(reloaded.get('SIM-000003')?.secret, 'new-SIM-000003');
    assert.equal(reloaded.get('SIM-001200'), undefined);
  });

  it('registers a terminal whose simulated TID is taken again without a TID', async () => {
    const store = new CredentialsStore(join(dir, 'tid.json'));
    const withTids = regs(4).map((r, i) => ({ ...r, tid: `1000000${i}` }));
    const { fetchFn, calls } = fakeGateway(new Set(), new Set(), new Set(['10000002']));
    const report = await ensureCredentials(withTids, store, { httpUrl: 'http://gw', fetchFn, adminToken: async () => 'good-token' });
    assert.equal(report.registered, 4);
    assert.deepEqual(report.failed, []);
    assert.equal(calls.length, 2);
    const retry = calls[1].body;
    assert.ok('terminals' in retry);
    assert.deepEqual(retry.terminals, [{ sn: 'SIM-000003', model: 'QP-E20' }]);
  });

  it('fails clearly when the admin token is rejected', async () => {
    const store = new CredentialsStore(join(dir, 'c.json'));
    const { fetchFn } = fakeGateway(new Set());
    await assert.rejects(
      ensureCredentials(regs(2), store, { httpUrl: 'http://gw', fetchFn, adminToken: async () => 'wrong' }),
      /admin token rejected \(HTTP 401\)/,
    );
  });

  it('reports an unreachable gateway', async () => {
    const store = new CredentialsStore(join(dir, 'd.json'));
    const fetchFn: FetchFn = () => Promise.reject(new TypeError('fetch failed', { cause: new Error('connect ECONNREFUSED') }));
    await assert.rejects(
      ensureCredentials(regs(1), store, { httpUrl: 'http://gw', fetchFn, adminToken: async () => 't' }),
      /ECONNREFUSED/,
    );
  });

  it('recognises duplicate-SN row errors by code or message', () => {
    assert.ok(isAlreadyExistsError({ code: 'TERMINAL_ALREADY_EXISTS', message: '' }));
    assert.ok(isAlreadyExistsError({ code: 'already_exists', message: '' }));
    assert.ok(!isAlreadyExistsError({ code: 'TERMINAL_TID_IN_USE', message: 'TID 1 belongs to terminal X' }));
    assert.ok(!isAlreadyExistsError({ code: 'TERMINAL_DUPLICATE_IN_REQUEST', message: 'SN appears twice' }));
    assert.ok(isTidConflictError({ code: 'TERMINAL_TID_IN_USE', message: '' }));
    assert.ok(isAlreadyExistsError({ code: 'duplicate_sn', message: '' }));
    assert.ok(isAlreadyExistsError({ code: 'conflict', message: '' }));
    assert.ok(isAlreadyExistsError({ code: 'E42', message: 'terminal already registered' }));
    assert.ok(!isAlreadyExistsError({ code: 'invalid_sn', message: 'SN must match pattern' }));
  });
});
