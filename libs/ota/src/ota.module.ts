import { Module } from '@nestjs/common';
import { ArtifactStore } from './artifact-store.js';
import { DownloadUrlService } from './download-url.js';
import { OtaInstallService } from './ota-install.service.js';
import { OtaMetrics } from './ota-metrics.js';
import { ReleaseCatalogService } from './release-catalog.service.js';
import { ReleaseKeyring } from './release-keyring.js';
import { ReleaseRepository } from './release.repository.js';

/**
 * OTA catalog and artifacts: releases, signature verification against the configured release keys,
 * the artifact store and signed download URLs. The API serves it (libs/api/src/releases);
 * campaigns use OtaInstallService; the gateway's command dispatcher signs URLs afresh on every
 * publish with its own DownloadUrlService (it needs only the configuration).
 */
@Module({
  providers: [ReleaseRepository, ReleaseKeyring, ArtifactStore, ReleaseCatalogService, DownloadUrlService, OtaMetrics, OtaInstallService],
  exports: [ReleaseCatalogService, DownloadUrlService, OtaInstallService, ArtifactStore, ReleaseKeyring, OtaMetrics],
})
export class OtaModule {}
