import { Inject, Injectable } from '@nestjs/common';
import { CampaignsService, type CampaignRow, type CampaignState, type CreateCampaignInput, type DryRunResult } from '#campaigns';
import type { CampaignProgress } from '#campaigns';
import { AuditService } from '../audit/audit.service.js';
import type { RequestContext } from '../auth/principal.js';
import { notFound } from '../common/api-error.js';
import { scopePath } from '../common/scope-sql.js';
import { ProviderRepository } from '../providers/provider.repository.js';
import type { CampaignView } from './campaign.dto.js';
import type { z } from 'zod';
import type { dryRunBody } from './campaign.dto.js';

export function toCampaignView(r: CampaignRow): CampaignView {
  const iso = (d: Date | null) => (d ? d.toISOString() : null);
  return {
    id: r.id,
    name: r.name,
    releaseId: r.releaseId,
    target: { ...r.target },
    waves: { ...r.waves },
    ratePerMinute: r.ratePerMinute,
    successThreshold: r.successThreshold,
    failureThreshold: r.failureThreshold,
    soakSeconds: r.soakS,
    guards: { ...r.guards },
    healthGate: { ...r.health },
    retry: { ...r.retry },
    state: r.state,
    pauseReason: r.pauseReason,
    createdBy: r.createdBy,
    approvedBy: r.approvedBy,
    createdAt: r.createdAt.toISOString(),
    approvedAt: iso(r.approvedAt),
    startedAt: iso(r.startedAt),
    finishedAt: iso(r.finishedAt),
    wave: r.wave,
    waveSize: r.waveSize,
  };
}

/**
 * Campaigns on the fleet API: ops-admin manages them (controller guard), every role reads within
 * its scope (provider roles: campaigns whose target lies inside their subtree), every action audited.
 */
@Injectable()
export class CampaignApiService {
  constructor(
    @Inject(CampaignsService) private readonly campaigns: CampaignsService,
    @Inject(ProviderRepository) private readonly providers: ProviderRepository,
    @Inject(AuditService) private readonly audit: AuditService,
  ) {}

  private async provider(ctx: RequestContext, id: string | null): Promise<{ id: string; path: string } | null> {
    if (id === null) return null;
    const p = await this.providers.findById(ctx.scope, id);
    if (!p) throw notFound(`provider ${id}`);
    return { id: p.id, path: p.path };
  }

  dryRun(ctx: RequestContext, body: z.output<typeof dryRunBody>): Promise<DryRunResult> {
    return this.provider(ctx, body.target.providerId).then((p) => this.campaigns.dryRun(body, p?.path ?? null));
  }

  async dryRunOf(ctx: RequestContext, id: string): Promise<DryRunResult> {
    const row = await this.campaigns.get(id, scopePath(ctx.scope));
    return this.campaigns.dryRun(row, row.providerPath);
  }

  async create(ctx: RequestContext, body: CreateCampaignInput): Promise<CampaignView> {
    const provider = await this.provider(ctx, body.target.providerId);
    const row = await this.campaigns.create(body, { name: ctx.principal.name }, provider);
    await this.audit.record(ctx, {
      action: 'campaign.create',
      targetType: 'campaign',
      targetId: row.id,
      providerId: row.providerId,
      after: toCampaignView(row),
    });
    return toCampaignView(row);
  }

  async list(ctx: RequestContext, q: { limit: number; state?: CampaignState }): Promise<{ items: CampaignView[] }> {
    return { items: (await this.campaigns.list(scopePath(ctx.scope), q.limit, q.state ?? null)).map(toCampaignView) };
  }

  async get(ctx: RequestContext, id: string): Promise<CampaignView> {
    return toCampaignView(await this.campaigns.get(id, scopePath(ctx.scope)));
  }

  async progress(ctx: RequestContext, id: string): Promise<CampaignProgress> {
    return this.campaigns.progress(await this.campaigns.get(id, scopePath(ctx.scope)));
  }

  private async act(ctx: RequestContext, id: string, action: string, run: (row: CampaignRow) => Promise<CampaignRow>): Promise<CampaignView> {
    const before = await this.campaigns.get(id, scopePath(ctx.scope));
    const after = await run(before);
    await this.audit.record(ctx, {
      action: `campaign.${action}`,
      targetType: 'campaign',
      targetId: id,
      providerId: after.providerId,
      before: { state: before.state },
      after: { state: after.state, approvedBy: after.approvedBy, pauseReason: after.pauseReason },
    });
    return toCampaignView(after);
  }

  approve(ctx: RequestContext, id: string): Promise<CampaignView> {
    return this.act(ctx, id, 'approve', (row) => this.campaigns.approve(row, { name: ctx.principal.name }));
  }

  start(ctx: RequestContext, id: string): Promise<CampaignView> {
    return this.act(ctx, id, 'start', (row) => this.campaigns.start(row));
  }

  pause(ctx: RequestContext, id: string, reason: string): Promise<CampaignView> {
    return this.act(ctx, id, 'pause', (row) => this.campaigns.pause(row, `${reason} (${ctx.principal.name})`));
  }

  resume(ctx: RequestContext, id: string): Promise<CampaignView> {
    return this.act(ctx, id, 'resume', (row) => this.campaigns.resume(row));
  }

  async cancel(ctx: RequestContext, id: string): Promise<{ campaign: CampaignView; withdrawn: number }> {
    const before = await this.campaigns.get(id, scopePath(ctx.scope));
    const { campaign, withdrawn } = await this.campaigns.cancel(before, { name: ctx.principal.name });
    await this.audit.record(ctx, {
      action: 'campaign.cancel',
      targetType: 'campaign',
      targetId: id,
      providerId: campaign.providerId,
      before: { state: before.state },
      after: { state: campaign.state, withdrawn },
    });
    return { campaign: toCampaignView(campaign), withdrawn };
  }
}
