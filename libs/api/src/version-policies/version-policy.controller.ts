import { Delete, Get, HttpCode, Inject, Put, Res } from '@nestjs/common';
import { ApiOperation } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import type { z } from 'zod';
import { RequirePermission } from '../auth/api-auth.guard.js';
import type { RequestContext } from '../auth/principal.js';
import { Ctx } from '../auth/request-context.decorator.js';
import { Permission } from '../auth/roles.js';
import { FleetController } from '../common/fleet-controller.decorator.js';
import { ApiErrors, ApiNoContent, ApiOkZod } from '../common/openapi.js';
import { ZodBody, ZodParams, ZodQuery } from '../common/zod-validation.js';
import {
  noQuery,
  putVersionPolicyBody,
  versionPolicyList,
  versionPolicyListQuery,
  versionPolicyParams,
  versionPolicyView,
  type VersionPolicyParams,
  type VersionPolicyView,
} from './version-policy.dto.js';
import { RequireOpsAdmin } from './ops-admin.guard.js';
import { VersionPolicyService } from './version-policy.service.js';

@FleetController('version-policies', 'version-policies')
export class VersionPolicyController {
  constructor(@Inject(VersionPolicyService) private readonly policies: VersionPolicyService) {}

  @Get()
  @RequirePermission(Permission.TerminalsRead)
  @ApiOperation({ summary: 'Firmware and payment-app policies of every model (fleet-wide; every role reads)' })
  @ApiOkZod(versionPolicyList)
  @ApiErrors(400, 403)
  async list(@ZodQuery(versionPolicyListQuery) query: z.output<typeof versionPolicyListQuery>): Promise<{ items: VersionPolicyView[] }> {
    return { items: await this.policies.list(query) };
  }

  @Get(':model/:component')
  @RequirePermission(Permission.TerminalsRead)
  @ApiOperation({ summary: 'One model\u2019s firmware or app policy' })
  @ApiOkZod(versionPolicyView)
  @ApiErrors(400, 403, 404)
  get(@ZodParams(versionPolicyParams) { model, component }: VersionPolicyParams, @ZodQuery(noQuery) _query: object): Promise<VersionPolicyView> {
    return this.policies.get(model, component);
  }

  @Put(':model/:component')
  @RequirePermission(Permission.TerminalsWrite)
  @RequireOpsAdmin()
  @ApiOperation({
    summary: 'Create or replace a policy (ops-admin)',
    description:
      'Versions are compared numerically per dot-separated component; one that cannot be compared is a 400 naming its field, and minSupported above latest is a 400 naming body.minSupported. ' +
      'latestSince is set whenever `latest` changes. Writing the values the policy already holds changes nothing (not audited). 201 when created, 200 when replaced.',
  })
  @ApiOkZod(versionPolicyView)
  @ApiOkZod(versionPolicyView, 201, 'Created')
  @ApiErrors(400, 403)
  async put(
    @Ctx() ctx: RequestContext,
    @ZodParams(versionPolicyParams) { model, component }: VersionPolicyParams,
    @ZodBody(putVersionPolicyBody) body: z.output<typeof putVersionPolicyBody>,
    @ZodQuery(noQuery) _query: object,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<VersionPolicyView> {
    const { view, created } = await this.policies.put(ctx, model, component, body);
    reply.status(created ? 201 : 200);
    return view;
  }

  @Delete(':model/:component')
  @HttpCode(204)
  @RequirePermission(Permission.TerminalsWrite)
  @RequireOpsAdmin()
  @ApiNoContent('Deleted')
  @ApiOperation({ summary: 'Remove a policy (ops-admin)' })
  @ApiErrors(400, 403, 404)
  async remove(
    @Ctx() ctx: RequestContext,
    @ZodParams(versionPolicyParams) { model, component }: VersionPolicyParams,
    @ZodQuery(noQuery) _query: object,
  ): Promise<void> {
    await this.policies.delete(ctx, model, component);
  }
}
