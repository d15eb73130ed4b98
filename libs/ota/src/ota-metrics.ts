import { Inject, Injectable } from '@nestjs/common';
import { Counter } from 'prom-client';
import { MetricsService } from '#observability';

export type DownloadResult = 'full' | 'partial' | 'not_modified' | 'unsatisfiable' | 'redirect' | 'refused' | 'not_found';

/** OTA series on the process's registry (MetricsService). */
@Injectable()
export class OtaMetrics {
  readonly downloads: Counter<'result'>;
  readonly downloadBytes: Counter;
  readonly uploads: Counter<'result'>;

  constructor(@Inject(MetricsService) metrics: MetricsService) {
    const registers = [metrics.registry];
    this.downloads = new Counter({
      name: 'fleet_ota_downloads_total',
      help: 'Artifact download requests by answer (full, partial, not_modified, unsatisfiable, redirect, refused, not_found)',
      labelNames: ['result'] as const,
      registers,
    });
    this.downloadBytes = new Counter({ name: 'fleet_ota_download_bytes_total', help: 'Artifact bytes of 200/206 answers (Content-Length)', registers });
    this.uploads = new Counter({
      name: 'fleet_ota_uploads_total',
      help: 'Artifact uploads by result (accepted, or the OTA refusal code)',
      labelNames: ['result'] as const,
      registers,
    });
  }
}
