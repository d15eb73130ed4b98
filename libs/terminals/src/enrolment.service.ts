import { Inject, Injectable } from '@nestjs/common';
import type { RegisterTerminalsResponse, TerminalRegistration } from '#contracts';
import { AuditLogRepository, type AuditEntry } from '#db';
import type { RequestIds } from './request-ids.js';
import { TerminalRegistryService } from './terminal-registry.service.js';
import { TerminalRepository } from './terminal.repository.js';

/** The audit actor of the operator endpoints: the admin token (no API key stands behind it). */
export const OPERATOR_ACTOR = { actorKeyId: null, actorName: 'admin-token', actorRole: 'operator' } as const;

/**
 * Operator enrolment (`/internal/v1/*`, admin token): the registry, audited like the fleet API
 * (`terminal.create`, `terminal.rotate_credentials`, one entry per terminal changed, with the
 * request ids), so enrolment by provisioning tools is as traceable as enrolment through /v1.
 */
@Injectable()
export class EnrolmentService {
  constructor(
    @Inject(TerminalRegistryService) private readonly registry: TerminalRegistryService,
    @Inject(TerminalRepository) private readonly terminals: TerminalRepository,
    @Inject(AuditLogRepository) private readonly audit: AuditLogRepository,
  ) {}

  async register(registrations: readonly TerminalRegistration[], ids: RequestIds): Promise<RegisterTerminalsResponse> {
    // The first owner goes into the ownership history as it does for /v1 registrations.
    const result = await this.registry.register(registrations, 1, { history: { actorKeyId: null, requestId: ids.requestId } });
    const views = await this.terminals.findAuditViews(result.credentials.map((c) => c.sn));
    await this.audit.insert(
      result.credentials.flatMap((c) => {
        const view = views.get(c.sn);
        return view ? [this.entry(ids, 'terminal.create', c.sn, view.providerId, null, view)] : [];
      }),
    );
    return result;
  }

  async rotateCredentials(sns: readonly string[], ids: RequestIds): Promise<RegisterTerminalsResponse> {
    const before = await this.terminals.findAuditViews(sns);
    const result = await this.registry.rotateCredentials(sns);
    const after = await this.terminals.findAuditViews(result.credentials.map((c) => c.sn));
    await this.audit.insert(
      result.credentials.flatMap((c) => {
        const was = before.get(c.sn);
        const now = after.get(c.sn);
        if (!was || !now) return [];
        return [
          this.entry(
            ids,
            'terminal.rotate_credentials',
            c.sn,
            now.providerId,
            { credentialRotatedAt: was.credentialRotatedAt },
            { credentialRotatedAt: now.credentialRotatedAt },
          ),
        ];
      }),
    );
    return result;
  }

  private entry(ids: RequestIds, action: string, sn: string, providerId: string, before: unknown, after: unknown): AuditEntry {
    return { ...OPERATOR_ACTOR, ...ids, action, targetType: 'terminal', targetId: sn, providerId, before, after };
  }
}
