import { Get, Header, HttpCode, Inject, Post } from '@nestjs/common';
import { ApiOperation } from '@nestjs/swagger';
import type { z } from 'zod';
import type { CampaignProgress, CreateCampaignInput, DryRunResult } from '#campaigns';
import type { RequestContext } from '../auth/principal.js';
import { Ctx } from '../auth/request-context.decorator.js';
import { FleetController } from '../common/fleet-controller.decorator.js';
import { ApiErrors, ApiOkZod } from '../common/openapi.js';
import { ZodBody, ZodParams, ZodQuery } from '../common/zod-validation.js';
import { RequireOpsAdmin } from '../version-policies/ops-admin.guard.js';
import { CampaignApiService } from './campaign-api.service.js';
import {
  campaignIdParam,
  campaignList,
  campaignListQuery,
  campaignView,
  cancelView,
  createCampaignBody,
  dryRunBody,
  dryRunView,
  pauseBody,
  progressView,
  type CampaignView,
} from './campaign.dto.js';

type IdParam = z.output<typeof campaignIdParam>;

@FleetController('campaigns', 'campaigns')
export class CampaignController {
  constructor(@Inject(CampaignApiService) private readonly campaigns: CampaignApiService) {}

  @Get()
  @ApiOperation({ summary: 'Campaigns, newest first; provider roles see campaigns whose target lies inside their subtree (read-only)' })
  @ApiOkZod(campaignList)
  @ApiErrors(400)
  list(@Ctx() ctx: RequestContext, @ZodQuery(campaignListQuery) query: z.output<typeof campaignListQuery>): Promise<{ items: CampaignView[] }> {
    return this.campaigns.list(ctx, query);
  }

  @Post()
  @RequireOpsAdmin()
  @ApiOperation({
    summary: 'Create a campaign (ops-admin); a draft until a second ops-admin approves it',
    description: 'Target, waves, rate, thresholds, soak, install guards and health gate: see docs/ota.md, Campaigns.',
  })
  @ApiOkZod(campaignView, 201, 'Created')
  @ApiErrors(400, 403, 404)
  create(@Ctx() ctx: RequestContext, @ZodBody(createCampaignBody) body: CreateCampaignInput): Promise<CampaignView> {
    return this.campaigns.create(ctx, body);
  }

  @Post('dry-run')
  @HttpCode(200)
  @RequireOpsAdmin()
  @ApiOperation({ summary: 'Plan a campaign without creating it: target count, wave sizes, data per carrier, exclusions and why (ops-admin)' })
  @ApiOkZod(dryRunView)
  @ApiErrors(400, 403, 404)
  dryRun(@Ctx() ctx: RequestContext, @ZodBody(dryRunBody) body: z.output<typeof dryRunBody>): Promise<DryRunResult> {
    return this.campaigns.dryRun(ctx, body);
  }

  @Get(':id')
  @ApiOperation({ summary: 'One campaign' })
  @ApiOkZod(campaignView)
  @ApiErrors(400, 404)
  get(@Ctx() ctx: RequestContext, @ZodParams(campaignIdParam) { id }: IdParam): Promise<CampaignView> {
    return this.campaigns.get(ctx, id);
  }

  @Get(':id/dry-run')
  @ApiOperation({ summary: 'The dry run of an existing campaign, as of now' })
  @ApiOkZod(dryRunView)
  @ApiErrors(400, 404)
  dryRunOf(@Ctx() ctx: RequestContext, @ZodParams(campaignIdParam) { id }: IdParam): Promise<DryRunResult> {
    return this.campaigns.dryRunOf(ctx, id);
  }

  @Get(':id/progress')
  @Header('cache-control', 'no-store')
  @ApiOperation({ summary: 'Progress: counts per command state per wave, failure reasons, throughput, ETA, health-gate comparisons' })
  @ApiOkZod(progressView)
  @ApiErrors(400, 404)
  progress(@Ctx() ctx: RequestContext, @ZodParams(campaignIdParam) { id }: IdParam): Promise<CampaignProgress> {
    return this.campaigns.progress(ctx, id);
  }

  @Post(':id/approve')
  @HttpCode(200)
  @RequireOpsAdmin()
  @ApiOperation({ summary: 'Approve a draft (four eyes: an ops-admin other than the creator; 403 for the creator, 409 if not a draft)' })
  @ApiOkZod(campaignView)
  @ApiErrors(400, 403, 404, 409)
  approve(@Ctx() ctx: RequestContext, @ZodParams(campaignIdParam) { id }: IdParam): Promise<CampaignView> {
    return this.campaigns.approve(ctx, id);
  }

  @Post(':id/start')
  @HttpCode(200)
  @RequireOpsAdmin()
  @ApiOperation({ summary: 'Start an approved campaign (409 before approval)' })
  @ApiOkZod(campaignView)
  @ApiErrors(400, 403, 404, 409)
  start(@Ctx() ctx: RequestContext, @ZodParams(campaignIdParam) { id }: IdParam): Promise<CampaignView> {
    return this.campaigns.start(ctx, id);
  }

  @Post(':id/pause')
  @HttpCode(200)
  @RequireOpsAdmin()
  @ApiOperation({ summary: 'Pause a running campaign: no new commands; those already sent run on' })
  @ApiOkZod(campaignView)
  @ApiErrors(400, 403, 404, 409)
  pause(@Ctx() ctx: RequestContext, @ZodParams(campaignIdParam) { id }: IdParam, @ZodBody(pauseBody) body: z.output<typeof pauseBody>): Promise<CampaignView> {
    return this.campaigns.pause(ctx, id, body.reason);
  }

  @Post(':id/resume')
  @HttpCode(200)
  @RequireOpsAdmin()
  @ApiOperation({ summary: 'Resume a paused campaign (the current wave soaks and is judged again)' })
  @ApiOkZod(campaignView)
  @ApiErrors(400, 403, 404, 409)
  resume(@Ctx() ctx: RequestContext, @ZodParams(campaignIdParam) { id }: IdParam): Promise<CampaignView> {
    return this.campaigns.resume(ctx, id);
  }

  @Post(':id/cancel')
  @HttpCode(200)
  @RequireOpsAdmin()
  @ApiOperation({ summary: 'Cancel a campaign; its commands not yet installing are withdrawn through the command ledger' })
  @ApiOkZod(cancelView)
  @ApiErrors(400, 403, 404, 409)
  cancel(@Ctx() ctx: RequestContext, @ZodParams(campaignIdParam) { id }: IdParam): Promise<{ campaign: CampaignView; withdrawn: number }> {
    return this.campaigns.cancel(ctx, id);
  }
}
