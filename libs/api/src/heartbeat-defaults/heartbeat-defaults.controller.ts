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
import { providerIdParam } from '../providers/provider.dto.js';
import { snParam } from '../terminals/terminal.dto.js';
import { noQuery } from '../version-policies/version-policy.dto.js';
import {
  heartbeatDefaultBody,
  heartbeatDefaultsView,
  modelParam,
  terminalIntervalView,
  type HeartbeatDefaultBody,
  type HeartbeatDefaultsView,
  type TerminalIntervalView,
} from './heartbeat-defaults.dto.js';
import { HeartbeatDefaultsService } from './heartbeat-defaults.service.js';

const RESOLUTION =
  'A terminal\u2019s effective default: the default of the provider nearest to it on its provider path (its own provider, then each ancestor), else its model\u2019s, else the fleet\u2019s, else none. ' +
  'The worker compares each terminal\u2019s last acknowledged interval with it every HEARTBEAT_DEFAULTS_RECONCILE_MS and queues one set_heartbeat_interval command where they differ.';

@FleetController('heartbeat-defaults', 'heartbeat-defaults')
export class HeartbeatDefaultsController {
  constructor(@Inject(HeartbeatDefaultsService) private readonly defaults: HeartbeatDefaultsService) {}

  @Get()
  @RequirePermission(Permission.TerminalsRead)
  @ApiOperation({ summary: 'Default heartbeat intervals: fleet, per model, per provider subtree', description: RESOLUTION })
  @ApiOkZod(heartbeatDefaultsView)
  @ApiErrors(400, 403)
  list(@Ctx() ctx: RequestContext, @ZodQuery(noQuery) _query: object): Promise<HeartbeatDefaultsView> {
    return this.defaults.list(ctx);
  }

  @Put('fleet')
  @RequirePermission(Permission.TerminalsWrite)
  @ApiOperation({ summary: 'Set the fleet-wide default heartbeat interval (ops-admin)', description: RESOLUTION })
  @ApiOkZod(heartbeatDefaultsView)
  @ApiErrors(400, 403)
  putFleet(
    @Ctx() ctx: RequestContext,
    @ZodBody(heartbeatDefaultBody) body: HeartbeatDefaultBody,
    @ZodQuery(noQuery) _q: object,
  ): Promise<HeartbeatDefaultsView> {
    return this.defaults.put(ctx, { kind: 'fleet' }, body.seconds);
  }

  @Delete('fleet')
  @HttpCode(204)
  @RequirePermission(Permission.TerminalsWrite)
  @ApiOperation({ summary: 'Remove the fleet-wide default (ops-admin); terminals already set keep their interval' })
  @ApiNoContent('Deleted')
  @ApiErrors(400, 403, 404)
  async deleteFleet(@Ctx() ctx: RequestContext, @ZodQuery(noQuery) _q: object): Promise<void> {
    await this.defaults.delete(ctx, { kind: 'fleet' });
  }

  @Put('models/:model')
  @RequirePermission(Permission.TerminalsWrite)
  @ApiOperation({ summary: 'Set a model\u2019s default heartbeat interval (ops-admin)', description: RESOLUTION })
  @ApiOkZod(heartbeatDefaultsView)
  @ApiErrors(400, 403)
  putModel(
    @Ctx() ctx: RequestContext,
    @ZodParams(modelParam) { model }: z.output<typeof modelParam>,
    @ZodBody(heartbeatDefaultBody) body: HeartbeatDefaultBody,
    @ZodQuery(noQuery) _q: object,
  ): Promise<HeartbeatDefaultsView> {
    return this.defaults.put(ctx, { kind: 'model', model }, body.seconds);
  }

  @Delete('models/:model')
  @HttpCode(204)
  @RequirePermission(Permission.TerminalsWrite)
  @ApiOperation({ summary: 'Remove a model\u2019s default (ops-admin)' })
  @ApiNoContent('Deleted')
  @ApiErrors(400, 403, 404)
  async deleteModel(@Ctx() ctx: RequestContext, @ZodParams(modelParam) { model }: z.output<typeof modelParam>, @ZodQuery(noQuery) _q: object): Promise<void> {
    await this.defaults.delete(ctx, { kind: 'model', model });
  }

  @Put('providers/:id')
  @RequirePermission(Permission.TerminalsWrite)
  @ApiOperation({
    summary: 'Set the default heartbeat interval of a provider\u2019s subtree',
    description: `Provider admins: providers in their own subtree (their own included); ops-admin: any. ${RESOLUTION}`,
  })
  @ApiOkZod(heartbeatDefaultsView)
  @ApiErrors(400, 403, 404)
  putProvider(
    @Ctx() ctx: RequestContext,
    @ZodParams(providerIdParam) { id }: z.output<typeof providerIdParam>,
    @ZodBody(heartbeatDefaultBody) body: HeartbeatDefaultBody,
    @ZodQuery(noQuery) _q: object,
  ): Promise<HeartbeatDefaultsView> {
    return this.defaults.put(ctx, { kind: 'provider', providerId: id }, body.seconds);
  }

  @Delete('providers/:id')
  @HttpCode(204)
  @RequirePermission(Permission.TerminalsWrite)
  @ApiOperation({ summary: 'Remove a provider subtree\u2019s default (its terminals then inherit from above)' })
  @ApiNoContent('Deleted')
  @ApiErrors(400, 403, 404)
  async deleteProvider(
    @Ctx() ctx: RequestContext,
    @ZodParams(providerIdParam) { id }: z.output<typeof providerIdParam>,
    @ZodQuery(noQuery) _q: object,
  ): Promise<void> {
    await this.defaults.delete(ctx, { kind: 'provider', providerId: id });
  }
}

/** A terminal's interval (under /v1/terminals, with the terminal routes). */
@FleetController('terminals', 'heartbeat-defaults')
export class TerminalHeartbeatIntervalController {
  constructor(@Inject(HeartbeatDefaultsService) private readonly defaults: HeartbeatDefaultsService) {}

  @Get(':sn/heartbeat-interval')
  @RequirePermission(Permission.TerminalsRead)
  @ApiOperation({ summary: 'The terminal\u2019s effective default interval (and its source), last acknowledged interval and unfinished interval command' })
  @ApiOkZod(terminalIntervalView)
  @ApiErrors(400, 403, 404)
  get(@Ctx() ctx: RequestContext, @ZodParams(snParam) { sn }: z.output<typeof snParam>, @ZodQuery(noQuery) _q: object): Promise<TerminalIntervalView> {
    return this.defaults.terminal(ctx, sn);
  }
}
