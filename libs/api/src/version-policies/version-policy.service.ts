import { Inject, Injectable } from '@nestjs/common';
import { DomainException, type FieldError } from '#contracts';
import { AuditService } from '../audit/audit.service.js';
import type { RequestContext } from '../auth/principal.js';
import { Role } from '../auth/roles.js';
import { ApiErrorCode, notFound } from '../common/api-error.js';
import { compareVersions } from '../alerts/alert-rules.port.js';
import type { PutVersionPolicyBody, VersionComponent, VersionPolicyView } from './version-policy.dto.js';
import { VersionPolicyRepository, type VersionPolicyRow } from './version-policy.repository.js';

export function toVersionPolicyView(r: VersionPolicyRow): VersionPolicyView {
  return {
    model: r.model,
    component: r.component,
    minSupported: r.minSupported,
    latest: r.latest,
    latestSince: r.latestSince ? r.latestSince.toISOString() : null,
    blocked: r.blocked,
    updatedAt: r.updatedAt.toISOString(),
  };
}

/** Audit view: the policy's values (updatedAt is bookkeeping). */
function auditView(r: VersionPolicyRow | null) {
  if (!r) return null;
  const { updatedAt: _updatedAt, ...rest } = toVersionPolicyView(r);
  return rest;
}

/** The field problems of a policy: every version must be comparable, and minSupported may not be above latest. */
export function versionPolicyIssues(body: PutVersionPolicyBody): FieldError[] {
  const issues: FieldError[] = [];
  const comparable = (v: string) => compareVersions(v, v) !== null;
  const notComparable = 'not a comparable version (expected numbers separated by dots, e.g. 3.2.10)';
  if (body.minSupported !== null && !comparable(body.minSupported)) issues.push({ field: 'body.minSupported', message: notComparable });
  if (body.latest !== null && !comparable(body.latest)) issues.push({ field: 'body.latest', message: notComparable });
  body.blocked.forEach((v, i) => {
    if (!comparable(v)) issues.push({ field: `body.blocked.${i}`, message: notComparable });
  });
  if (issues.length === 0 && body.minSupported !== null && body.latest !== null) {
    const order = compareVersions(body.minSupported, body.latest);
    if (order === null) issues.push({ field: 'body.minSupported', message: 'cannot be compared with latest' });
    else if (order > 0) issues.push({ field: 'body.minSupported', message: `must not be above latest (${body.latest})` });
  }
  return issues;
}

const auditTarget = (model: string, component: string) => `${model}/${component}`;

/** Fleet-wide version policies: every role reads, ops-admin writes. */
@Injectable()
export class VersionPolicyService {
  constructor(
    @Inject(VersionPolicyRepository) private readonly policies: VersionPolicyRepository,
    @Inject(AuditService) private readonly audit: AuditService,
  ) {}

  async list(filter: { model?: string; component?: VersionComponent }): Promise<VersionPolicyView[]> {
    return (await this.policies.list(filter)).map(toVersionPolicyView);
  }

  async get(model: string, component: VersionComponent): Promise<VersionPolicyView> {
    const policy = await this.policies.find(model, component);
    if (!policy) throw notFound(`version policy ${model}/${component}`);
    return toVersionPolicyView(policy);
  }

  async put(
    ctx: RequestContext,
    model: string,
    component: VersionComponent,
    body: PutVersionPolicyBody,
  ): Promise<{ view: VersionPolicyView; created: boolean }> {
    requireOpsAdmin(ctx);
    const issues = versionPolicyIssues(body);
    if (issues.length > 0) throw new DomainException(ApiErrorCode.ValidationFailed, 'invalid version policy', issues);
    const blocked = [...new Set(body.blocked)];
    const { before, after } = await this.policies.put(model, component, { minSupported: body.minSupported, latest: body.latest, blocked });
    // Writing the values it already holds changes nothing and is not audited.
    if (before !== after) {
      await this.audit.record(ctx, {
        action: before ? 'version_policy.update' : 'version_policy.create',
        targetType: 'version_policy',
        targetId: auditTarget(model, component),
        providerId: null,
        before: auditView(before),
        after: auditView(after),
      });
    }
    return { view: toVersionPolicyView(after), created: before === null };
  }

  async delete(ctx: RequestContext, model: string, component: VersionComponent): Promise<void> {
    requireOpsAdmin(ctx);
    const deleted = await this.policies.delete(model, component);
    if (!deleted) throw notFound(`version policy ${model}/${component}`);
    await this.audit.record(ctx, {
      action: 'version_policy.delete',
      targetType: 'version_policy',
      targetId: auditTarget(model, component),
      providerId: null,
      before: auditView(deleted),
    });
  }
}

/** Version policies apply to the whole fleet: only ops-admin keys change them. */
function requireOpsAdmin(ctx: RequestContext): void {
  if (ctx.principal.role !== Role.OpsAdmin) throw new DomainException(ApiErrorCode.Forbidden, `role ${ctx.principal.role} may not change version policies`);
}
