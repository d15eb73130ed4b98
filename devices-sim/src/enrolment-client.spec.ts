import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
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
    const body = JSON.parse(init.body as string) as RegisterTerminalsRequest & RotateCredentialsRequest;
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
        else if (t.tid && takenTids.has(t.tid))
          res.errors.push({ row: i + 1, sn: t.sn, code: 'TERMINAL_TID_IN_USE', message: `TID ${t.tid} belongs to terminal X` });
        else res.credentials.push({ sn: t.sn, username: t.sn, secret: `new-${t.sn}` });
      });
    }
    return new Response(JSON.stringify(res), { status: 200, headers: { 'content-type': 'application/json' } });
  };
  return { fetchFn, calls };
}

const regs = (n: number): TerminalRegistration[] => Array.from({ length: n }, (_, i) => ({ sn: `SIM-${String(i + 1).padStart(6, '0')}`, model: 'QP-E20' }));

describe('ensureCredentials', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sim-enrol-'));
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('does nothing (and needs no token) when every terminal has credentials', async () => {
    const store = new CredentialsStore(join(dir, 'a.json'));
    for (const r of regs(3)) store.set({ sn: r.sn, username: r.sn, secret: 's' });
    const { fetchFn, calls } = fakeGateway(new Set());
    const report = await ensureCredentials(regs(3), store, {
      httpUrl: 'http://gw',
      fetchFn,
      adminToken: () => Promise.reject(new Error('token must not be read')),
    });
    expect(report).toStrictEqual({ alreadyKnown: 3, registered: 0, rotated: 0, failed: [] });
    expect(calls.length).toBe(0);
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
    expect(registerCalls.map((c) => ('terminals' in c.body ? c.body.terminals.length : -1))).toStrictEqual([500, 500, 200]);
    expect(rotateCalls.length).toBe(1);
    expect('sns' in rotateCalls[0].body ? rotateCalls[0].body.sns : []).toStrictEqual(['SIM-000002', 'SIM-000777']);
    expect(calls.every((c) => c.auth === 'Bearer good-token')).toBeTruthy();

    expect(report.alreadyKnown).toBe(1);
    expect(report.registered).toBe(1197);
    expect(report.rotated).toBe(2);
    expect(report.failed).toStrictEqual([{ sn: 'SIM-001200', code: 'TERMINAL_INVALID_TID', message: 'bad TID' }]);

    const reloaded = await CredentialsStore.load(path);
    expect(reloaded.size).toBe(1200);
    expect(reloaded.get('SIM-000001')?.secret).toBe('kept');
    expect(reloaded.get('SIM-000002')?.secret).toBe('rotated-SIM-000002');
    expect(reloaded.get('SIM-000003')?.secret).toBe('new-SIM-000003');
    expect(reloaded.get('SIM-001200')).toBe(undefined);
  });

  it('registers a terminal whose simulated TID is taken again without a TID', async () => {
    const store = new CredentialsStore(join(dir, 'tid.json'));
    const withTids = regs(4).map((r, i) => ({ ...r, tid: `1000000${i}` }));
    const { fetchFn, calls } = fakeGateway(new Set(), new Set(), new Set(['10000002']));
    const report = await ensureCredentials(withTids, store, { httpUrl: 'http://gw', fetchFn, adminToken: async () => 'good-token' });
    expect(report.registered).toBe(4);
    expect(report.failed).toStrictEqual([]);
    expect(calls.length).toBe(2);
    const retry = calls[1].body;
    expect('terminals' in retry).toBeTruthy();
    if (!('terminals' in retry)) return;
    expect(retry.terminals).toStrictEqual([{ sn: 'SIM-000003', model: 'QP-E20' }]);
  });

  it('fails clearly when the admin token is rejected', async () => {
    const store = new CredentialsStore(join(dir, 'c.json'));
    const { fetchFn } = fakeGateway(new Set());
    await expect(ensureCredentials(regs(2), store, { httpUrl: 'http://gw', fetchFn, adminToken: async () => 'wrong' })).rejects.toThrow(
      /admin token rejected \(HTTP 401\)/,
    );
  });

  it('reports an unreachable gateway', async () => {
    const store = new CredentialsStore(join(dir, 'd.json'));
    const fetchFn: FetchFn = () => Promise.reject(new TypeError('fetch failed', { cause: new Error('connect ECONNREFUSED') }));
    await expect(ensureCredentials(regs(1), store, { httpUrl: 'http://gw', fetchFn, adminToken: async () => 't' })).rejects.toThrow(/ECONNREFUSED/);
  });

  it('recognises duplicate-SN row errors by code or message', () => {
    expect(isAlreadyExistsError({ code: 'TERMINAL_ALREADY_EXISTS', message: '' })).toBeTruthy();
    expect(isAlreadyExistsError({ code: 'already_exists', message: '' })).toBeTruthy();
    expect(!isAlreadyExistsError({ code: 'TERMINAL_TID_IN_USE', message: 'TID 1 belongs to terminal X' })).toBeTruthy();
    expect(!isAlreadyExistsError({ code: 'TERMINAL_DUPLICATE_IN_REQUEST', message: 'SN appears twice' })).toBeTruthy();
    expect(isTidConflictError({ code: 'TERMINAL_TID_IN_USE', message: '' })).toBeTruthy();
    expect(isAlreadyExistsError({ code: 'duplicate_sn', message: '' })).toBeTruthy();
    expect(isAlreadyExistsError({ code: 'conflict', message: '' })).toBeTruthy();
    expect(isAlreadyExistsError({ code: 'E42', message: 'terminal already registered' })).toBeTruthy();
    expect(!isAlreadyExistsError({ code: 'invalid_sn', message: 'SN must match pattern' })).toBeTruthy();
  });
});
