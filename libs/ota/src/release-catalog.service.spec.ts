import { describe, expect, it } from '@jest/globals';
import { loadConfig } from '#config';
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
