import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { Scope } from '../auth/principal.js';
import { scopePath } from '../common/scope-sql.js';

export interface ProviderRow {
  id: string;
  parentId: string | null;
  code: string;
  name: string;
  path: string;
  createdAt: Date;
  updatedAt: Date;
}

interface DbRow {
  id: string;
  parent_id: string | null;
  code: string;
  name: string;
  path: string;
  created_at: Date;
  updated_at: Date;
}

const toRow = (r: DbRow): ProviderRow => ({
  id: r.id,
  parentId: r.parent_id,
  code: r.code,
  name: r.name,
  path: r.path,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Provider tree SQL. Every read takes the caller's scope; out-of-scope rows are never returned. */
@Injectable()
export class ProviderRepository {
  constructor(@Inject(DataSource) private readonly dataSource: DataSource) {}

  async list(scope: Scope): Promise<ProviderRow[]> {
    const rows: DbRow[] = await this.dataSource.query(
      `SELECT * FROM providers WHERE $1::text IS NULL OR path LIKE $1 || '%' ORDER BY path`,
      [scopePath(scope)],
    );
    return rows.map(toRow);
  }

  async findById(scope: Scope, id: string): Promise<ProviderRow | null> {
    if (!UUID.test(id)) return null;
    const rows: DbRow[] = await this.dataSource.query(
      `SELECT * FROM providers WHERE id = $1 AND ($2::text IS NULL OR path LIKE $2 || '%')`,
      [id, scopePath(scope)],
    );
    return rows[0] ? toRow(rows[0]) : null;
  }

  async findByCodes(scope: Scope, codes: readonly string[]): Promise<Map<string, ProviderRow>> {
    const rows: DbRow[] = await this.dataSource.query(
      `SELECT * FROM providers WHERE code = ANY($1::text[]) AND ($2::text IS NULL OR path LIKE $2 || '%')`,
      [codes, scopePath(scope)],
    );
    return new Map(rows.map((r) => [r.code, toRow(r)]));
  }

  async root(): Promise<ProviderRow> {
    const rows: DbRow[] = await this.dataSource.query(`SELECT * FROM providers WHERE parent_id IS NULL ORDER BY created_at LIMIT 1`);
    return toRow(rows[0]);
  }

  /** Inserts under `parent`; returns null when the code is taken. */
  async insert(parent: ProviderRow, code: string, name: string): Promise<ProviderRow | null> {
    const rows: DbRow[] = await this.dataSource.query(
      `WITH new AS (SELECT gen_random_uuid() AS id)
       INSERT INTO providers (id, parent_id, code, name, path)
       SELECT new.id, $1, $2, $3, $4 || new.id || '/' FROM new
       ON CONFLICT (code) DO NOTHING
       RETURNING *`,
      [parent.id, code, name, parent.path],
    );
    return rows[0] ? toRow(rows[0]) : null;
  }

  async rename(id: string, name: string): Promise<ProviderRow> {
    const [rows]: [DbRow[], number] = await this.dataSource.query(
      `UPDATE providers SET name = $2, updated_at = now() WHERE id = $1 RETURNING *`,
      [id, name],
    );
    return toRow(rows[0]);
  }

  /** Re-parents a provider and rewrites the paths of its whole subtree in one statement. */
  async move(provider: ProviderRow, newParent: ProviderRow): Promise<ProviderRow> {
    const newPath = `${newParent.path}${provider.id}/`;
    await this.dataSource.transaction(async (em) => {
      await em.query(`UPDATE providers SET parent_id = $2, updated_at = now() WHERE id = $1`, [provider.id, newParent.id]);
      await em.query(
        `UPDATE providers SET path = $2 || substr(path, length($1) + 1) WHERE path LIKE $1 || '%'`,
        [provider.path, newPath],
      );
    });
    const rows: DbRow[] = await this.dataSource.query(`SELECT * FROM providers WHERE id = $1`, [provider.id]);
    return toRow(rows[0]);
  }

  /** What still hangs off a provider (blocks deletion). */
  async dependents(id: string): Promise<{ children: number; terminals: number; keys: number }> {
    const rows: { children: number; terminals: number; keys: number }[] = await this.dataSource.query(
      `SELECT (SELECT count(*)::int FROM providers WHERE parent_id = $1) AS children,
              (SELECT count(*)::int FROM terminals WHERE provider_id = $1) AS terminals,
              (SELECT count(*)::int FROM api_keys WHERE provider_id = $1 AND revoked_at IS NULL) AS keys`,
      [id],
    );
    return rows[0];
  }

  async delete(id: string): Promise<void> {
    // Revoked keys keep their history rows; detach them so the provider can go.
    await this.dataSource.transaction(async (em) => {
      await em.query(`DELETE FROM api_keys WHERE provider_id = $1 AND revoked_at IS NOT NULL`, [id]);
      await em.query(`DELETE FROM providers WHERE id = $1`, [id]);
    });
  }
}
