import { describe, expect, it } from '@jest/globals';
import { loadConfig } from '#config';
import { otaInstallParamsSchema } from '#contracts';
import { DownloadUrlService } from './download-url.js';
import { OtaInstallService } from './ota-install.service.js';
import type { ArtifactStore } from './artifact-store.js';
import type { OtaMetrics } from './ota-metrics.js';
import { DOWNLOAD_LOOKUP_TTL_MS, ReleaseCatalogService } from './release-catalog.service.js';
import type { ReleaseKeyring } from './release-keyring.js';
import type { ReleaseRepository } from './release.repository.js';
import type { Release } from './release.types.js';

const release = { id: 'r1', status: 'active' } as Release;

function catalogWith(findById: (id: string) => Promise<Release | null>) {
  const calls: string[] = [];
  const repo = {
    findById: (id: string) => {
      calls.push(id);
      return findById(id);
    },
    withdraw: async () => ({ ...release, status: 'withdrawn' }) as Release,
  } as unknown as ReleaseRepository;
  const catalog = new ReleaseCatalogService(repo, {} as ReleaseKeyring, {} as ArtifactStore, loadConfig({}, {}), {} as OtaMetrics);
  return { catalog, calls };
}

describe('ReleaseCatalogService.findForDownload', () => {
  it('concurrent downloads of one release share one lookup until the TTL passes', async () => {
    const { catalog, calls } = catalogWith(async () => release);
    const now = 1_000_000;
    const results = await Promise.all(Array.from({ length: 100 }, () => catalog.findForDownload('r1', now)));
    expect(results.every((r) => r === release)).toBe(true);
    expect(calls).toStrictEqual(['r1']);
    await catalog.findForDownload('r1', now + DOWNLOAD_LOOKUP_TTL_MS - 1);
    expect(calls).toHaveLength(1);
    await catalog.findForDownload('r1', now + DOWNLOAD_LOOKUP_TTL_MS);
    expect(calls).toHaveLength(2);
  });

  it('a withdrawal in this process applies at once; a failed lookup is not reused', async () => {
    const { catalog, calls } = catalogWith(async () => release);
    await catalog.findForDownload('r1', 0);
    await catalog.withdraw('r1');
    await catalog.findForDownload('r1', 1);
    // get() inside withdraw plus the lookup after it.
    expect(calls).toStrictEqual(['r1', 'r1', 'r1']);

    let fail = true;
    const flaky = catalogWith(async () => {
      if (fail) throw new Error('pool timeout');
      return release;
    });
    await expect(flaky.catalog.findForDownload('r1', 0)).rejects.toThrow('pool timeout');
    fail = false;
    await expect(flaky.catalog.findForDownload('r1', 1)).resolves.toBe(release);
  });
});

describe('OtaInstallService.installParams', () => {
  it('gives an active release\u2019s digest, size, signature and a fresh signed URL; refuses a withdrawn one', async () => {
    const active = {
      id: '3f0c9a52-1d2e-4b7a-9c1d-2e3f4a5b6c7d',
      status: 'active',
      component: 'firmware',
      version: 'E20_V3.2.1',
      sizeBytes: 1234,
      sha256: 'a'.repeat(64),
      signature: 'sig',
    } as Release;
    let current: Release = active;
    const { catalog } = catalogWith(async () => current);
    const config = loadConfig({}, { CREDENTIAL_PEPPER: 'p'.repeat(40), OTA_PUBLIC_BASE_URL: 'https://fleet.example.com' });
    const urls = new DownloadUrlService(config);
    const install = new OtaInstallService(catalog, urls);
    const now = new Date('2026-12-01T10:00:00Z');
    const { params, expiresAt } = await install.installParams({ releaseId: active.id, sn: 'P3000001', commandId: 'c-1', now });
    expect(otaInstallParamsSchema.safeParse(params).success).toBe(true);
    expect(params).toMatchObject({ releaseId: active.id, size: 1234, sha256: 'a'.repeat(64), signature: 'sig', version: 'E20_V3.2.1' });
    const u = new URL(params.url);
    expect(urls.verify(active.id, Object.fromEntries(u.searchParams), now)).toMatchObject({ sn: 'P3000001', commandId: 'c-1' });
    expect(expiresAt.toISOString()).toBe('2026-12-01T11:00:00.000Z');

    current = { ...active, status: 'withdrawn' };
    await expect(
      install.installParams({ releaseId: active.id, sn: 'P3000001', commandId: 'c-2', now: new Date(now.getTime() + DOWNLOAD_LOOKUP_TTL_MS) }),
    ).rejects.toThrow(/not an active release/);
  });
});
