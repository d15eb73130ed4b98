import { Get, Headers, Inject, Res } from '@nestjs/common';
import { ApiOperation, ApiProduces, ApiResponse } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import type { z } from 'zod';
import { renewalCsv } from '#alerts';
import { RequirePermission } from '../auth/api-auth.guard.js';
import type { RequestContext } from '../auth/principal.js';
import { Ctx } from '../auth/request-context.decorator.js';
import { Permission } from '../auth/roles.js';
import { FleetController } from '../common/fleet-controller.decorator.js';
import { ApiErrors, ApiOkZod } from '../common/openapi.js';
import type { Page } from '../common/pagination.js';
import { ZodParams, ZodQuery } from '../common/zod-validation.js';
import { attemptList, deliveryIdParam, deliveryListQuery, deliveryPage, idParam, renewalDigestQuery, renewalDigestView } from './notifications.dto.js';
import { NotificationsApiService, type AttemptView, type DeliveryView } from './notifications-api.service.js';

/** The delivery log: every message, its state, attempts, status codes, latency and last error. */
@FleetController('notification-deliveries', 'notifications')
export class NotificationDeliveriesController {
  constructor(@Inject(NotificationsApiService) private readonly service: NotificationsApiService) {}

  @Get()
  @RequirePermission(Permission.ProvidersRead)
  @ApiOperation({ summary: 'Deliveries in the caller\u2019s scope, newest first (keyset pagination)' })
  @ApiOkZod(deliveryPage)
  @ApiErrors(400, 403, 404)
  list(@Ctx() ctx: RequestContext, @ZodQuery(deliveryListQuery) q: z.output<typeof deliveryListQuery>): Promise<Page<DeliveryView>> {
    return this.service.listDeliveries(ctx, q);
  }

  @Get(':id/attempts')
  @RequirePermission(Permission.ProvidersRead)
  @ApiOperation({ summary: 'Every send attempt of one delivery' })
  @ApiOkZod(attemptList)
  @ApiErrors(403, 404)
  attempts(@Ctx() ctx: RequestContext, @ZodParams(deliveryIdParam) { id }: z.output<typeof deliveryIdParam>): Promise<{ items: AttemptView[] }> {
    return this.service.attempts(ctx, id);
  }
}

/** GET /v1/providers/{id}/renewal-digest: what the daily renewal digest lists, on demand. */
@FleetController('providers', 'notifications')
export class RenewalDigestController {
  constructor(@Inject(NotificationsApiService) private readonly service: NotificationsApiService) {}

  @Get(':id/renewal-digest')
  @RequirePermission(Permission.TerminalsRead)
  @ApiOperation({
    summary: 'Terminals of the provider\u2019s subtree whose data plan expires soon or whose renewal failed',
    description:
      'JSON by default; CSV with format=csv or Accept: text/csv. Columns: sn, tid, mid, model, planStatus, expiresOn, daysLeft, autoRenew, renewalResult, renewalReason.',
  })
  @ApiProduces('application/json', 'text/csv')
  @ApiOkZod(renewalDigestView)
  @ApiResponse({ status: 200, description: 'CSV with a header row', content: { 'text/csv': { schema: { type: 'string' } } } })
  @ApiErrors(400, 403, 404)
  async digest(
    @Ctx() ctx: RequestContext,
    @ZodParams(idParam) { id }: z.output<typeof idParam>,
    @ZodQuery(renewalDigestQuery) q: z.output<typeof renewalDigestQuery>,
    @Headers('accept') accept: string | undefined,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const digest = await this.service.renewalDigest(ctx, id, q.days);
    const csv = q.format === 'csv' || (q.format === undefined && prefersCsv(accept));
    if (csv) {
      await reply
        .status(200)
        .header('content-type', 'text/csv; charset=utf-8')
        .header('content-disposition', `attachment; filename="renewal-digest-${digest.day}.csv"`)
        .header('cache-control', 'no-store')
        .send(renewalCsv(digest.items));
      return;
    }
    await reply.status(200).header('content-type', 'application/json; charset=utf-8').header('cache-control', 'no-store').send(digest);
  }
}

function prefersCsv(accept: string | undefined): boolean {
  if (!accept) return false;
  const csvAt = accept.indexOf('text/csv');
  const jsonAt = accept.indexOf('application/json');
  return csvAt !== -1 && (jsonAt === -1 || csvAt < jsonAt);
}
