import { Delete, Get, HttpCode, Inject, Put } from '@nestjs/common';
import { ApiOperation } from '@nestjs/swagger';
import type { z } from 'zod';
import { RequirePermission } from '../auth/api-auth.guard.js';
import type { RequestContext } from '../auth/principal.js';
import { Ctx } from '../auth/request-context.decorator.js';
import { Permission } from '../auth/roles.js';
import { FleetController } from '../common/fleet-controller.decorator.js';
import { ApiErrors, ApiNoContent, ApiOkZod } from '../common/openapi.js';
import { ZodBody, ZodParams, ZodQuery } from '../common/zod-validation.js';
import { noQuery } from '../version-policies/version-policy.dto.js';
import { alertThresholdsOverrideSchema, type AlertThresholds } from '../alerts/alert-rules.port.js';
import { providerIdParam } from '../providers/provider.dto.js';
import { alertDefaultsView, alertSettingsView, type AlertSettingsView } from './alert-settings.dto.js';
import { AlertSettingsService } from './alert-settings.service.js';

type ProviderIdParam = z.output<typeof providerIdParam>;

@FleetController('alert-settings', 'alert-settings')
export class AlertDefaultsController {
  constructor(@Inject(AlertSettingsService) private readonly settings: AlertSettingsService) {}

  @Get('defaults')
  @RequirePermission(Permission.TerminalsRead)
  @ApiOperation({ summary: 'The alert thresholds built into the code, before any override' })
  @ApiOkZod(alertDefaultsView)
  @ApiErrors(400, 403)
  defaults(@ZodQuery(noQuery) _query: object): AlertThresholds {
    return this.settings.defaults();
  }
}

/** A provider's alert thresholds (under /v1/providers, with the provider routes). */
@FleetController('providers', 'alert-settings')
export class ProviderAlertSettingsController {
  constructor(@Inject(AlertSettingsService) private readonly settings: AlertSettingsService) {}

  @Get(':id/alert-settings')
  @RequirePermission(Permission.TerminalsRead)
  @ApiOperation({ summary: 'The provider\u2019s own overrides and the effective thresholds for its terminals' })
  @ApiOkZod(alertSettingsView)
  @ApiErrors(400, 403, 404)
  get(@Ctx() ctx: RequestContext, @ZodParams(providerIdParam) { id }: ProviderIdParam, @ZodQuery(noQuery) _query: object): Promise<AlertSettingsView> {
    return this.settings.get(ctx, id);
  }

  @Put(':id/alert-settings')
  @RequirePermission(Permission.TerminalsWrite)
  @ApiOperation({
    summary: 'Replace the provider\u2019s overrides (a partial settings object) for its subtree',
    description:
      'Provider admins: providers in their own subtree (their own included); ops-admin: any provider. The root provider\u2019s overrides are the fleet-wide values: ops-admin only. ' +
      'The merged thresholds must stay valid for this provider (else 400 naming the body field) and for every provider below it with overrides of its own (else 400 naming `body` and that provider). ' +
      'Writing the overrides the provider already has changes nothing (not audited).',
  })
  @ApiOkZod(alertSettingsView)
  @ApiErrors(400, 403, 404)
  put(
    @Ctx() ctx: RequestContext,
    @ZodParams(providerIdParam) { id }: ProviderIdParam,
    @ZodBody(alertThresholdsOverrideSchema) body: z.output<typeof alertThresholdsOverrideSchema>,
    @ZodQuery(noQuery) _query: object,
  ): Promise<AlertSettingsView> {
    return this.settings.put(ctx, id, body);
  }

  @Delete(':id/alert-settings')
  @HttpCode(204)
  @RequirePermission(Permission.TerminalsWrite)
  @ApiOperation({
    summary: 'Remove the provider\u2019s overrides (its terminals then inherit from above)',
    description: '404 when it has none; 409 when a provider below (with overrides of its own) would be left with thresholds that do not merge into valid ones.',
  })
  @ApiNoContent('Deleted')
  @ApiErrors(400, 403, 404, 409)
  async remove(@Ctx() ctx: RequestContext, @ZodParams(providerIdParam) { id }: ProviderIdParam, @ZodQuery(noQuery) _query: object): Promise<void> {
    await this.settings.delete(ctx, id);
  }
}
