import { Inject, Injectable } from '@nestjs/common';
import { DomainException, type FieldError } from '#contracts';
import { AuditService } from '../audit/audit.service.js';
import type { RequestContext } from '../auth/principal.js';
import { Role } from '../auth/roles.js';
import { ApiErrorCode, notFound } from '../common/api-error.js';
import { isForeignKeyViolation } from '../common/db-errors.js';
import { DEFAULT_ALERT_THRESHOLDS, mergeThresholdsSafe, type AlertThresholds, type AlertThresholdsOverride } from '../alerts/alert-rules.port.js';
import type { ProviderEntity } from '../providers/provider.entity.js';
import { ProviderService } from '../providers/provider.service.js';
import type { AlertSettingsView } from './alert-settings.dto.js';
import { AlertSettingsRepository, type AlertSettingsRow, type AlertSettingsTx } from './alert-settings.repository.js';

/** Provider ids on a provider's path, root first ('/<root>/<a>/<b>/'). */
export const pathIds = (path: string): string[] => path.split('/').filter((s) => s !== '');

/** The overrides on `path` (root first), given every relevant row by provider id. */
function overridesOnPath(path: string, rows: ReadonlyMap<string, Record<string, unknown>>): AlertThresholdsOverride[] {
  return pathIds(path).flatMap((id) => {
    const row = rows.get(id);
    return row ? [row] : [];
  });
}

/**
 * Alert thresholds per provider subtree: code defaults, then the root's row (fleet-wide), then the
 * rows on the path down to a terminal's provider. Provider admins manage their subtree; the root's
 * row (the fleet-wide values) is ops-admin only. A change is refused when it would leave this
 * provider, or any provider below it with its own overrides, with thresholds that do not merge
 * into valid ones (e.g. battery critical not below warning).
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

  async put(ctx: RequestContext, providerId: string, overrides: AlertThresholdsOverride): Promise<AlertSettingsView> {
    const provider = await this.writable(ctx, providerId);
    let result: Awaited<ReturnType<AlertSettingsTx['put']>>;
    try {
      result = await this.settings.locked(async (tx) => {
        const problems = await problemsAfter(tx, provider, overrides);
        if (problems.length > 0) {
          throw new DomainException(
            ApiErrorCode.ValidationFailed,
            'the overrides do not merge into valid thresholds',
            problems.map((p) => ({ field: p.providerId === provider.id ? `body.${p.path}` : 'body', message: p.message })) satisfies FieldError[],
          );
        }
        return tx.put(provider.id, overrides);
      });
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
    const deleted = await this.settings.locked(async (tx) => {
      const problems = await problemsAfter(tx, provider, null);
      if (problems.length > 0) {
        throw new DomainException(
          ApiErrorCode.Conflict,
          'removing these overrides would leave providers below with invalid thresholds',
          problems.map((p) => ({ providerId: p.providerId, path: p.path, message: p.message })),
        );
      }
      return tx.delete(provider.id);
    });
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
    const merged = mergeThresholdsSafe(rows.map((r) => r.settings as AlertThresholdsOverride));
    return {
      providerId: provider.id,
      overrides: (own?.settings as AlertThresholdsOverride | undefined) ?? null,
      updatedAt: own ? own.updatedAt.toISOString() : null,
      effective: merged.ok ? merged.thresholds : null,
      issues: merged.ok ? [] : merged.issues,
    };
  }
}

/**
 * Merge problems of the provider and of every provider below it that has overrides, with the
 * provider's own overrides replaced (null: removed). Few rows: one query for the ancestors, one for
 * the subtree, inside the settings write lock.
 */
async function problemsAfter(
  tx: AlertSettingsTx,
  provider: ProviderEntity,
  overrides: AlertThresholdsOverride | null,
): Promise<{ providerId: string; path: string; message: string }[]> {
  const above = await tx.findMany(pathIds(provider.path));
  const below = await tx.findInSubtree(provider.path);
  const rows = new Map<string, Record<string, unknown>>([...above, ...below].map((r) => [r.providerId, r.settings]));
  if (overrides) rows.set(provider.id, overrides);
  else rows.delete(provider.id);
  const targets = [
    { id: provider.id, path: provider.path },
    ...below.filter((r) => r.providerId !== provider.id).map((r) => ({ id: r.providerId, path: r.path })),
  ];
  const problems: { providerId: string; path: string; message: string }[] = [];
  for (const target of targets) {
    const result = mergeThresholdsSafe(overridesOnPath(target.path, rows));
    if (result.ok) continue;
    for (const issue of result.issues) {
      const message = target.id === provider.id ? issue.message : `provider ${target.id} (below this one) would get invalid ${issue.path}: ${issue.message}`;
      problems.push({ providerId: target.id, path: issue.path, message });
    }
    if (problems.length >= 20) break;
  }
  return problems;
}
