import { Inject, Injectable } from '@nestjs/common';
import { DomainException } from '#contracts';
import { AuditService } from '../audit/audit.service.js';
import type { RequestContext, Scope } from '../auth/principal.js';
import { ApiErrorCode, notFound } from '../common/api-error.js';
import type { ProviderEntity } from './provider.entity.js';
import { pathDepth, ProviderRepository } from './provider.repository.js';

/** The deepest level a provider may sit at (the root is 0); keeps paths well inside the index limit. */
export const MAX_PROVIDER_DEPTH = 8;
/** How often a move re-reads and re-checks the tree after a concurrent change before answering 409. */
const MOVE_ATTEMPTS = 3;

const tooDeep = (field: string) =>
  new DomainException(ApiErrorCode.ValidationFailed, `the provider tree is at most ${MAX_PROVIDER_DEPTH} levels deep below the root`, [
    { field, message: `would place a provider deeper than ${MAX_PROVIDER_DEPTH} levels below the root` },
  ]);

export interface ProviderView {
  id: string;
  parentId: string | null;
  code: string;
  name: string;
  depth: number;
  createdAt: string;
  updatedAt: string;
}

export interface ProviderTreeNode extends ProviderView {
  children: ProviderTreeNode[];
}

export function toProviderView(p: ProviderEntity): ProviderView {
  return {
    id: p.id,
    parentId: p.parentId,
    code: p.code,
    name: p.name,
    depth: pathDepth(p.path),
    createdAt: p.createdAt.toISOString(),
    updatedAt: p.updatedAt.toISOString(),
  };
}

/** Provider tree rules: create below a provider in scope, rename or move within scope, delete when empty. */
@Injectable()
export class ProviderService {
  constructor(
    @Inject(ProviderRepository) private readonly providers: ProviderRepository,
    @Inject(AuditService) private readonly audit: AuditService,
  ) {}

  async list(scope: Scope): Promise<ProviderView[]> {
    return (await this.providers.list(scope)).map(toProviderView);
  }

  async tree(scope: Scope): Promise<ProviderTreeNode[]> {
    const rows = await this.providers.list(scope);
    const nodes = new Map<string, ProviderTreeNode>(rows.map((r) => [r.id, { ...toProviderView(r), children: [] }]));
    const roots: ProviderTreeNode[] = [];
    for (const row of rows) {
      const node = nodes.get(row.id);
      const parent = row.parentId ? nodes.get(row.parentId) : undefined;
      if (!node) continue;
      if (parent) parent.children.push(node);
      else roots.push(node);
    }
    return roots;
  }

  /** In-scope provider or 404 (out-of-scope ids look exactly like unknown ones). */
  async get(scope: Scope, id: string): Promise<ProviderEntity> {
    const provider = await this.providers.findById(scope, id);
    if (!provider) throw notFound(`provider ${id}`);
    return provider;
  }

  async create(ctx: RequestContext, input: { code: string; name: string; parentId?: string }): Promise<ProviderView> {
    const parentId = input.parentId ?? (ctx.scope.kind === 'subtree' ? ctx.scope.providerId : (await this.providers.root()).id);
    const parent = await this.get(ctx.scope, parentId);
    const created = await this.providers.insert(parent, input.code, input.name, MAX_PROVIDER_DEPTH);
    if (created === 'parent-gone') throw notFound(`provider ${parentId}`);
    if (created === 'too-deep') throw tooDeep('body.parentId');
    if (created === 'taken') throw new DomainException(ApiErrorCode.Conflict, `provider code "${input.code}" is taken`);
    const view = toProviderView(created);
    await this.audit.record(ctx, { action: 'provider.create', targetType: 'provider', targetId: created.id, providerId: created.id, after: view });
    return view;
  }

  async update(ctx: RequestContext, id: string, input: { name?: string; parentId?: string }): Promise<ProviderView> {
    const provider = await this.get(ctx.scope, id);
    // A provider-role key administers what is below its own provider, not the provider itself.
    if (ctx.scope.kind === 'subtree' && provider.id === ctx.scope.providerId) {
      throw new DomainException(ApiErrorCode.Forbidden, 'a provider key cannot modify its own provider');
    }
    const before = toProviderView(provider);
    let updated = provider;
    if (input.parentId !== undefined && input.parentId !== provider.parentId) {
      if (provider.parentId === null) throw new DomainException(ApiErrorCode.Conflict, 'the root provider cannot be moved');
      updated = await this.moveChecked(ctx.scope, provider, input.parentId);
    }
    if (input.name !== undefined && input.name !== updated.name) updated = await this.providers.rename(id, input.name);
    const after = toProviderView(updated);
    // A no-op (same name, same parent) changes nothing and is not audited.
    if (after.name === before.name && after.parentId === before.parentId) return after;
    await this.audit.record(ctx, { action: 'provider.update', targetType: 'provider', targetId: id, providerId: id, before, after });
    return after;
  }

  /**
   * Checks and moves; when the tree changed between the check and the locked write, re-reads both
   * providers and checks again (the cycle check may now refuse), a few times before a 409.
   */
  private async moveChecked(scope: Scope, provider: ProviderEntity, parentId: string): Promise<ProviderEntity> {
    let current = provider;
    for (let attempt = 1; ; attempt++) {
      const parent = await this.get(scope, parentId);
      if (parent.path.startsWith(current.path)) {
        throw new DomainException(ApiErrorCode.Conflict, 'a provider cannot move below itself or its descendants');
      }
      const moved = await this.providers.move(current, parent, MAX_PROVIDER_DEPTH);
      if (moved === 'too-deep') throw tooDeep('body.parentId');
      if (moved !== 'stale') return moved;
      if (attempt >= MOVE_ATTEMPTS) throw new DomainException(ApiErrorCode.Conflict, 'the provider tree changed during the move; retry');
      current = await this.get(scope, provider.id);
      if (current.parentId === parentId) return current;
    }
  }

  async delete(ctx: RequestContext, id: string): Promise<void> {
    const provider = await this.get(ctx.scope, id);
    if (provider.parentId === null) throw new DomainException(ApiErrorCode.Conflict, 'the root provider cannot be deleted');
    if (ctx.scope.kind === 'subtree' && provider.id === ctx.scope.providerId) {
      throw new DomainException(ApiErrorCode.Forbidden, 'a provider key cannot delete its own provider');
    }
    const result = await this.providers.deleteIfEmpty(id);
    if (result === null) throw notFound(`provider ${id}`);
    if (result !== 'deleted') {
      throw new DomainException(ApiErrorCode.Conflict, 'provider still has sub-providers, terminals or active API keys', [
        { children: result.children, terminals: result.terminals, activeKeys: result.keys },
      ]);
    }
    await this.audit.record(ctx, {
      action: 'provider.delete',
      targetType: 'provider',
      targetId: id,
      providerId: provider.parentId,
      before: toProviderView(provider),
    });
  }
}
