import type { Readable } from 'node:stream';
import { Inject, Injectable } from '@nestjs/common';
import type { z } from 'zod';
import { DomainException } from '#contracts';
import { OtaErrorCode, ReleaseCatalogService, type Release } from '#ota';
import { AuditService } from '../audit/audit.service.js';
import type { RequestContext } from '../auth/principal.js';
import { isProviderRole, Role } from '../auth/roles.js';
import { ApiErrorCode } from '../common/api-error.js';
import type { createReleaseBody, releaseListQuery, releaseView } from './release.dto.js';

export type ReleaseView = z.output<typeof releaseView>;

/** The request field each catalog refusal is about, and its status as an API code. */
const OTA_ERRORS: Record<OtaErrorCode, { code: ApiErrorCode; field: string }> = {
  [OtaErrorCode.SignatureInvalid]: { code: ApiErrorCode.ValidationFailed, field: 'signature' },
  [OtaErrorCode.UnknownKey]: { code: ApiErrorCode.ValidationFailed, field: 'keyId' },
  [OtaErrorCode.NoKeysConfigured]: { code: ApiErrorCode.ValidationFailed, field: 'signature' },
  [OtaErrorCode.DigestMismatch]: { code: ApiErrorCode.ValidationFailed, field: 'body' },
  [OtaErrorCode.InvalidVersion]: { code: ApiErrorCode.ValidationFailed, field: 'body.version' },
  [OtaErrorCode.ArtifactTooLarge]: { code: ApiErrorCode.PayloadTooLarge, field: 'body' },
  [OtaErrorCode.ReleaseExists]: { code: ApiErrorCode.Conflict, field: 'body.version' },
  [OtaErrorCode.WrongState]: { code: ApiErrorCode.Conflict, field: 'id' },
  [OtaErrorCode.ReleaseNotFound]: { code: ApiErrorCode.NotFound, field: 'id' },
  [OtaErrorCode.DownloadUrlInvalid]: { code: ApiErrorCode.Forbidden, field: 'query' },
};

/**
 * An OTA domain error as the API's: the wire code is the status's API code, and `details` carries
 * the specific reason (e.g. `OTA_SIGNATURE_INVALID`) so clients can tell refusals apart.
 */
export function toApiException(err: unknown): unknown {
  if (!(err instanceof DomainException)) return err;
  const code: string = (err as DomainException<string>).code;
  const mapped = (OTA_ERRORS as Partial<Record<string, { code: ApiErrorCode; field: string }>>)[code];
  if (!mapped) return err;
  return new DomainException(mapped.code, err.message, [{ field: mapped.field, message: err.message, reason: code }]);
}

async function mapped<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    throw toApiException(err);
  }
}

/** Only ops-admin manages the catalog (provider-admin holds every provider permission, so this is a role rule). */
function requireOpsAdmin(ctx: RequestContext): void {
  if (ctx.principal.role !== Role.OpsAdmin) throw new DomainException(ApiErrorCode.Forbidden, `role ${ctx.principal.role} may not manage releases`);
}

export function toReleaseView(r: Release, ctx: RequestContext): ReleaseView {
  const view: ReleaseView = {
    id: r.id,
    model: r.model,
    component: r.component,
    version: r.version,
    status: r.status,
    releaseNotes: r.releaseNotes,
    minBatteryPct: r.minBatteryPct,
    sizeBytes: r.sizeBytes,
    sha256: r.sha256,
    createdAt: r.createdAt.toISOString(),
    withdrawnAt: r.withdrawnAt?.toISOString() ?? null,
  };
  if (isProviderRole(ctx.principal.role)) return view;
  return {
    ...view,
    artifact: r.artifactPath !== null ? { kind: 'stored', path: r.artifactPath } : r.artifactUrl !== null ? { kind: 'external', url: r.artifactUrl } : null,
    signature: r.signature,
    keyId: r.keyId,
    createdBy: r.createdBy,
    updatedAt: r.updatedAt.toISOString(),
    ...(r.status === 'draft' ? { uploadPath: `/v1/releases/${r.id}/artifact` } : {}),
  };
}

/** The audit's view of a release: what changed, without the caller-dependent parts. */
function auditView(r: Release): Record<string, unknown> {
  return {
    model: r.model,
    component: r.component,
    version: r.version,
    status: r.status,
    sizeBytes: r.sizeBytes,
    sha256: r.sha256,
    keyId: r.keyId,
    artifact: r.artifactPath ?? r.artifactUrl,
  };
}

/** The release catalog over the API: ops-admin manages it, every role reads it; every change is audited. */
@Injectable()
export class ReleaseService {
  constructor(
    @Inject(ReleaseCatalogService) private readonly catalog: ReleaseCatalogService,
    @Inject(AuditService) private readonly audit: AuditService,
  ) {}

  get artifactMaxBytes(): number {
    return this.catalog.artifactMaxBytes;
  }

  async create(ctx: RequestContext, body: z.output<typeof createReleaseBody>): Promise<ReleaseView> {
    requireOpsAdmin(ctx);
    const release = await mapped(this.catalog.create(body, { name: ctx.principal.name, keyId: ctx.principal.keyId }));
    await this.audit.record(ctx, { action: 'release.create', targetType: 'release', targetId: release.id, providerId: null, after: auditView(release) });
    return toReleaseView(release, ctx);
  }

  async upload(ctx: RequestContext, id: string, body: Readable): Promise<ReleaseView> {
    requireOpsAdmin(ctx);
    const release = await mapped(this.catalog.upload(id, body));
    await this.audit.record(ctx, {
      action: 'release.upload',
      targetType: 'release',
      targetId: release.id,
      providerId: null,
      before: { status: 'draft' },
      after: auditView(release),
    });
    return toReleaseView(release, ctx);
  }

  /** Idempotent: withdrawing a withdrawn release changes (and audits) nothing. */
  async withdraw(ctx: RequestContext, id: string): Promise<ReleaseView> {
    requireOpsAdmin(ctx);
    const { before, after } = await mapped(this.catalog.withdraw(id));
    if (after) {
      await this.audit.record(ctx, {
        action: 'release.withdraw',
        targetType: 'release',
        targetId: id,
        providerId: null,
        before: { status: before.status },
        after: { status: after.status },
      });
    }
    return toReleaseView(after ?? (await mapped(this.catalog.get(id))), ctx);
  }

  async get(ctx: RequestContext, id: string): Promise<ReleaseView> {
    const release = await mapped(this.catalog.get(id));
    // Drafts are unfinished ops work: provider roles do not see them.
    if (release.status === 'draft' && isProviderRole(ctx.principal.role))
      throw toApiException(new DomainException(OtaErrorCode.ReleaseNotFound, 'release not found'));
    return toReleaseView(release, ctx);
  }

  async list(ctx: RequestContext, q: z.output<typeof releaseListQuery>): Promise<{ items: ReleaseView[] }> {
    const items = await this.catalog.list({ ...q, excludeDrafts: isProviderRole(ctx.principal.role) });
    return { items: items.map((r) => toReleaseView(r, ctx)) };
  }
}
