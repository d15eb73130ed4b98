import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { Scope } from '../auth/principal.js';

export interface AuditEntry {
  requestId: string | null;
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

export interface AuditRecord extends AuditEntry {
  id: string;
  at: string;
}

interface DbRow {
  id: string;
  at: Date;
  request_id: string | null;
  actor_key_id: string | null;
  actor_name: string;
  actor_role: string;
  action: string;
  target_type: string;
  target_id: string | null;
  provider_id: string | null;
  before: unknown;
  after: unknown;
}

@Injectable()
export class AuditRepository {
  constructor(@Inject(DataSource) private readonly dataSource: DataSource) {}

  async insert(entries: readonly AuditEntry[]): Promise<void> {
    if (entries.length === 0) return;
    await this.dataSource.query(
      `INSERT INTO audit_log (request_id, actor_key_id, actor_name, actor_role, action, target_type, target_id, provider_id, provider_path, before, after)
       SELECT u.request_id, u.actor_key_id, u.actor_name, u.actor_role, u.action, u.target_type, u.target_id, u.provider_id,
              (SELECT path FROM providers p WHERE p.id = u.provider_id), u.before, u.after
         FROM unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::uuid[], $9::jsonb[], $10::jsonb[])
           AS u(request_id, actor_key_id, actor_name, actor_role, action, target_type, target_id, provider_id, before, after)`,
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
      ],
    );
  }

  /** Newest first, keyset-paginated on id. Scoped entries are those whose target provider is in the subtree. */
  async list(scope: Scope, filter: { limit: number; beforeId: string | null; action?: string; targetId?: string }): Promise<AuditRecord[]> {
    const rows: DbRow[] = await this.dataSource.query(
      `SELECT a.* FROM audit_log a
        WHERE ($1::text IS NULL OR a.provider_path LIKE $1 || '%')
          AND ($2::bigint IS NULL OR a.id < $2)
          AND ($3::text IS NULL OR a.action = $3)
          AND ($4::text IS NULL OR a.target_id = $4)
        ORDER BY a.id DESC LIMIT $5`,
      [scope.kind === 'subtree' ? scope.path : null, filter.beforeId, filter.action ?? null, filter.targetId ?? null, filter.limit],
    );
    return rows.map((r) => ({
      id: String(r.id),
      at: new Date(r.at).toISOString(),
      requestId: r.request_id,
      actorKeyId: r.actor_key_id,
      actorName: r.actor_name,
      actorRole: r.actor_role,
      action: r.action,
      targetType: r.target_type,
      targetId: r.target_id,
      providerId: r.provider_id,
      before: r.before,
      after: r.after,
    }));
  }
}
