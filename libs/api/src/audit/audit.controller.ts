import { Get, Inject } from '@nestjs/common';
import { ApiOperation } from '@nestjs/swagger';
import type { z } from 'zod';
import { RequirePermission } from '../auth/api-auth.guard.js';
import type { RequestContext } from '../auth/principal.js';
import { Ctx } from '../auth/request-context.decorator.js';
import { Permission } from '../auth/roles.js';
import { FleetController } from '../common/fleet-controller.decorator.js';
import { ApiErrors, ApiOkZod } from '../common/openapi.js';
import { ZodQuery } from '../common/zod-validation.js';
import { auditPage, auditQuery } from './audit.dto.js';
import { AuditRepository, type AuditRecord } from './audit.repository.js';

@FleetController('audit', 'audit')
export class AuditController {
  constructor(@Inject(AuditRepository) private readonly audit: AuditRepository) {}

  @Get()
  @RequirePermission(Permission.AuditRead)
  @ApiOperation({ summary: 'Audit log, newest first; provider admins see entries about their subtree' })
  @ApiOkZod(auditPage)
  @ApiErrors(400, 403)
  async list(@Ctx() ctx: RequestContext, @ZodQuery(auditQuery) q: z.output<typeof auditQuery>): Promise<{ items: AuditRecord[]; nextBefore: string | null }> {
    const items = await this.audit.list(ctx.scope, { limit: q.limit, beforeId: q.before ?? null, action: q.action, targetId: q.targetId });
    return { items, nextBefore: items.length === q.limit ? items[items.length - 1].id : null };
  }
}
