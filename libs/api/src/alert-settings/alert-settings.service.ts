import { Inject, Injectable } from '@nestjs/common';
import { DomainException } from '#contracts';
import { AuditService } from '../audit/audit.service.js';
import type { RequestContext } from '../auth/principal.js';
import { Role } from '../auth/roles.js';
import { ApiErrorCode, notFound } from '../common/api-error.js';
import { isForeignKeyViolation } from '../common/db-errors.js';
import { DEFAULT_ALERT_THRESHOLDS, mergeThresholds, type AlertThresholds } from '../alerts/alert-rules.port.js';
import type { ProviderEntity } from '../providers/provider.entity.js';
import { ProviderService } from '../providers/provider.service.js';
import type { AlertSettingsView } from './alert-settings.dto.js';
import { AlertSettingsRepository, type AlertSettingsRow } from './alert-settings.repository.js';

/** Provider ids on a provider's path, root first ('/<root>/<a>/<b>/'). */
export const pathIds = (path: string): string[] => path.split('/').filter((s) => s !== '');

/**
 * Alert thresholds per provider subtree: code defaults, then the root's row (fleet-wide), then the
 * rows on the path down to a terminal's provider. Provider admins manage their subtree; the root's
 * row (the fleet-wide values) is ops-admin only.
 */
@Injectable()
export class AlertSettingsService {
  constructor(
    @Inject(AlertSettingsRepository) private readonly settings: AlertSettingsRepository,
    @Inject(ProviderService) private readonly providers: ProviderService,
    @Inject(AuditService) private readonly audit: AuditService,
  ) {}

  defaults(): AlertThresholds {
    return DEFAULT_ALERT_THRESHOLDS;
  }

  async get(ctx: RequestContext, providerId: string): Promise<AlertSettingsView> {
    const provider = await this.providers.get(ctx.scope, providerId);
    return this.view(provider, await this.settings.findMany(pathIds(provider.path)));
  }

  async put(ctx: RequestContext, providerId: string, overrides: Record<string, unknown>): Promise<AlertSettingsView> {
    const provider = await this.writable(ctx, providerId);
    let result: Awaited<ReturnType<AlertSettingsRepository['put']>>;
    try {
      result = await this.settings.put(provider.id, overrides);
    } catch (err) {
      // The provider was deleted meanwhile.
      if (isForeignKeyViolation(err)) throw notFound(`provider ${providerId}`);
      throw err;
    }
    // The same overrides again change nothing and are not audited.
    if (result.changed) {
      await this.audit.record(ctx, {
        action: result.before ? 'alert_settings.update' : 'alert_settings.create',
        targetType: 'alert_settings',
        targetId: provider.id,
        providerId: provider.id,
        before: result.before?.settings ?? null,
        after: result.after.settings,
      });
    }
    return this.view(provider, await this.settings.findMany(pathIds(provider.path)));
  }

  async delete(ctx: RequestContext, providerId: string): Promise<void> {
    const provider = await this.writable(ctx, providerId);
    const deleted = await this.settings.delete(provider.id);
    if (!deleted) throw notFound(`alert settings of provider ${providerId}`);
    await this.audit.record(ctx, {
      action: 'alert_settings.delete',
      targetType: 'alert_settings',
      targetId: provider.id,
      providerId: provider.id,
      before: deleted.settings,
    });
  }

  /** In scope (else 404); the root's row only with an ops-admin key (else 403). */
  private async writable(ctx: RequestContext, providerId: string): Promise<ProviderEntity> {
    const provider = await this.providers.get(ctx.scope, providerId);
    if (provider.parentId === null && ctx.principal.role !== Role.OpsAdmin) {
      throw new DomainException(ApiErrorCode.Forbidden, 'the root provider\u2019s alert settings are the fleet-wide values: ops-admin only');
    }
    return provider;
  }

  private view(provider: ProviderEntity, rows: readonly AlertSettingsRow[]): AlertSettingsView {
    const own = rows.find((r) => r.providerId === provider.id) ?? null;
    return {
      providerId: provider.id,
      overrides: own?.settings ?? null,
      updatedAt: own ? own.updatedAt.toISOString() : null,
      effective: mergeThresholds(rows.map((r) => r.settings)) as unknown as Record<string, unknown>,
    };
  }
}
