import { beforeEach, describe, expect, it } from '@jest/globals';
import { loadConfig, type AppConfig } from '#config';
import { CredentialHasher, TerminalStatus, type AuthRecord, type TerminalRepository } from '#terminals';
import { MqttAuthService } from './mqtt-auth.service.js';

const PEPPER = 'unit-test-pepper-0123456789abcdefghijklmnop';

/** Only the two lookups the auth service uses; everything else would throw. */
class FakeTerminals {
  readonly terminals = new Map<string, AuthRecord>();
  readonly services = new Map<string, AuthRecord>();
  readonly authCalls: string[][] = [];
  readonly serviceCalls: string[] = [];

  async findAuthRecords(sns: readonly string[]): Promise<Map<string, AuthRecord>> {
    this.authCalls.push([...sns]);
    const out = new Map<string, AuthRecord>();
    for (const sn of sns) {
      const r = this.terminals.get(sn);
      if (r) out.set(sn, { ...r });
    }
    return out;
  }

  async findServiceAccount(name: string): Promise<AuthRecord | null> {
    this.serviceCalls.push(name);
    const r = this.services.get(name);
    return r ? { ...r } : null;
  }
}

function config(ttlMs = 60_000): AppConfig {
  const base = loadConfig({}, {});
  return { ...base, auth: { ...base.auth, cacheTtlMs: ttlMs, cacheMaxEntries: 1000 } };
}

const pw = (s: string) => Buffer.from(s);

describe('MqttAuthService', () => {
  let hasher: CredentialHasher;
  let repo: FakeTerminals;
  let auth: MqttAuthService;
  let secret: string;

  beforeEach(() => {
    hasher = new CredentialHasher(PEPPER);
    repo = new FakeTerminals();
    auth = new MqttAuthService(config(), hasher, repo as unknown as TerminalRepository);
    secret = hasher.generateSecret();
    repo.terminals.set('EP0001', { hash: hasher.hash(secret), status: TerminalStatus.Active });
  });

  it('accepts a terminal whose client id and username are its SN with the right secret', async () => {
    expect(await auth.authenticate('EP0001', 'EP0001', pw(secret))).toStrictEqual({ ok: true, identity: { kind: 'terminal', sn: 'EP0001' } });
  });

  it('refuses missing credentials without a lookup', async () => {
    expect(await auth.authenticate('EP0001', undefined, pw(secret))).toStrictEqual({ ok: false, failure: 'missing_credentials' });
    expect(await auth.authenticate('EP0001', 'EP0001', undefined)).toStrictEqual({ ok: false, failure: 'missing_credentials' });
    expect(await auth.authenticate('EP0001', 'EP0001', Buffer.alloc(0))).toStrictEqual({ ok: false, failure: 'missing_credentials' });
    expect(await auth.authenticate('EP0001', '', pw(secret))).toStrictEqual({ ok: false, failure: 'missing_credentials' });
    expect(repo.authCalls.length).toBe(0);
  });

  it('refuses a client id different from the username', async () => {
    expect(await auth.authenticate('other-client', 'EP0001', pw(secret))).toStrictEqual({ ok: false, failure: 'client_id_mismatch' });
    expect(repo.authCalls.length).toBe(0);
  });

  it('refuses an unknown SN, and a malformed SN without a lookup', async () => {
    expect(await auth.authenticate('EP0404', 'EP0404', pw(secret))).toStrictEqual({ ok: false, failure: 'unknown_terminal' });
    const lookups = repo.authCalls.length;
    expect(await auth.authenticate('pos/+', 'pos/+', pw(secret))).toStrictEqual({ ok: false, failure: 'unknown_terminal' });
    expect(repo.authCalls.length).toBe(lookups);
  });

  it('refuses a disabled terminal even with the right secret', async () => {
    repo.terminals.set('EP0002', { hash: hasher.hash(secret), status: TerminalStatus.Disabled });
    expect(await auth.authenticate('EP0002', 'EP0002', pw(secret))).toStrictEqual({ ok: false, failure: 'disabled' });
  });

  it('refuses a wrong secret after exactly one fresh lookup', async () => {
    expect(await auth.authenticate('EP0001', 'EP0001', pw('wrong-secret'))).toStrictEqual({ ok: false, failure: 'bad_secret' });
    expect(repo.authCalls.length).toBe(2);
  });

  it('refuses a secret hashed with another pepper', async () => {
    const otherHasher = new CredentialHasher(`${PEPPER}-other`);
    repo.terminals.set('EP0003', { hash: otherHasher.hash(secret), status: TerminalStatus.Active });
    expect(await auth.authenticate('EP0003', 'EP0003', pw(secret))).toStrictEqual({ ok: false, failure: 'bad_secret' });
  });

  it('serves repeated CONNECTs from the cache', async () => {
    for (let i = 0; i < 3; i++) expect((await auth.authenticate('EP0001', 'EP0001', pw(secret))).ok).toBe(true);
    expect(repo.authCalls.length).toBe(1);
  });

  it('coalesces concurrent CONNECTs into one lookup', async () => {
    const other = hasher.generateSecret();
    repo.terminals.set('EP0002', { hash: hasher.hash(other), status: TerminalStatus.Active });
    const results = await Promise.all([
      auth.authenticate('EP0001', 'EP0001', pw(secret)),
      auth.authenticate('EP0002', 'EP0002', pw(other)),
      auth.authenticate('EP0404', 'EP0404', pw(other)),
    ]);
    expect(results.map((r) => (r.ok ? 'ok' : r.failure))).toStrictEqual(['ok', 'ok', 'unknown_terminal']);
    expect(repo.authCalls.length).toBe(1);
    expect([...repo.authCalls[0]].sort()).toStrictEqual(['EP0001', 'EP0002', 'EP0404']);
  });

  it('accepts a rotated secret on the first try while the old hash is cached, then refuses the old one', async () => {
    expect((await auth.authenticate('EP0001', 'EP0001', pw(secret))).ok).toBe(true); // caches the old hash
    const rotated = hasher.generateSecret();
    repo.terminals.set('EP0001', { hash: hasher.hash(rotated), status: TerminalStatus.Active });
    expect(await auth.authenticate('EP0001', 'EP0001', pw(rotated))).toStrictEqual({ ok: true, identity: { kind: 'terminal', sn: 'EP0001' } });
    expect(await auth.authenticate('EP0001', 'EP0001', pw(secret))).toStrictEqual({ ok: false, failure: 'bad_secret' });
  });

  it('invalidate() forgets a cached record (disable takes effect at once)', async () => {
    expect((await auth.authenticate('EP0001', 'EP0001', pw(secret))).ok).toBe(true);
    repo.terminals.set('EP0001', { hash: hasher.hash(secret), status: TerminalStatus.Disabled });
    auth.invalidate('EP0001');
    expect(await auth.authenticate('EP0001', 'EP0001', pw(secret))).toStrictEqual({ ok: false, failure: 'disabled' });
  });

  it('propagates a lookup failure as a rejection (the broker maps it to auth_unavailable)', async () => {
    const failing = {
      findAuthRecords: async () => {
        throw new Error('connection refused');
      },
    };
    const service = new MqttAuthService(config(), hasher, failing as unknown as TerminalRepository);
    await expect(service.authenticate('EP0001', 'EP0001', pw(secret))).rejects.toThrow(/connection refused/);
  });

  describe('service accounts (username svc:<name>)', () => {
    let svcSecret: string;
    beforeEach(() => {
      svcSecret = hasher.generateSecret();
      repo.services.set('ingest', { hash: hasher.hash(svcSecret), status: TerminalStatus.Active });
    });

    it('accepts the right secret whatever the client id', async () => {
      expect(await auth.authenticate('ingest-worker-7', 'svc:ingest', pw(svcSecret))).toStrictEqual({
        ok: true,
        identity: { kind: 'service', name: 'ingest' },
      });
      expect(repo.serviceCalls).toStrictEqual(['ingest']);
      expect(repo.authCalls.length).toBe(0);
    });

    it('refuses an unknown account, a disabled account and a wrong secret', async () => {
      expect(await auth.authenticate('c', 'svc:nobody', pw(svcSecret))).toStrictEqual({ ok: false, failure: 'unknown_terminal' });
      repo.services.set('old', { hash: hasher.hash(svcSecret), status: TerminalStatus.Disabled });
      expect(await auth.authenticate('c', 'svc:old', pw(svcSecret))).toStrictEqual({ ok: false, failure: 'disabled' });
      expect(await auth.authenticate('c', 'svc:ingest', pw(secret))).toStrictEqual({ ok: false, failure: 'bad_secret' });
      expect(await auth.authenticate('c', 'svc:ingest', undefined)).toStrictEqual({ ok: false, failure: 'missing_credentials' });
    });

    it('looks the account up on every CONNECT, so a new secret works at once', async () => {
      expect((await auth.authenticate('c', 'svc:ingest', pw(svcSecret))).ok).toBe(true);
      const next = hasher.generateSecret();
      repo.services.set('ingest', { hash: hasher.hash(next), status: TerminalStatus.Active });
      expect((await auth.authenticate('c', 'svc:ingest', pw(next))).ok).toBe(true);
      expect(await auth.authenticate('c', 'svc:ingest', pw(svcSecret))).toStrictEqual({ ok: false, failure: 'bad_secret' });
    });
  });
});
