import { Delete, Get, Header, HttpCode, Inject, Post } from '@nestjs/common';
import { ApiOperation } from '@nestjs/swagger';
import type { z } from 'zod';
import { DomainException } from '#contracts';
import { AuditService } from '../audit/audit.service.js';
import { ApiErrorCode, notFound } from '../common/api-error.js';
import { FleetController } from '../common/fleet-controller.decorator.js';
import { ApiErrors, ApiOkZod, ApiNoContent } from '../common/openapi.js';
import { ZodBody, ZodParams } from '../common/zod-validation.js';
import { ProviderService } from '../providers/provider.service.js';
import { RequirePermission } from './api-auth.guard.js';
import { apiKeyList, createKeyBody, issuedKeyView, keyIdParam } from './api-key.dto.js';
import type { ApiKeyEntity } from './api-key.entity.js';
import { ApiKeyRepository } from './api-key.repository.js';
import { ApiKeyService } from './api-key.service.js';
import type { RequestContext } from './principal.js';
import { Ctx } from './request-context.decorator.js';
import { isProviderRole, Permission, type Role } from './roles.js';

type KeyView = Pick<ApiKeyEntity, 'id' | 'name' | 'prefix' | 'role' | 'providerId'> & {
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
};

// Field by field: the entity also carries createdBy, and the hash when it was loaded.
const view = (k: ApiKeyEntity): KeyView => ({
  id: k.id,
  name: k.name,
  prefix: k.prefix,
  role: k.role,
  providerId: k.providerId,
  createdAt: k.createdAt.toISOString(),
  lastUsedAt: k.lastUsedAt?.toISOString() ?? null,
  revokedAt: k.revokedAt?.toISOString() ?? null,
});

@FleetController('api-keys', 'api-keys')
export class ApiKeyController {
  constructor(
    @Inject(ApiKeyService) private readonly keys: ApiKeyService,
    @Inject(ApiKeyRepository) private readonly repo: ApiKeyRepository,
    @Inject(ProviderService) private readonly providers: ProviderService,
    @Inject(AuditService) private readonly audit: AuditService,
  ) {}

  @Get()
  @RequirePermission(Permission.KeysManage)
  @ApiOperation({ summary: 'API keys in scope (never the secrets)' })
  @ApiOkZod(apiKeyList)
  @ApiErrors(403)
  async list(@Ctx() ctx: RequestContext): Promise<{ items: KeyView[] }> {
    return { items: (await this.repo.list(ctx.scope)).map(view) };
  }

  @Post()
  @Header('cache-control', 'no-store')
  @RequirePermission(Permission.KeysManage)
  @ApiOperation({ summary: 'Issue a key; the token is returned once' })
  @ApiOkZod(issuedKeyView, 201, 'Created')
  @ApiErrors(400, 403, 404)
  async create(@Ctx() ctx: RequestContext, @ZodBody(createKeyBody) input: z.output<typeof createKeyBody>): Promise<{ key: KeyView; token: string }> {
    const role = input.role as Role;
    // Provider keys can only mint provider keys inside their own subtree.
    if (ctx.scope.kind === 'subtree' && !isProviderRole(role)) {
      throw new DomainException(ApiErrorCode.Forbidden, 'a provider key can only issue provider-admin or provider-viewer keys');
    }
    if (input.providerId) await this.providers.get(ctx.scope, input.providerId);
    const issued = await this.keys.issue({ name: input.name, role, providerId: input.providerId ?? null, createdBy: ctx.principal.keyId });
    await this.audit.record(ctx, {
      action: 'api_key.create',
      targetType: 'api_key',
      targetId: issued.key.id,
      providerId: issued.key.providerId,
      after: view(issued.key),
    });
    return { key: view(issued.key), token: issued.token };
  }

  @Delete(':id')
  @HttpCode(204)
  @RequirePermission(Permission.KeysManage)
  @ApiOperation({ summary: 'Revoke a key (it stops working at once)' })
  @ApiNoContent('Revoked')
  @ApiErrors(400, 403, 404)
  async revoke(@Ctx() ctx: RequestContext, @ZodParams(keyIdParam) { id }: z.output<typeof keyIdParam>): Promise<void> {
    const key = await this.repo.findById(id, ctx.scope);
    // Ops keys (no provider) are invisible to provider keys.
    if (!key || (ctx.scope.kind === 'subtree' && key.providerId === null)) throw notFound(`api key ${id}`);
    // A repeated (or concurrent, losing) revoke changes nothing and is not audited.
    if (!(await this.keys.revoke(id))) return;
    await this.audit.record(ctx, { action: 'api_key.revoke', targetType: 'api_key', targetId: id, providerId: key.providerId, before: view(key) });
  }
}
