import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { AuditEntry } from '#db';
import type { Scope } from '../auth/principal.js';

export type { AuditEntry } from '#db';

export interface AuditRecord extends AuditEntry {
  id: string;
  at: string;
}

interface DbRow {
  id: string;
  at: Date;
  request_id: string | null;
  server_request_id: string | null;
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

/** The read side of the audit log: scoped and redacted (entries are written through AuditLogRepository in #db). */
@Injectable()
export class AuditRepository {
  constructor(@Inject(DataSource) private readonly dataSource: DataSource) {}

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
    const visible = scope.kind === 'subtree' ? await this.providersInScope(scope.path, rows) : null;
    const redact = (value: unknown): unknown => (visible ? redactProviderIds(value, visible) : value);
    return rows.map((r) => ({
      id: String(r.id),
      at: new Date(r.at).toISOString(),
      requestId: r.request_id,
      serverRequestId: r.server_request_id,
      actorKeyId: r.actor_key_id,
      actorName: r.actor_name,
      actorRole: r.actor_role,
      action: r.action,
      targetType: r.target_type,
      targetId: r.target_id,
      providerId: r.provider_id,
      before: redact(r.before),
      after: redact(r.after),
    }));
  }

  /** Of the provider ids the entries' values name, those (still) in the subtree at `path`. */
  private async providersInScope(path: string, rows: readonly DbRow[]): Promise<Set<string>> {
    const ids = new Set<string>();
    for (const r of rows) {
      collectProviderIds(r.before, ids);
      collectProviderIds(r.after, ids);
    }
    if (ids.size === 0) return ids;
    const found: { id: string }[] = await this.dataSource.query(`SELECT id::text AS id FROM providers WHERE id = ANY($1::uuid[]) AND path LIKE $2 || '%'`, [
      [...ids].filter((id) => UUID.test(id)),
      path,
    ]);
    return new Set(found.map((f) => f.id));
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Keys of audit before/after values that name a provider. */
const PROVIDER_KEYS = new Set(['providerId', 'parentId']);

function collectProviderIds(value: unknown, out: Set<string>): void {
  if (Array.isArray(value)) for (const v of value) collectProviderIds(v, out);
  else if (typeof value === 'object' && value !== null) {
    for (const [key, v] of Object.entries(value)) {
      if (PROVIDER_KEYS.has(key) && typeof v === 'string') out.add(v);
      else collectProviderIds(v, out);
    }
  }
}

/**
 * The one rule shared with the ownership history: a provider outside the caller's subtree (or
 * deleted since) is shown as null, so an entry never tells a provider about another tenant.
 */
export function redactProviderIds(value: unknown, visible: ReadonlySet<string>): unknown {
  if (Array.isArray(value)) return value.map((v) => redactProviderIds(v, visible));
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    out[key] = PROVIDER_KEYS.has(key) && typeof v === 'string' ? (visible.has(v) ? v : null) : redactProviderIds(v, visible);
  }
  return out;
}
