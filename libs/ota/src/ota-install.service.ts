import { Inject, Injectable } from '@nestjs/common';
import { DomainException, type OtaInstallParams } from '#contracts';
import { DownloadUrlService } from './download-url.js';
import { OtaErrorCode } from './ota.errors.js';
import { ReleaseCatalogService } from './release-catalog.service.js';

/**
 * The `ota.install` command's release part for one terminal and command: version, digest, size,
 * signature and a signed download URL (campaigns call it when they create the command). The URL lives
 * only OTA_DOWNLOAD_URL_TTL_S, so the gateway signs it afresh whenever it publishes the command
 * (DownloadUrlService.reissueDownloadUrl).
 */
@Injectable()
export class OtaInstallService {
  constructor(
    @Inject(ReleaseCatalogService) private readonly catalog: ReleaseCatalogService,
    @Inject(DownloadUrlService) private readonly urls: DownloadUrlService,
  ) {}

  async installParams(input: {
    releaseId: string;
    sn: string;
    commandId: string;
    now: Date;
  }): Promise<{ params: Omit<OtaInstallParams, 'guards'>; expiresAt: Date }> {
    const release = await this.catalog.findForDownload(input.releaseId, input.now.getTime());
    if (!release || release.status !== 'active' || release.sha256 === null || release.sizeBytes === null) {
      throw new DomainException(OtaErrorCode.ReleaseNotFound, `release ${input.releaseId} is not an active release`);
    }
    const { url, expiresAt } = this.urls.issueDownloadUrl(input);
    return {
      params: {
        releaseId: release.id,
        component: release.component,
        version: release.version,
        url,
        size: release.sizeBytes,
        sha256: release.sha256,
        signature: release.signature,
      },
      expiresAt,
    };
  }
}
