import { Delete, Get, HttpCode, Inject, Patch, Post } from '@nestjs/common';
import { ApiOperation } from '@nestjs/swagger';
import type { z } from 'zod';
import { RequirePermission } from '../auth/api-auth.guard.js';
import type { RequestContext } from '../auth/principal.js';
import { Ctx } from '../auth/request-context.decorator.js';
import { Permission } from '../auth/roles.js';
import { FleetController } from '../common/fleet-controller.decorator.js';
import { ApiErrors, ApiNoContent, ApiOkZod } from '../common/openapi.js';
import type { Page } from '../common/pagination.js';
import { ZodBody, ZodParams, ZodQuery } from '../common/zod-validation.js';
import { createSubscriptionBody, idParam, subscriptionListQuery, subscriptionPage, subscriptionView, updateSubscriptionBody } from './notifications.dto.js';
import { NotificationsApiService, type SubscriptionView } from './notifications-api.service.js';

type IdParam = z.output<typeof idParam>;

/** Which alerts of a provider's subtree go to which channel, in which language, when. */
@FleetController('notification-subscriptions', 'notifications')
export class NotificationSubscriptionsController {
  constructor(@Inject(NotificationsApiService) private readonly service: NotificationsApiService) {}

  @Get()
  @RequirePermission(Permission.ProvidersRead)
  @ApiOperation({ summary: 'Subscriptions in the caller\u2019s scope, newest first' })
  @ApiOkZod(subscriptionPage)
  @ApiErrors(400, 403, 404)
  list(@Ctx() ctx: RequestContext, @ZodQuery(subscriptionListQuery) q: z.output<typeof subscriptionListQuery>): Promise<Page<SubscriptionView>> {
    return this.service.listSubscriptions(ctx, q);
  }

  @Get(':id')
  @RequirePermission(Permission.ProvidersRead)
  @ApiOkZod(subscriptionView)
  @ApiErrors(403, 404)
  get(@Ctx() ctx: RequestContext, @ZodParams(idParam) { id }: IdParam): Promise<SubscriptionView> {
    return this.service.getSubscription(ctx, id);
  }

  @Post()
  @RequirePermission(Permission.ProvidersWrite)
  @ApiOperation({
    summary: 'Subscribe a channel to the alerts of its provider\u2019s subtree',
    description:
      'rules empty = every rule; alerts below minSeverity are skipped; during quiet hours messages are held and sent as one digest when the window ends.',
  })
  @ApiOkZod(subscriptionView, 201, 'Created')
  @ApiErrors(400, 403, 404)
  create(@Ctx() ctx: RequestContext, @ZodBody(createSubscriptionBody) body: z.output<typeof createSubscriptionBody>): Promise<SubscriptionView> {
    return this.service.createSubscription(ctx, body);
  }

  @Patch(':id')
  @RequirePermission(Permission.ProvidersWrite)
  @ApiOkZod(subscriptionView)
  @ApiErrors(400, 403, 404)
  update(
    @Ctx() ctx: RequestContext,
    @ZodParams(idParam) { id }: IdParam,
    @ZodBody(updateSubscriptionBody) body: z.output<typeof updateSubscriptionBody>,
  ): Promise<SubscriptionView> {
    return this.service.updateSubscription(ctx, id, body);
  }

  @Delete(':id')
  @HttpCode(204)
  @RequirePermission(Permission.ProvidersWrite)
  @ApiNoContent('Deleted, with its delivery log')
  @ApiErrors(403, 404)
  async remove(@Ctx() ctx: RequestContext, @ZodParams(idParam) { id }: IdParam): Promise<void> {
    await this.service.deleteSubscription(ctx, id);
  }
}
