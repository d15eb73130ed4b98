import { stat } from 'node:fs/promises';
import { Controller, Get, Head, Inject, Req, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { COMMAND_CLOCK, type CommandClock } from '#commands';
import { DomainException } from '#contracts';
import { ArtifactStore, decideRange, DownloadUrlService, OtaMetrics, ReleaseCatalogService } from '#ota';
import { ApiErrorCode } from '../common/api-error.js';
import { validate } from '../common/zod-validation.js';
import { artifactDownloadQuery, artifactIdParam } from './release.dto.js';

const forbidden = () => new DomainException(ApiErrorCode.Forbidden, 'download URL expired, tampered with or not for this release');

/** Whether an If-None-Match / If-Range value names this strong ETag (`*` matches any). */
function matches(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return header.split(',').some((v) => {
    const t = v.trim();
    return t === '*' || t === etag || t === `W/${etag}`;
  });
}

/**
 * Artifact downloads for terminals: no API key, authorised by the signed URL the command carries
 * (`sn`, `cmd`, `exp`, `sig`). Single byte ranges (206/416), strong ETag (the SHA-256),
 * If-None-Match (304) and If-Range, streamed from disk in constant memory. An external (CDN)
 * artifact is a 302 to its URL once the signature checks out.
 */
// The OpenAPI document is the /v1 fleet API for API-key holders; this terminal-facing contract is docs/ota.md.
@ApiExcludeController()
@Controller('ota/v1/artifacts')
export class ArtifactDownloadController {
  constructor(
    @Inject(DownloadUrlService) private readonly urls: DownloadUrlService,
    @Inject(ReleaseCatalogService) private readonly catalog: ReleaseCatalogService,
    @Inject(ArtifactStore) private readonly store: ArtifactStore,
    @Inject(OtaMetrics) private readonly metrics: OtaMetrics,
    // The ledger's clock signs the URLs (on every command publish), so it also judges their expiry.
    @Inject(COMMAND_CLOCK) private readonly clock: CommandClock,
  ) {}

  /** Its own route, declared before GET so Fastify adds no implicit one: Fastify's implicit HEAD would read the whole file to discard it. */
  @Head(':releaseId')
  head(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    return this.serve(request, reply);
  }

  @Get(':releaseId')
  download(@Req() request: FastifyRequest, @Res() reply: FastifyReply): Promise<void> {
    return this.serve(request, reply);
  }

  private async serve(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const { releaseId } = validate(artifactIdParam, request.params, 'params');
    const query: z.output<typeof artifactDownloadQuery> = validate(artifactDownloadQuery, request.query, 'query');
    if (!this.urls.verify(releaseId, query, this.clock.now())) {
      this.metrics.downloads.inc({ result: 'refused' });
      throw forbidden();
    }
    const release = await this.catalog.findForDownload(releaseId);
    if (!release || release.status !== 'active') {
      this.metrics.downloads.inc({ result: 'not_found' });
      throw new DomainException(ApiErrorCode.NotFound, 'release not found or withdrawn');
    }
    if (release.artifactUrl !== null) {
      this.metrics.downloads.inc({ result: 'redirect' });
      await reply.status(302).header('location', release.artifactUrl).header('cache-control', 'no-store').send();
      return;
    }
    if (release.artifactPath === null || release.sha256 === null) throw new Error(`release ${release.id} is active without an artifact`);
    const size = (await stat(this.store.pathOf(release.artifactPath))).size;
    const etag = `"${release.sha256}"`;
    void reply
      .header('etag', etag)
      .header('accept-ranges', 'bytes')
      // Carrier proxies must not recompress a firmware image; each URL is one terminal's.
      .header('cache-control', 'private, no-transform')
      .header('content-type', 'application/octet-stream')
      .header(
        'content-disposition',
        `attachment; filename="${`${release.model}-${release.component}-${release.version}`.replace(/[^A-Za-z0-9._-]/g, '_')}.bin"`,
      );
    if (matches(request.headers['if-none-match'], etag)) {
      this.metrics.downloads.inc({ result: 'not_modified' });
      await reply.status(304).send();
      return;
    }
    const rangeHeader = request.headers.range;
    const ifRange = [request.headers['if-range']].flat()[0];
    // If-Range with anything but the current ETag (another ETag, or a date): the whole file.
    const range = ifRange !== undefined && ifRange.trim() !== etag ? { kind: 'full' as const } : decideRange(rangeHeader, size);
    if (range.kind === 'unsatisfiable') {
      this.metrics.downloads.inc({ result: 'unsatisfiable' });
      // 416 is not one of the API's codes: the one error body, sent here.
      const message = `range not satisfiable: the artifact has ${size} bytes`;
      await reply
        .status(416)
        .header('content-range', `bytes */${size}`)
        .header('content-type', 'application/json; charset=utf-8')
        .send({ error: { code: ApiErrorCode.ValidationFailed, message, requestId: String(request.id) } });
      return;
    }
    const [start, end] = range.kind === 'partial' ? [range.start, range.end] : [0, size - 1];
    void reply.status(range.kind === 'partial' ? 206 : 200).header('content-length', String(Math.max(0, end - start + 1)));
    if (range.kind === 'partial') void reply.header('content-range', `bytes ${start}-${end}/${size}`);
    this.metrics.downloads.inc({ result: range.kind });
    if (request.method === 'HEAD' || size === 0) {
      await reply.send();
      return;
    }
    this.metrics.downloadBytes.inc(end - start + 1);
    await reply.send(this.store.open(release.artifactPath, start, end));
  }
}
