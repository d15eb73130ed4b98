import { Inject, Injectable } from '@nestjs/common';
import type { RequestContext } from '../auth/principal.js';
import { AuditLogRepository, type AuditEntry } from '#db';

export interface AuditChange {
  action: string;
  targetType: string;
  targetId: string | null;
  providerId: string | null;
  before?: unknown;
  after?: unknown;
}

/** Writes who did what to which target, with before/after, for every mutating request. */
@Injectable()
export class AuditService {
  constructor(@Inject(AuditLogRepository) private readonly audit: AuditLogRepository) {}

  async record(ctx: RequestContext | null, changes: AuditChange | readonly AuditChange[]): Promise<void> {
    const list = Array.isArray(changes) ? (changes as readonly AuditChange[]) : [changes as AuditChange];
    const entries: AuditEntry[] = list.map((c) => ({
      requestId: ctx?.requestId ?? null,
      serverRequestId: ctx?.serverRequestId ?? ctx?.requestId ?? null,
      actorKeyId: ctx?.principal.keyId ?? null,
      actorName: ctx?.principal.name ?? 'system',
      actorRole: ctx?.principal.role ?? 'system',
      action: c.action,
      targetType: c.targetType,
      targetId: c.targetId,
      providerId: c.providerId,
      before: c.before ?? null,
      after: c.after ?? null,
    }));
    await this.audit.insert(entries);
  }
}
