import { Get, Inject } from '@nestjs/common';
import { ApiOperation } from '@nestjs/swagger';
import type { z } from 'zod';
import { RequirePermission } from '../auth/api-auth.guard.js';
import type { RequestContext } from '../auth/principal.js';
import { Ctx } from '../auth/request-context.decorator.js';
import { Permission } from '../auth/roles.js';
import { FleetController as FleetApiController } from '../common/fleet-controller.decorator.js';
import { ApiErrors, ApiOkZod } from '../common/openapi.js';
import { ZodQuery } from '../common/zod-validation.js';
import { fleetSummaryQuery, fleetSummaryView, type FleetSummaryView } from './fleet.dto.js';
import { FleetService } from './fleet.service.js';

@FleetApiController('fleet', 'fleet')
export class FleetSummaryController {
  constructor(@Inject(FleetService) private readonly fleet: FleetService) {}

  @Get('summary')
  @RequirePermission(Permission.TerminalsRead)
  @ApiOperation({ summary: 'Terminal counts over the caller\u2019s scope: presence, plan, firmware, model, attention flags' })
  @ApiOkZod(fleetSummaryView)
  @ApiErrors(400, 403, 404)
  async summary(@Ctx() ctx: RequestContext, @ZodQuery(fleetSummaryQuery) { providerId }: z.output<typeof fleetSummaryQuery>): Promise<FleetSummaryView> {
    return this.fleet.summary(ctx, providerId);
  }
}
