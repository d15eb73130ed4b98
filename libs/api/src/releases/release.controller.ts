import type { Readable } from 'node:stream';
import { Get, HttpCode, Inject, Post, Put, Req, Res } from '@nestjs/common';
import { ApiOperation } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { DomainException } from '#contracts';
import type { RequestContext } from '../auth/principal.js';
import { Ctx } from '../auth/request-context.decorator.js';
import { ApiErrorCode } from '../common/api-error.js';
import { FleetController } from '../common/fleet-controller.decorator.js';
import { ApiErrors, ApiOkZod } from '../common/openapi.js';
import { ZodBody, ZodParams, ZodQuery } from '../common/zod-validation.js';
import { RequireOpsAdmin } from '../version-policies/ops-admin.guard.js';
import { createReleaseBody, releaseIdParam, releaseList, releaseListQuery, releaseView } from './release.dto.js';
import { ReleaseService, type ReleaseView } from './release.service.js';

type IdParam = z.output<typeof releaseIdParam>;

/** The OTA release catalog: every role reads it (provider roles without storage details); ops-admin manages it. */
@FleetController('releases', 'releases')
export class ReleaseController {
  constructor(@Inject(ReleaseService) private readonly releases: ReleaseService) {}

  @Get()
  @ApiOperation({ summary: 'Releases, newest first; provider roles see active and withdrawn releases without storage details' })
  @ApiOkZod(releaseList)
  @ApiErrors(400)
  list(@Ctx() ctx: RequestContext, @ZodQuery(releaseListQuery) query: z.output<typeof releaseListQuery>): Promise<{ items: ReleaseView[] }> {
    return this.releases.list(ctx, query);
  }

  @Get(':id')
  @ApiOperation({ summary: 'One release' })
  @ApiOkZod(releaseView)
  @ApiErrors(400, 404)
  get(@Ctx() ctx: RequestContext, @ZodParams(releaseIdParam) { id }: IdParam): Promise<ReleaseView> {
    return this.releases.get(ctx, id);
  }

  @Post()
  @RequireOpsAdmin()
  @ApiOperation({
    summary: 'Create a release (ops-admin)',
    description:
      'With `artifactUrl` (https CDN), `sizeBytes` and `sha256`: the signature is verified over the declared digest and the release is active at once ' +
      '(the artifact is not downloaded). Without: a draft; PUT the artifact to `uploadPath`. The version must parse and compare with the ' +
      'model\u2019s other releases of the component; one that equals an existing version (`1.2` = `1.2.0`) is a 409. A signature that does not ' +
      'verify against a configured release key is a 400 with `details[0].reason` `OTA_SIGNATURE_INVALID`.',
  })
  @ApiOkZod(releaseView, 201, 'Created')
  @ApiErrors(400, 403, 409)
  create(@Ctx() ctx: RequestContext, @ZodBody(createReleaseBody) body: z.output<typeof createReleaseBody>): Promise<ReleaseView> {
    return this.releases.create(ctx, body);
  }

  @Put(':id/artifact')
  @RequireOpsAdmin()
  @ApiOperation({
    summary: 'Upload a draft\u2019s artifact (ops-admin), `application/octet-stream`',
    description:
      'Streamed to the artifact directory while its SHA-256 is computed (never held in memory); then the release\u2019s signature must ' +
      'verify over that digest with a configured release key, else 400 (`details[0].reason`: `OTA_SIGNATURE_INVALID`, `OTA_UNKNOWN_KEY`, ' +
      '`OTA_DIGEST_MISMATCH` when a declared sha256 differs) and nothing is kept. Over OTA_ARTIFACT_MAX_BYTES: 413. ' +
      'A release that is not a draft: 409. The draft becomes active.',
    requestBody: { required: true, content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } },
  })
  @ApiOkZod(releaseView)
  @ApiErrors(400, 403, 404, 409, 413, 415)
  async upload(
    @Ctx() ctx: RequestContext,
    @ZodParams(releaseIdParam) { id }: IdParam,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<ReleaseView> {
    const body: unknown = request.body;
    // The octet-stream parser hands over the unread stream; any other type never reaches here with one.
    if (typeof (body as Readable | undefined)?.pipe !== 'function') {
      throw new DomainException(ApiErrorCode.UnsupportedMediaType, 'the artifact is sent as application/octet-stream');
    }
    try {
      return await this.releases.upload(ctx, id, body as Readable);
    } catch (err) {
      // Refused before the whole body arrived: close instead of letting Node drain the rest.
      if (!request.raw.complete) void reply.header('connection', 'close');
      throw err;
    }
  }

  @Post(':id/withdraw')
  @RequireOpsAdmin()
  @HttpCode(200)
  @ApiOperation({ summary: 'Withdraw a release (ops-admin): no new downloads or campaigns; idempotent' })
  @ApiOkZod(releaseView)
  @ApiErrors(400, 403, 404)
  withdraw(@Ctx() ctx: RequestContext, @ZodParams(releaseIdParam) { id }: IdParam): Promise<ReleaseView> {
    return this.releases.withdraw(ctx, id);
  }
}
