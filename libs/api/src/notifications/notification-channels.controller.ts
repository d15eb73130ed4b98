import { Delete, Get, Header, HttpCode, Inject, Patch, Post } from '@nestjs/common';
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
import {
  channelListQuery,
  channelPage,
  channelView,
  createChannelBody,
  createdChannelView,
  idParam,
  testMessageBody,
  testResultView,
  updateChannelBody,
} from './notifications.dto.js';
import { NotificationsApiService, type ChannelView } from './notifications-api.service.js';

type IdParam = z.output<typeof idParam>;

/**
 * Notification channels. Reading needs providers:read, changing providers:write (ops-admin for the
 * fleet, provider-admin for its subtree); url and secret are write-only.
 */
@FleetController('notification-channels', 'notifications')
export class NotificationChannelsController {
  constructor(@Inject(NotificationsApiService) private readonly service: NotificationsApiService) {}

  @Get()
  @RequirePermission(Permission.ProvidersRead)
  @ApiOperation({ summary: 'Notification channels in the caller\u2019s scope, newest first' })
  @ApiOkZod(channelPage)
  @ApiErrors(400, 403, 404)
  list(@Ctx() ctx: RequestContext, @ZodQuery(channelListQuery) q: z.output<typeof channelListQuery>): Promise<Page<ChannelView>> {
    return this.service.listChannels(ctx, q);
  }

  @Get(':id')
  @RequirePermission(Permission.ProvidersRead)
  @ApiOkZod(channelView)
  @ApiErrors(403, 404)
  get(@Ctx() ctx: RequestContext, @ZodParams(idParam) { id }: IdParam): Promise<ChannelView> {
    return this.service.getChannel(ctx, id);
  }

  @Post()
  @Header('cache-control', 'no-store')
  @RequirePermission(Permission.ProvidersWrite)
  @ApiOperation({
    summary: 'Add a channel (webhook, wecom, dingtalk, email)',
    description:
      'Webhook and robot URLs must be http(s) and resolve to public addresses (400 otherwise, unless the server allows private targets). ' +
      'A webhook without a secret gets a generated one, returned once in this answer.',
  })
  @ApiOkZod(createdChannelView, 201, 'Created')
  @ApiErrors(400, 403, 404)
  create(@Ctx() ctx: RequestContext, @ZodBody(createChannelBody) body: z.output<typeof createChannelBody>): Promise<z.output<typeof createdChannelView>> {
    return this.service.createChannel(ctx, body);
  }

  @Patch(':id')
  @RequirePermission(Permission.ProvidersWrite)
  @ApiOkZod(channelView)
  @ApiErrors(400, 403, 404)
  update(
    @Ctx() ctx: RequestContext,
    @ZodParams(idParam) { id }: IdParam,
    @ZodBody(updateChannelBody) body: z.output<typeof updateChannelBody>,
  ): Promise<ChannelView> {
    return this.service.updateChannel(ctx, id, body);
  }

  @Delete(':id')
  @HttpCode(204)
  @RequirePermission(Permission.ProvidersWrite)
  @ApiNoContent('Deleted, with its subscriptions and delivery log')
  @ApiErrors(403, 404)
  async remove(@Ctx() ctx: RequestContext, @ZodParams(idParam) { id }: IdParam): Promise<void> {
    await this.service.deleteChannel(ctx, id);
  }

  @Post(':id/test')
  @HttpCode(200)
  @RequirePermission(Permission.ProvidersWrite)
  @ApiOperation({ summary: 'Send a test message now (not queued, not retried) and report the receiver\u2019s answer' })
  @ApiOkZod(testResultView)
  @ApiErrors(400, 403, 404)
  test(
    @Ctx() ctx: RequestContext,
    @ZodParams(idParam) { id }: IdParam,
    @ZodBody(testMessageBody) body: z.output<typeof testMessageBody>,
  ): Promise<z.output<typeof testResultView>> {
    return this.service.testChannel(ctx, id, body.locale);
  }
}
