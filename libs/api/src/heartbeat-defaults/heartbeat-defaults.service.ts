import { Inject, Injectable } from '@nestjs/common';
import { COMMAND_CLOCK, HeartbeatDefaultsRepository, type CommandClock, type HeartbeatDefaultScope } from '#commands';
import { DomainException } from '#contracts';
import { AuditService } from '../audit/audit.service.js';
import type { RequestContext } from '../auth/principal.js';
import { Role } from '../auth/roles.js';
import { ApiErrorCode, notFound } from '../common/api-error.js';
import { isForeignKeyViolation } from '../common/db-errors.js';
import { ProviderService } from '../providers/provider.service.js';
import { TerminalService } from '../terminals/terminal.service.js';
import type { HeartbeatDefaultsView, TerminalIntervalView } from './heartbeat-defaults.dto.js';

/**
 * Default heartbeat intervals. Resolution for a terminal: the default of the provider nearest to it
 * on its provider path (its own provider, then each ancestor up to the root), else its model's
 * default, else the fleet default, else none (the terminal keeps what it has). Fleet and model
 * defaults: ops-admin. Provider defaults: ops-admin, or a provider admin for a provider in their
 * subtree (their own included). The worker enforces them (HeartbeatIntervalReconciler).
 */
@Injectable()
export class HeartbeatDefaultsService {
  constructor(
    @Inject(HeartbeatDefaultsRepository) private readonly repo: HeartbeatDefaultsRepository,
    @Inject(ProviderService) private readonly providers: ProviderService,
    @Inject(TerminalService) private readonly terminals: TerminalService,
    @Inject(AuditService) private readonly audit: AuditService,
    @Inject(COMMAND_CLOCK) private readonly clock: CommandClock,
  ) {}

  async list(ctx: RequestContext): Promise<HeartbeatDefaultsView> {
    const rows = await this.repo.list();
    const scope = ctx.scope;
    // Provider roles: rows that can apply to their terminals (ancestors) or that they manage (subtree).
    const visible = (path: string | null) => path !== null && (scope.kind === 'fleet' || path.startsWith(scope.path) || scope.path.startsWith(path));
    const entry = (r: (typeof rows)[number]) => ({ seconds: r.seconds, updatedBy: r.updatedBy, updatedAt: r.updatedAt.toISOString() });
    const fleet = rows.find((r) => r.model === null && r.providerId === null);
    return {
      fleet: fleet ? entry(fleet) : null,
      models: rows.flatMap((r) => (r.model !== null ? [{ model: r.model, ...entry(r) }] : [])),
      providers: rows.flatMap((r) => (r.providerId !== null && visible(r.providerPath) ? [{ providerId: r.providerId, ...entry(r) }] : [])),
    };
  }

  async put(ctx: RequestContext, scope: HeartbeatDefaultScope, seconds: number): Promise<HeartbeatDefaultsView> {
    const providerId = await this.writable(ctx, scope);
    let change: { before: number | null; after: number };
    try {
      change = await this.repo.put(scope, seconds, ctx.principal.name, this.clock.now());
    } catch (err) {
      // The provider was deleted after it was read.
      if (isForeignKeyViolation(err) && scope.kind === 'provider') throw notFound(`provider ${scope.providerId}`);
      throw err;
    }
    if (change.before !== change.after) {
      await this.audit.record(ctx, {
        action: change.before === null ? 'heartbeat_default.create' : 'heartbeat_default.update',
        targetType: 'heartbeat_default',
        targetId: targetId(scope),
        providerId,
        before: change.before === null ? null : { seconds: change.before },
        after: { seconds: change.after },
      });
    }
    return this.list(ctx);
  }

  async delete(ctx: RequestContext, scope: HeartbeatDefaultScope): Promise<void> {
    const providerId = await this.writable(ctx, scope);
    const before = await this.repo.delete(scope);
    if (before === null) throw notFound(`heartbeat default ${targetId(scope)}`);
    await this.audit.record(ctx, {
      action: 'heartbeat_default.delete',
      targetType: 'heartbeat_default',
      targetId: targetId(scope),
      providerId,
      before: { seconds: before },
    });
  }

  async terminal(ctx: RequestContext, sn: string): Promise<TerminalIntervalView> {
    await this.terminals.getRecord(ctx.scope, sn); // 404 outside the caller's scope
    const row = await this.repo.forTerminal(sn);
    if (!row) throw notFound(`terminal ${sn}`);
    return {
      sn: row.sn,
      effective: { seconds: row.effectiveSeconds, source: row.source, providerId: row.sourceProviderId },
      known: row.knownSeconds === null ? null : { seconds: row.knownSeconds, acknowledgedAt: row.knownAt ? row.knownAt.toISOString() : null },
      pending: row.pendingCommandId === null ? null : { commandId: row.pendingCommandId, seconds: row.pendingSeconds },
    };
  }

  /** Fleet and model rows: ops-admin only (403). Provider rows: the provider in the caller's scope (else 404). Returns the audit provider. */
  private async writable(ctx: RequestContext, scope: HeartbeatDefaultScope): Promise<string | null> {
    if (scope.kind !== 'provider') {
      if (ctx.principal.role !== Role.OpsAdmin) throw new DomainException(ApiErrorCode.Forbidden, `${scope.kind} heartbeat defaults: ops-admin only`);
      return null;
    }
    return (await this.providers.get(ctx.scope, scope.providerId)).id;
  }
}

function targetId(scope: HeartbeatDefaultScope): string {
  if (scope.kind === 'model') return `model:${scope.model}`;
  if (scope.kind === 'provider') return `provider:${scope.providerId}`;
  return 'fleet';
}
