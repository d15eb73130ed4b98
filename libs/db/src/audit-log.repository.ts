import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

/** One audit log entry: who did what to which target, with before/after. */
export interface AuditEntry {
  requestId: string | null;
  serverRequestId: string | null;
  actorKeyId: string | null;
  actorName: string;
  actorRole: string;
  action: string;
  targetType: string;
  targetId: string | null;
  providerId: string | null;
  before: unknown;
  after: unknown;
}

/**
 * The write side of the audit log, shared by every writer (the fleet API and the operator
 * enrolment endpoints, which run in the gateway without the API): one place for the insert and
 * the provider path an entry is filed under. Reads, scoped and redacted, stay with the API.
 */
@Injectable()
export class AuditLogRepository {
  constructor(@Inject(DataSource) private readonly dataSource: DataSource) {}

  /** Inserts in statements of at most 1000 entries (large imports). */
  async insert(entries: readonly AuditEntry[]): Promise<void> {
    for (let i = 0; i < entries.length; i += 1000) await this.insertChunk(entries.slice(i, i + 1000));
  }

  private async insertChunk(entries: readonly AuditEntry[]): Promise<void> {
    if (entries.length === 0) return;
    await this.dataSource.query(
      `INSERT INTO audit_log (request_id, server_request_id, actor_key_id, actor_name, actor_role, action, target_type, target_id, provider_id, provider_path, before, after)
       SELECT u.request_id, u.server_request_id, u.actor_key_id, u.actor_name, u.actor_role, u.action, u.target_type, u.target_id, u.provider_id,
              (SELECT path FROM providers p WHERE p.id = u.provider_id), u.before, u.after
         FROM unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::uuid[], $9::jsonb[], $10::jsonb[], $11::text[])
           AS u(request_id, actor_key_id, actor_name, actor_role, action, target_type, target_id, provider_id, before, after, server_request_id)`,
      [
        entries.map((e) => e.requestId),
        entries.map((e) => e.actorKeyId),
        entries.map((e) => e.actorName),
        entries.map((e) => e.actorRole),
        entries.map((e) => e.action),
        entries.map((e) => e.targetType),
        entries.map((e) => e.targetId),
        entries.map((e) => e.providerId),
        entries.map((e) => (e.before === undefined || e.before === null ? null : JSON.stringify(e.before))),
        entries.map((e) => (e.after === undefined || e.after === null ? null : JSON.stringify(e.after))),
        entries.map((e) => e.serverRequestId),
      ],
    );
  }
}
