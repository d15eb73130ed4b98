import { beforeEach, describe, expect, it } from '@jest/globals';
import { expectPresent } from '#testing/expect-present.js';
import { DomainException, type RowError, type TerminalRegistration } from '#contracts';
import { CredentialHasher } from './credential-hasher.js';
import { TerminalRegistryService } from './terminal-registry.service.js';
import { TerminalStatus } from './terminal-status.js';
import type { NewTerminalRow, TerminalRepository } from './terminal.repository.js';

const PEPPER = 'registry-unit-test-pepper-0123456789';
const ROOT_ID = '00000000-0000-0000-0000-000000000001';
const ACME_ID = '00000000-0000-0000-0000-000000000002';

/** In-memory stand-in for the repository methods the registry uses; records every call. */
class FakeRepo {
  readonly providers = new Map<string, string>([
    ['root', ROOT_ID],
    ['acme', ACME_ID],
  ]);
  /** sn -> tid */
  readonly terminals = new Map<string, string | null>();
  readonly hashes = new Map<string, Buffer>();
  readonly statuses = new Map<string, string>();
  readonly inserted: NewTerminalRow[][] = [];
  readonly providerQueries: string[][] = [];
  readonly updates: { sn: string; hash: Buffer }[][] = [];
  readonly serviceAccounts = new Map<string, Buffer>();
  /** SNs insertMany silently skips (a concurrent registration won the race). */
  readonly raceLosers = new Set<string>();
  calls = 0;

  async providerIdsByCode(codes: readonly string[]): Promise<Map<string, string>> {
    this.calls++;
    this.providerQueries.push([...codes]);
    return new Map(codes.flatMap((c) => (this.providers.has(c) ? [[c, this.providers.get(c) ?? '']] : [])));
  }

  async existingSns(sns: readonly string[]): Promise<Set<string>> {
    this.calls++;
    return new Set(sns.filter((s) => this.terminals.has(s)));
  }

  async tidOwners(tids: readonly string[]): Promise<Map<string, string>> {
    this.calls++;
    const out = new Map<string, string>();
    for (const [sn, tid] of this.terminals) if (tid && tids.includes(tid)) out.set(tid, sn);
    return out;
  }

  async insertMany(rows: readonly NewTerminalRow[]): Promise<Set<string>> {
    this.calls++;
    this.inserted.push([...rows]);
    const done = new Set<string>();
    for (const r of rows) {
      if (this.raceLosers.has(r.sn)) continue;
      this.terminals.set(r.sn, r.tid);
      this.hashes.set(r.sn, r.credentialHash);
      done.add(r.sn);
    }
    return done;
  }

  async updateCredentials(updates: readonly { sn: string; hash: Buffer }[]): Promise<Set<string>> {
    this.calls++;
    this.updates.push([...updates]);
    const done = new Set<string>();
    for (const u of updates) {
      if (!this.terminals.has(u.sn)) continue;
      this.hashes.set(u.sn, u.hash);
      done.add(u.sn);
    }
    return done;
  }

  async setStatus(sns: readonly string[], status: string): Promise<Set<string>> {
    this.calls++;
    const done = new Set<string>();
    for (const sn of sns) {
      if (!this.terminals.has(sn)) continue;
      this.statuses.set(sn, status);
      done.add(sn);
    }
    return done;
  }

  async upsertServiceAccount(name: string, hash: Buffer): Promise<void> {
    this.calls++;
    this.serviceAccounts.set(name, hash);
  }
}

const summary = (errors: RowError[]) => errors.map((e) => [e.row, e.code, e.sn]);

describe('TerminalRegistryService', () => {
  let hasher: CredentialHasher;
  let repo: FakeRepo;
  let registry: TerminalRegistryService;

  beforeEach(() => {
    hasher = new CredentialHasher(PEPPER);
    repo = new FakeRepo();
    registry = new TerminalRegistryService(repo as unknown as TerminalRepository, hasher);
  });

  describe('register', () => {
    it('registers valid terminals and returns secrets whose stored hashes verify', async () => {
      const result = await registry.register([
        { sn: 'EP0001', model: 'EP-T1', tid: 'TID00001', mid: 'M001', registeredLat: 31.23, registeredLon: 121.47, city: 'Shanghai', region: 'Shanghai' },
        { sn: 'EP0002', model: 'EP-T2', providerCode: 'acme' },
      ]);
      expect(result.errors).toStrictEqual([]);
      expect(result.credentials.map((c) => [c.sn, c.username])).toStrictEqual([
        ['EP0001', 'EP0001'],
        ['EP0002', 'EP0002'],
      ]);
      for (const c of result.credentials) {
        expect(c.secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
        const stored = repo.hashes.get(c.sn);
        expectPresent(stored);
        expect(hasher.verify(c.secret, stored)).toBe(true);
      }
      expect(result.credentials[0].secret).not.toBe(result.credentials[1].secret);
      expect(repo.inserted.length).toBe(1);
      const [first, second] = repo.inserted[0];
      expect({ ...first, credentialHash: null }).toStrictEqual({
        sn: 'EP0001',
        model: 'EP-T1',
        tid: 'TID00001',
        mid: 'M001',
        providerId: ROOT_ID,
        registeredLat: 31.23,
        registeredLon: 121.47,
        city: 'Shanghai',
        region: 'Shanghai',
        credentialHash: null,
      });
      expect({ ...second, credentialHash: null }).toStrictEqual({
        sn: 'EP0002',
        model: 'EP-T2',
        tid: null,
        mid: null,
        providerId: ACME_ID,
        registeredLat: null,
        registeredLon: null,
        city: null,
        region: null,
        credentialHash: null,
      });
      expect(!repo.inserted[0].some((r) => r.credentialHash.toString('utf8').includes(result.credentials[0].secret))).toBeTruthy();
    });

    it('reports every bad row with its row number and code, and still registers the valid rows', async () => {
      repo.terminals.set('EXIST01', null);
      repo.terminals.set('OWNER01', 'TIDTAKEN');
      const rows: TerminalRegistration[] = [
        { sn: 'GOOD01', model: 'EP-T1', tid: 'TID00001' }, // 1 ok
        { sn: 'bad sn', model: 'EP-T1' }, // 2 invalid SN
        { sn: 'BADTID1', model: 'EP-T1', tid: 'TID1' }, // 3 invalid TID
        { sn: 'NOMODEL', model: '' }, // 4 missing model
        { sn: 'LATONLY', model: 'EP-T1', registeredLat: 10 }, // 5 lat without lon
        { sn: 'GOOD01', model: 'EP-T2' }, // 6 duplicate SN
        { sn: 'DUPTID1', model: 'EP-T1', tid: 'TID00001' }, // 7 duplicate TID
        { sn: 'GHOST01', model: 'EP-T1', providerCode: 'ghost' }, // 8 unknown provider
        { sn: 'EXIST01', model: 'EP-T1' }, // 9 already registered
        { sn: 'TAKEN01', model: 'EP-T1', tid: 'TIDTAKEN' }, // 10 TID owned by another terminal
        { sn: 'GOOD02', model: 'EP-T1', mid: 'M1' }, // 11 ok
      ];
      const result = await registry.register(rows);
      expect(summary(result.errors)).toStrictEqual([
        [2, 'TERMINAL_INVALID_SN', 'bad sn'],
        [3, 'TERMINAL_INVALID_TID', 'BADTID1'],
        [4, 'TERMINAL_INVALID_FIELD', 'NOMODEL'],
        [5, 'TERMINAL_INVALID_FIELD', 'LATONLY'],
        [6, 'TERMINAL_DUPLICATE_IN_REQUEST', 'GOOD01'],
        [7, 'TERMINAL_DUPLICATE_IN_REQUEST', 'DUPTID1'],
        [8, 'TERMINAL_UNKNOWN_PROVIDER', 'GHOST01'],
        [9, 'TERMINAL_ALREADY_EXISTS', 'EXIST01'],
        [10, 'TERMINAL_TID_IN_USE', 'TAKEN01'],
      ]);
      expect(result.errors.find((e) => e.row === 10)?.message ?? '').toMatch(/OWNER01/);
      expect(result.errors.find((e) => e.row === 8)?.message ?? '').toMatch(/ghost/);
      expect(result.credentials.map((c) => c.sn)).toStrictEqual(['GOOD01', 'GOOD02']);
      expect(repo.inserted.flat().map((r) => r.sn)).toStrictEqual(['GOOD01', 'GOOD02']);
      for (const c of result.credentials) expect(hasher.verify(c.secret, repo.hashes.get(c.sn) ?? Buffer.alloc(0))).toBe(true);
    });

    it('validates lat/lon ranges, mid length and model length', async () => {
      const result = await registry.register([
        { sn: 'LAT0001', model: 'M', registeredLat: 91, registeredLon: 0 },
        { sn: 'LON0001', model: 'M', registeredLat: 0, registeredLon: -181 },
        { sn: 'LON0002', model: 'M', registeredLon: 5 },
        { sn: 'MID0001', model: 'M', mid: 'x'.repeat(33) },
        { sn: 'MID0002', model: 'M', mid: '' },
        { sn: 'MOD0001', model: 'x'.repeat(65) },
        { sn: 'MOD0002', model: '   ' },
        { sn: 'EDGE001', model: 'x'.repeat(64), mid: 'x'.repeat(32), registeredLat: -90, registeredLon: 180 },
      ]);
      expect(summary(result.errors).map(([row, code]) => [row, code])).toStrictEqual([1, 2, 3, 4, 5, 6, 7].map((row) => [row, 'TERMINAL_INVALID_FIELD']));
      expect(result.credentials.map((c) => c.sn)).toStrictEqual(['EDGE001']);
    });

    it('validates city and region: 1-64 characters, no surrounding spaces, no control characters', async () => {
      const result = await registry.register([
        { sn: 'CITY001', model: 'M', city: '' },
        { sn: 'CITY002', model: 'M', city: ' Shanghai' },
        { sn: 'CITY003', model: 'M', city: 'x'.repeat(65) },
        { sn: 'REGN001', model: 'M', region: 'Zhe\njiang' },
        { sn: 'EDGE002', model: 'M', city: '上海', region: 'x'.repeat(64) },
      ]);
      expect(summary(result.errors).map(([row, code]) => [row, code])).toStrictEqual([1, 2, 3, 4].map((row) => [row, 'TERMINAL_INVALID_FIELD']));
      expect(result.errors[3].message).toMatch(/region/);
      expect(result.credentials.map((c) => c.sn)).toStrictEqual(['EDGE002']);
    });

    it('a duplicate of an invalid row is not reported as a duplicate', async () => {
      const result = await registry.register([
        { sn: 'SAME001', model: '' },
        { sn: 'SAME001', model: 'EP-T1' },
      ]);
      expect(summary(result.errors)).toStrictEqual([[1, 'TERMINAL_INVALID_FIELD', 'SAME001']]);
      expect(result.credentials.map((c) => c.sn)).toStrictEqual(['SAME001']);
    });

    it('numbers rows from firstRow', async () => {
      const result = await registry.register(
        [
          { sn: 'OK00001', model: 'M' },
          { sn: 'x', model: 'M' },
        ],
        10,
      );
      expect(summary(result.errors)).toStrictEqual([[11, 'TERMINAL_INVALID_SN', 'x']]);
    });

    it('asks the repository for the root provider by default and each provider once', async () => {
      await registry.register([
        { sn: 'P000001', model: 'M' },
        { sn: 'P000002', model: 'M', providerCode: 'acme' },
        { sn: 'P000003', model: 'M', providerCode: 'acme' },
      ]);
      expect(repo.providerQueries).toStrictEqual([['root', 'acme']]);
    });

    it('does not touch the repository when every row is invalid', async () => {
      const result = await registry.register([{ sn: '', model: 'M' }]);
      expect(result.credentials).toStrictEqual([]);
      expect(result.errors.length).toBe(1);
      expect(repo.calls).toBe(0);
    });

    it('reports rows that lost an insert race as already registered, without credentials', async () => {
      repo.raceLosers.add('RACE001');
      const result = await registry.register([
        { sn: 'WIN0001', model: 'M' },
        { sn: 'RACE001', model: 'M' },
      ]);
      expect(result.credentials.map((c) => c.sn)).toStrictEqual(['WIN0001']);
      expect(summary(result.errors)).toStrictEqual([[2, 'TERMINAL_ALREADY_EXISTS', 'RACE001']]);
    });
  });

  describe('CSV', () => {
    const HEADER = 'sn,model,tid,mid,provider,lat,lon';

    it('parses rows with CSV line numbers (the header is line 1)', () => {
      const parsed = registry.parseCsv([HEADER, 'EP0001,EP-T1,TID00001,M001,acme,31.5,121.25', 'EP0002,EP-T2,,,,,'].join('\n'));
      expect(parsed.registrations[0].city).toBe(undefined);
      const placed = registry.parseCsv(['sn,model,city,region', 'EP0003,EP-T1,Hangzhou,Zhejiang', 'EP0004,EP-T1,,'].join('\n'));
      expect(placed.registrations.map((r) => [r.sn, r.city, r.region])).toStrictEqual([
        ['EP0003', 'Hangzhou', 'Zhejiang'],
        ['EP0004', undefined, undefined],
      ]);
      expect(parsed.errors).toStrictEqual([]);
      expect(parsed.rows).toStrictEqual([2, 3]);
      expect(parsed.registrations[0]).toStrictEqual({
        sn: 'EP0001',
        model: 'EP-T1',
        tid: 'TID00001',
        mid: 'M001',
        providerCode: 'acme',
        registeredLat: 31.5,
        registeredLon: 121.25,
        city: undefined,
        region: undefined,
      });
      const second = parsed.registrations[1];
      expect(second.sn).toBe('EP0002');
      expect(second.tid).toBe(undefined);
      expect(second.mid).toBe(undefined);
      expect(second.providerCode).toBe(undefined);
      expect(second.registeredLat).toBe(undefined);
      expect(second.registeredLon).toBe(undefined);
    });

    it('accepts a header in any case with spaces, a BOM, and only the required columns', () => {
      const parsed = registry.parseCsv('\uFEFF SN , Model \r\n EP0001 , EP-T1 \r\n');
      expect(parsed.errors).toStrictEqual([]);
      expect(parsed.registrations.length).toBe(1);
      expect(parsed.registrations[0].sn).toBe('EP0001');
      expect(parsed.registrations[0].model).toBe('EP-T1');
    });

    it('reports non-numeric lat/lon on their line', () => {
      const parsed = registry.parseCsv([HEADER, 'EP0001,M,,,,north,1', 'EP0002,M,,,,,', 'EP0003,M,,,,1,east'].join('\n'));
      expect(summary(parsed.errors)).toStrictEqual([
        [2, 'TERMINAL_INVALID_FIELD', 'EP0001'],
        [4, 'TERMINAL_INVALID_FIELD', 'EP0003'],
      ]);
      expect(parsed.rows).toStrictEqual([3]);
    });

    it('reports unparseable CSV as one InvalidCsv error', async () => {
      const result = await registry.registerCsv('sn,model\n"EP0001,M\n');
      expect(result.credentials).toStrictEqual([]);
      expect(result.errors.map((e) => [e.row, e.code])).toStrictEqual([[0, 'TERMINAL_INVALID_CSV']]);
      expect(repo.calls).toBe(0);
    });

    it('registerCsv reports registry errors by CSV line, also after a row removed by a parse error', async () => {
      repo.terminals.set('EXIST01', null);
      const csv = [
        HEADER, // 1
        'GOOD001,EP-T1,TID00001,M001,,31.23,121.47', // 2 ok
        'BADLAT1,EP-T1,,,,abc,1', // 3 parse error (removed before register)
        'bad sn,EP-T1,,,,,', // 4 invalid SN
        'GHOST01,EP-T1,,,ghost,,', // 5 unknown provider
        'DUPTID1,EP-T2,TID00001,,,,', // 6 duplicate TID
        'EXIST01,EP-T2,,,,,', // 7 already exists
        'LATONLY,EP-T2,,,,10,', // 8 lat without lon
        'GOOD002,EP-T2,,,,,', // 9 ok
      ].join('\n');
      const result = await registry.registerCsv(csv);
      expect(summary(result.errors)).toStrictEqual([
        [3, 'TERMINAL_INVALID_FIELD', 'BADLAT1'],
        [4, 'TERMINAL_INVALID_SN', 'bad sn'],
        [5, 'TERMINAL_UNKNOWN_PROVIDER', 'GHOST01'],
        [6, 'TERMINAL_DUPLICATE_IN_REQUEST', 'DUPTID1'],
        [7, 'TERMINAL_ALREADY_EXISTS', 'EXIST01'],
        [8, 'TERMINAL_INVALID_FIELD', 'LATONLY'],
      ]);
      expect(result.credentials.map((c) => c.sn)).toStrictEqual(['GOOD001', 'GOOD002']);
      for (const c of result.credentials) expect(hasher.verify(c.secret, repo.hashes.get(c.sn) ?? Buffer.alloc(0))).toBe(true);
      const stored = repo.inserted.flat().find((r) => r.sn === 'GOOD001');
      expect(stored?.registeredLat).toBe(31.23);
      expect(stored?.tid).toBe('TID00001');
    });

    it('regression: line numbers stay right when the CSV contains blank lines', async () => {
      const result = await registry.registerCsv([HEADER, 'GOOD001,EP-T1,,,,,', '', 'bad sn,EP-T1,,,,,'].join('\n'));
      expect(summary(result.errors)).toStrictEqual([[4, 'TERMINAL_INVALID_SN', 'bad sn']]);
    });

    it('regression: a row with fewer fields than the header is a row error, not a failure of the whole file', async () => {
      const result = await registry.registerCsv([HEADER, 'GOOD001,EP-T1,,,,,', 'SHORT01,EP-T1'].join('\n'));
      expect(result.credentials.map((c) => c.sn)).toStrictEqual(['GOOD001']);
      expect(result.errors.map((e) => e.row)).toStrictEqual([3]);
    });

    const headerRefusal = (csv: string): { code: string; message: string; fields: string[] } => {
      try {
        registry.parseCsv(csv);
      } catch (err) {
        if (!(err instanceof DomainException)) throw err;
        const details = (err.details ?? []) as { field?: unknown }[];
        return { code: String(err.code), message: err.message, fields: details.map((d) => String(d.field)) };
      }
      throw new Error('the header was accepted');
    };

    it('refuses a header without a required column, naming it', () => {
      const refused = headerRefusal('sn,tid\nEP0001,TID00001\n');
      expect(refused.code).toBe('TERMINAL_INVALID_CSV');
      expect(refused.fields).toStrictEqual(['header.model']);
      expect(refused.message).toContain('"model" is missing');
    });

    it('refuses an unknown (e.g. misspelled) or repeated column, naming each', () => {
      const refused = headerRefusal('sn,modle,provider,colour,sn\nEP0001,EP-T1,acme,red,EP0001\n');
      expect(refused.fields).toStrictEqual(['header.model', 'header.modle', 'header.colour', 'header.sn']);
      expect(refused.message).toContain('unknown column "modle"');
      expect(refused.message).toContain('unknown column "colour"');
      expect(refused.message).toContain('"sn" appears twice');
      expect(headerRefusal('').fields).toStrictEqual(['header.sn', 'header.model']);
    });

    it('registerCsv writes nothing when the header is refused', async () => {
      await expect(registry.registerCsv('sn,model,extra\nEP0001,EP-T1,x\n')).rejects.toThrow(/unknown column "extra"/);
      expect(repo.calls).toBe(0);
    });

    it('a row with more fields than the header is refused on its line; the others are kept', async () => {
      const result = await registry.registerCsv([HEADER, 'GOOD001,EP-T1,,,,,', '', 'LONG001,EP-T1,,,,,,surplus', 'GOOD002,EP-T1,,,,,'].join('\n'));
      expect(result.credentials.map((c) => c.sn)).toStrictEqual(['GOOD001', 'GOOD002']);
      expect(summary(result.errors)).toStrictEqual([[4, 'TERMINAL_INVALID_FIELD', 'LONG001']]);
      expect(result.errors[0].message).toContain('line 4 has more fields than the header (8, expected 7)');
    });
  });

  describe('rotateCredentials', () => {
    it('issues new secrets for known terminals and reports unknown SNs with their position', async () => {
      const [cred] = (await registry.register([{ sn: 'ROT0001', model: 'M' }])).credentials;
      const result = await registry.rotateCredentials(['NOPE001', 'ROT0001', 'NOPE002']);
      expect(summary(result.errors)).toStrictEqual([
        [1, 'TERMINAL_NOT_FOUND', 'NOPE001'],
        [3, 'TERMINAL_NOT_FOUND', 'NOPE002'],
      ]);
      expect(result.credentials.length).toBe(1);
      const rotated = result.credentials[0];
      expect(rotated.sn).toBe('ROT0001');
      expect(rotated.username).toBe('ROT0001');
      expect(rotated.secret).not.toBe(cred.secret);
      const stored = repo.hashes.get('ROT0001') ?? Buffer.alloc(0);
      expect(hasher.verify(rotated.secret, stored)).toBe(true);
      expect(hasher.verify(cred.secret, stored)).toBe(false);
    });
  });

  describe('setEnabled and service accounts', () => {
    it('splits updated and missing SNs and passes the status', async () => {
      await registry.register([{ sn: 'DIS0001', model: 'M' }]);
      expect(await registry.setEnabled(['DIS0001', 'NOPE001'], false)).toStrictEqual({ updated: ['DIS0001'], missing: ['NOPE001'] });
      expect(repo.statuses.get('DIS0001')).toBe(TerminalStatus.Disabled);
      await registry.setEnabled(['DIS0001'], true);
      expect(repo.statuses.get('DIS0001')).toBe(TerminalStatus.Active);
    });

    it('creates a service account whose secret verifies against the stored hash', async () => {
      const account = await registry.createServiceAccount('ingest');
      expect(account.username).toBe('svc:ingest');
      expect(hasher.verify(account.secret, repo.serviceAccounts.get('ingest') ?? Buffer.alloc(0))).toBe(true);
    });
  });
});
