import { Delete, Get, HttpCode, Inject, Patch, Post } from '@nestjs/common';
import { ApiOperation } from '@nestjs/swagger';
import type { z } from 'zod';
import { RequirePermission } from '../auth/api-auth.guard.js';
import type { RequestContext } from '../auth/principal.js';
import { Ctx } from '../auth/request-context.decorator.js';
import { Permission } from '../auth/roles.js';
import { FleetController } from '../common/fleet-controller.decorator.js';
import { ApiErrors, ApiOkZod, ApiNoContent } from '../common/openapi.js';
import { ZodBody, ZodParams } from '../common/zod-validation.js';
import { createProviderBody, providerIdParam, providerList, providerTree, providerView, updateProviderBody } from './provider.dto.js';
import { ProviderService, toProviderView, type ProviderTreeNode, type ProviderView } from './provider.service.js';

type ProviderIdParam = z.output<typeof providerIdParam>;

@FleetController('providers', 'providers')
export class ProviderController {
  constructor(@Inject(ProviderService) private readonly providers: ProviderService) {}

  @Get()
  @RequirePermission(Permission.ProvidersRead)
  @ApiOperation({ summary: 'Providers in the caller\u2019s scope, ordered by tree path' })
  @ApiOkZod(providerList)
  @ApiErrors()
  async list(@Ctx() ctx: RequestContext): Promise<{ items: ProviderView[] }> {
    return { items: await this.providers.list(ctx.scope) };
  }

  @Get('tree')
  @RequirePermission(Permission.ProvidersRead)
  @ApiOperation({ summary: 'The caller\u2019s provider subtree as nested nodes' })
  @ApiOkZod(providerTree)
  @ApiErrors()
  async tree(@Ctx() ctx: RequestContext): Promise<{ items: ProviderTreeNode[] }> {
    return { items: await this.providers.tree(ctx.scope) };
  }

  @Get(':id')
  @RequirePermission(Permission.ProvidersRead)
  @ApiOkZod(providerView)
  @ApiErrors(404)
  async get(@Ctx() ctx: RequestContext, @ZodParams(providerIdParam) { id }: ProviderIdParam): Promise<ProviderView> {
    return toProviderView(await this.providers.get(ctx.scope, id));
  }

  @Post()
  @RequirePermission(Permission.ProvidersWrite)
  @ApiOkZod(providerView, 201, 'Created')
  @ApiErrors(400, 403, 404, 409)
  create(@Ctx() ctx: RequestContext, @ZodBody(createProviderBody) body: z.output<typeof createProviderBody>): Promise<ProviderView> {
    return this.providers.create(ctx, body);
  }

  @Patch(':id')
  @RequirePermission(Permission.ProvidersWrite)
  @ApiOkZod(providerView)
  @ApiErrors(400, 403, 404, 409)
  update(
    @Ctx() ctx: RequestContext,
    @ZodParams(providerIdParam) { id }: ProviderIdParam,
    @ZodBody(updateProviderBody) body: z.output<typeof updateProviderBody>,
  ): Promise<ProviderView> {
    return this.providers.update(ctx, id, body);
  }

  @Delete(':id')
  @HttpCode(204)
  @RequirePermission(Permission.ProvidersWrite)
  @ApiNoContent('Deleted')
  @ApiErrors(400, 403, 404, 409)
  async remove(@Ctx() ctx: RequestContext, @ZodParams(providerIdParam) { id }: ProviderIdParam): Promise<void> {
    await this.providers.delete(ctx, id);
  }
}
