import { describe, expect, it } from '@jest/globals';
import { loadConfig } from '#config';
import { DownloadUrlService } from './download-url.js';

const config = loadConfig({}, { CREDENTIAL_PEPPER: 'p'.repeat(40), OTA_PUBLIC_BASE_URL: 'https://fleet.example.com/' });
const urls = new DownloadUrlService(config);
const releaseId = '3f0c9a52-1d2e-4b7a-9c1d-2e3f4a5b6c7d';
const now = new Date('2026-12-01T10:00:00Z');

function paramsOf(url: string): { id: string; query: Record<string, string> } {
  const u = new URL(url);
  return { id: u.pathname.split('/').pop() ?? '', query: Object.fromEntries(u.searchParams) };
}

describe('signed download URLs', () => {
  it('issues a URL under the public base that verifies until it expires (default 1 h)', () => {
    const { url, expiresAt } = urls.issueDownloadUrl({ releaseId, sn: 'P3000001', commandId: 'cmd-1', now });
    expect(url.startsWith(`https://fleet.example.com/ota/v1/artifacts/${releaseId}?`)).toBe(true);
    expect(expiresAt.toISOString()).toBe('2026-12-01T11:00:00.000Z');
    const { id, query } = paramsOf(url);
    expect(urls.verify(id, query, now)).toStrictEqual({ releaseId, sn: 'P3000001', commandId: 'cmd-1', exp: expiresAt.getTime() / 1000 });
    expect(urls.verify(id, query, new Date(expiresAt.getTime() - 1))).not.toBeNull();
    expect(urls.verify(id, query, expiresAt)).toBeNull();
  });

  it('refuses every tampered part: release, SN, command, expiry, signature, missing fields', () => {
    const { id, query } = paramsOf(urls.issueDownloadUrl({ releaseId, sn: 'P3000001', commandId: 'cmd-1', now }).url);
    expect(urls.verify('3f0c9a52-1d2e-4b7a-9c1d-2e3f4a5b6c7e', query, now)).toBeNull();
    expect(urls.verify(id, { ...query, sn: 'P3000002' }, now)).toBeNull();
    expect(urls.verify(id, { ...query, cmd: 'cmd-2' }, now)).toBeNull();
    expect(urls.verify(id, { ...query, exp: String(Number(query.exp) + 3600) }, now)).toBeNull();
    const sig = Buffer.from(query.sig, 'base64url');
    sig[0] ^= 1;
    expect(urls.verify(id, { ...query, sig: sig.toString('base64url') }, now)).toBeNull();
    expect(urls.verify(id, { ...query, sig: undefined }, now)).toBeNull();
    expect(urls.verify(id, { ...query, sn: ['P3000001'] as unknown }, now)).toBeNull();
    expect(urls.verify(id, { ...query, exp: '1e20' }, now)).toBeNull();
  });

  it('a URL signed under another key (another pepper or OTA_URL_SECRET) is refused', () => {
    const { id, query } = paramsOf(urls.issueDownloadUrl({ releaseId, sn: 'P3000001', commandId: 'cmd-1', now }).url);
    expect(new DownloadUrlService(loadConfig({}, { CREDENTIAL_PEPPER: 'q'.repeat(40) })).verify(id, query, now)).toBeNull();
    expect(new DownloadUrlService(loadConfig({}, { CREDENTIAL_PEPPER: 'p'.repeat(40), OTA_URL_SECRET: 's'.repeat(40) })).verify(id, query, now)).toBeNull();
    // Same pepper, no URL secret: replicas agree.
    expect(new DownloadUrlService(loadConfig({}, { CREDENTIAL_PEPPER: 'p'.repeat(40) })).verify(id, query, now)).not.toBeNull();
  });

  it('refuses to issue for malformed inputs', () => {
    expect(() => urls.issueDownloadUrl({ releaseId: 'x', sn: 'P3000001', commandId: 'c', now })).toThrow(/releaseId/);
    expect(() => urls.issueDownloadUrl({ releaseId, sn: 'P3\n', commandId: 'c', now })).toThrow(/sn/);
    expect(() => urls.issueDownloadUrl({ releaseId, sn: 'P3000001', commandId: 'a\nb', now })).toThrow(/commandId/);
  });
});

describe('reissued download URLs (every resend of an ota.install)', () => {
  const issuedAt = new Date('2026-12-01T10:00:00Z');
  const later = new Date('2026-12-01T12:30:00Z');
  const original = urls.issueDownloadUrl({ releaseId, sn: 'P3000001', commandId: 'cmd-1', now: issuedAt }).url;

  it('gives the command a URL that verifies again after the first one expired; same release, terminal, command and base', () => {
    const first = paramsOf(original);
    expect(urls.verify(first.id, first.query, later)).toBeNull();
    const fresh = urls.reissueDownloadUrl(original, { releaseId, sn: 'P3000001', commandId: 'cmd-1', now: later });
    expect(fresh).not.toBeNull();
    expect(fresh?.split('?')[0]).toBe(original.split('?')[0]);
    const again = paramsOf(fresh ?? '');
    expect(urls.verify(again.id, again.query, later)).toStrictEqual({ releaseId, sn: 'P3000001', commandId: 'cmd-1', exp: later.getTime() / 1000 + 3600 });
  });

  it('keeps the base of a URL issued under another address, and signs for the command it is given', () => {
    const elsewhere = original.replace('https://fleet.example.com', 'http://10.0.0.5:8082');
    const fresh = urls.reissueDownloadUrl(elsewhere, { releaseId, sn: 'P3000001', commandId: 'c0ffee00-1111-4222-8333-444455556666', now: later }) ?? '';
    expect(fresh.startsWith(`http://10.0.0.5:8082/ota/v1/artifacts/${releaseId}?`)).toBe(true);
    expect(paramsOf(fresh).query.cmd).toBe('c0ffee00-1111-4222-8333-444455556666');
    expect(urls.verify(releaseId, paramsOf(fresh).query, later)).not.toBeNull();
  });

  it('leaves alone what is not a signed artifact URL of this release', () => {
    const input = { releaseId, sn: 'P3000001', commandId: 'cmd-1', now: later };
    expect(urls.reissueDownloadUrl('https://cdn.example.com/fw.bin', input)).toBeNull();
    expect(urls.reissueDownloadUrl('not a url', input)).toBeNull();
    expect(urls.reissueDownloadUrl(original.split('?')[0], input)).toBeNull();
    expect(urls.reissueDownloadUrl(original, { ...input, releaseId: '3f0c9a52-1d2e-4b7a-9c1d-2e3f4a5b6c7e' })).toBeNull();
  });
});
