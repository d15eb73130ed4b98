import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { Role } from './roles.js';

export interface ApiKeyRow {
  id: string;
  name: string;
  prefix: string;
  role: Role;
  providerId: string | null;
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

interface DbRow {
  id: string;
  name: string;
  prefix: string;
  role: Role;
  provider_id: string | null;
  created_at: Date;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

const COLUMNS = 'k.id, k.name, k.prefix, k.role, k.provider_id, k.created_at, k.last_used_at, k.revoked_at';
const toRow = (r: DbRow): ApiKeyRow => ({
  id: r.id,
  name: r.name,
  prefix: r.prefix,
  role: r.role,
  providerId: r.provider_id,
  createdAt: r.created_at,
  lastUsedAt: r.last_used_at,
  revokedAt: r.revoked_at,
});

@Injectable()
export class ApiKeyRepository {
  constructor(@Inject(DataSource) private readonly dataSource: DataSource) {}

  async findForAuth(prefix: string): Promise<(ApiKeyRow & { hash: Buffer; providerPath: string | null }) | null> {
    const rows: (DbRow & { key_hash: Buffer; path: string | null })[] = await this.dataSource.query(
      `SELECT ${COLUMNS}, k.key_hash, p.path FROM api_keys k LEFT JOIN providers p ON p.id = k.provider_id WHERE k.prefix = $1`,
      [prefix],
    );
    const r = rows[0];
    return r ? { ...toRow(r), hash: r.key_hash, providerPath: r.path } : null;
  }

  async insert(input: { name: string; prefix: string; hash: Buffer; role: Role; providerId: string | null; createdBy: string | null }): Promise<ApiKeyRow> {
    const rows: DbRow[] = await this.dataSource.query(
      `INSERT INTO api_keys AS k (name, prefix, key_hash, role, provider_id, created_by) VALUES ($1, $2, $3, $4, $5, $6) RETURNING ${COLUMNS}`,
      [input.name, input.prefix, input.hash, input.role, input.providerId, input.createdBy],
    );
    return toRow(rows[0]);
  }

  /** Keys whose provider is inside `pathPrefix` (null = all keys). */
  async list(pathPrefix: string | null): Promise<ApiKeyRow[]> {
    const rows: DbRow[] = await this.dataSource.query(
      `SELECT ${COLUMNS} FROM api_keys k LEFT JOIN providers p ON p.id = k.provider_id
        WHERE $1::text IS NULL OR p.path LIKE $1 || '%' ORDER BY k.created_at, k.id`,
      [pathPrefix],
    );
    return rows.map(toRow);
  }

  async findById(id: string, pathPrefix: string | null): Promise<ApiKeyRow | null> {
    const rows: DbRow[] = await this.dataSource.query(
      `SELECT ${COLUMNS} FROM api_keys k LEFT JOIN providers p ON p.id = k.provider_id
        WHERE k.id = $1 AND ($2::text IS NULL OR p.path LIKE $2 || '%')`,
      [id, pathPrefix],
    );
    return rows[0] ? toRow(rows[0]) : null;
  }

  async revoke(id: string): Promise<void> {
    await this.dataSource.query(`UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1`, [id]);
  }

  async touch(ids: readonly string[], at: Date): Promise<void> {
    await this.dataSource.query(`UPDATE api_keys SET last_used_at = $2 WHERE id = ANY($1::uuid[])`, [ids, at]);
  }

  async countActiveOpsAdmins(): Promise<number> {
    const rows: { n: number }[] = await this.dataSource.query(
      `SELECT count(*)::int AS n FROM api_keys WHERE role = 'ops-admin' AND revoked_at IS NULL`,
    );
    return rows[0].n;
  }
}
