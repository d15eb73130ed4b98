import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { Any, DataSource, In, IsNull, Like, Not, type FindOptionsWhere, type Repository } from 'typeorm';
import { ApiKeyEntity } from '../auth/api-key.entity.js';
import type { Scope } from '../auth/principal.js';
import { scopePath } from '../common/scope-sql.js';
import { ProviderEntity } from './provider.entity.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Confines a find to the caller's subtree (a path prefix; paths hold no LIKE wildcards). */
function inScope(scope: Scope): FindOptionsWhere<ProviderEntity> {
  const prefix = scopePath(scope);
  return prefix === null ? {} : { path: Like(`${prefix}%`) };
}

/** The provider tree. Every read takes the caller's scope; out-of-scope rows are never returned. */
@Injectable()
export class ProviderRepository {
  private readonly providers: Repository<ProviderEntity>;

  constructor(@Inject(DataSource) private readonly dataSource: DataSource) {
    this.providers = dataSource.getRepository(ProviderEntity);
  }

  list(scope: Scope): Promise<ProviderEntity[]> {
    return this.providers.find({ where: inScope(scope), order: { path: 'ASC' } });
  }

  async findById(scope: Scope, id: string): Promise<ProviderEntity | null> {
    if (!UUID.test(id)) return null;
    return this.providers.findOneBy({ ...inScope(scope), id });
  }

  async findByCodes(scope: Scope, codes: readonly string[]): Promise<Map<string, ProviderEntity>> {
    const rows = await this.providers.findBy({ ...inScope(scope), code: Any([...codes]) });
    return new Map(rows.map((r) => [r.code, r]));
  }

  root(): Promise<ProviderEntity> {
    return this.providers.findOneOrFail({ where: { parentId: IsNull() }, order: { createdAt: 'ASC' } });
  }

  /** Inserts under `parent`; returns null when the code is taken. */
  async insert(parent: ProviderEntity, code: string, name: string): Promise<ProviderEntity | null> {
    const id = randomUUID();
    const provider = this.providers.create({ id, parentId: parent.id, code, name, path: `${parent.path}${id}/` });
    // The id and path are new, so the only conflict left is the code; RETURNING fills in the timestamps.
    const result = await this.providers.createQueryBuilder().insert().values(provider).orIgnore().execute();
    return (result.raw as unknown[]).length > 0 ? provider : null;
  }

  async rename(id: string, name: string): Promise<ProviderEntity> {
    await this.providers.update({ id }, { name });
    return this.providers.findOneByOrFail({ id });
  }

  /**
   * Re-parents a provider and rewrites the paths of its whole subtree in one transaction. Both rows
   * are locked first; returns null when either path changed since the caller read (and checked) it.
   */
  async move(provider: ProviderEntity, newParent: ProviderEntity): Promise<ProviderEntity | null> {
    const newPath = `${newParent.path}${provider.id}/`;
    return this.dataSource.transaction(async (em) => {
      const providers = em.getRepository(ProviderEntity);
      const locked = await providers.find({
        where: { id: In([provider.id, newParent.id]) },
        order: { id: 'ASC' },
        lock: { mode: 'pessimistic_write' },
      });
      const current = new Map(locked.map((p) => [p.id, p.path]));
      if (current.get(provider.id) !== provider.path || current.get(newParent.id) !== newParent.path) return null;
      await providers.update({ id: provider.id }, { parentId: newParent.id });
      // A prefix rewrite over the subtree: one statement, same transaction.
      await em.query(`UPDATE providers SET path = $2 || substr(path, length($1) + 1) WHERE path LIKE $1 || '%'`, [provider.path, newPath]);
      return providers.findOneByOrFail({ id: provider.id });
    });
  }

  /** What still hangs off a provider (blocks deletion). One round trip; terminals have no entity. */
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
      await em.getRepository(ApiKeyEntity).delete({ providerId: id, revokedAt: Not(IsNull()) });
      await em.getRepository(ProviderEntity).delete({ id });
    });
  }
}
