import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { Any, DataSource, IsNull, Like, Not, type FindOptionsWhere, type Repository } from 'typeorm';
import { ApiKeyEntity } from '../auth/api-key.entity.js';
import type { Scope } from '../auth/principal.js';
import { isRetryableConflict } from '../common/db-errors.js';
import { scopePath } from '../common/scope-sql.js';
import { ProviderEntity } from './provider.entity.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Depth in the tree: the root ('/<id>/') is 0. */
export function pathDepth(path: string): number {
  return path.split('/').length - 3;
}

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

  /**
   * Inserts under `parent`. The parent row is share-locked and re-read, so a concurrent move of the
   * parent (which rewrites its path) either finishes first or waits. Returns 'parent-gone' when the
   * parent vanished, 'taken' when the code is taken, or the depth check's refusal.
   */
  async insert(parent: ProviderEntity, code: string, name: string, maxDepth: number): Promise<ProviderEntity | 'taken' | 'parent-gone' | 'too-deep'> {
    return this.dataSource.transaction(async (em) => {
      const providers = em.getRepository(ProviderEntity);
      const current = await providers.findOne({ where: { id: parent.id }, lock: { mode: 'pessimistic_read' } });
      if (!current) return 'parent-gone';
      if (pathDepth(current.path) + 1 > maxDepth) return 'too-deep';
      const id = randomUUID();
      const provider = providers.create({ id, parentId: current.id, code, name, path: `${current.path}${id}/` });
      // The id and path are new, so the only conflict left is the code; RETURNING fills in the timestamps.
      const result = await providers.createQueryBuilder().insert().values(provider).orIgnore().execute();
      return (result.raw as unknown[]).length > 0 ? provider : 'taken';
    });
  }

  async rename(id: string, name: string): Promise<ProviderEntity> {
    await this.providers.update({ id }, { name });
    return this.providers.findOneByOrFail({ id });
  }

  /**
   * Re-parents a provider and rewrites the paths of its whole subtree in one transaction. Both rows
   * are locked first, then the whole subtree (so a child being inserted below it commits before the
   * rewrite, whose fresh snapshot then includes it). Returns 'stale' when either path changed since
   * the caller read (and checked) it, 'too-deep' when the subtree would end below `maxDepth`.
   */
  async move(provider: ProviderEntity, newParent: ProviderEntity, maxDepth: number): Promise<ProviderEntity | 'stale' | 'too-deep'> {
    const newPath = `${newParent.path}${provider.id}/`;
    try {
      return await this.dataSource.transaction(async (em) => {
        const providers = em.getRepository(ProviderEntity);
        // Always in id order, so two moves sharing rows wait for each other instead of deadlocking.
        const locked: { id: string; path: string }[] = await em.query(`SELECT id, path FROM providers WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE`, [
          [provider.id, newParent.id],
        ]);
        const current = new Map(locked.map((p) => [p.id, p.path]));
        if (current.get(provider.id) !== provider.path || current.get(newParent.id) !== newParent.path) return 'stale';
        const subtree: { path: string }[] = await em.query(`SELECT path FROM providers WHERE path LIKE $1 || '%' ORDER BY id FOR UPDATE`, [provider.path]);
        const deepest = Math.max(...subtree.map((r) => pathDepth(r.path)), pathDepth(provider.path));
        if (deepest - pathDepth(provider.path) + pathDepth(newPath) > maxDepth) return 'too-deep';
        await providers.update({ id: provider.id }, { parentId: newParent.id });
        // A prefix rewrite over the subtree: one statement, same transaction.
        await em.query(`UPDATE providers SET path = $2 || substr(path, length($1) + 1) WHERE path LIKE $1 || '%'`, [provider.path, newPath]);
        return providers.findOneByOrFail({ id: provider.id });
      });
    } catch (err) {
      // Aborted to break a lock cycle with another tree change: the caller re-reads and retries.
      if (isRetryableConflict(err)) return 'stale';
      throw err;
    }
  }

  /**
   * Deletes a provider when nothing hangs off it, in one transaction: the row is locked first, so
   * a concurrent child insert, terminal move or key issue (which lock it for their foreign key)
   * either lands before the count or waits and then finds the provider gone. Returns the
   * dependents when there are any (and deletes nothing), null when the provider is already gone.
   */
  async deleteIfEmpty(id: string): Promise<{ children: number; terminals: number; keys: number } | 'deleted' | null> {
    return this.dataSource.transaction(async (em) => {
      const locked = await em.getRepository(ProviderEntity).findOne({ where: { id }, lock: { mode: 'pessimistic_write' } });
      if (!locked) return null;
      const rows: { children: number; terminals: number; keys: number }[] = await em.query(
        `SELECT (SELECT count(*)::int FROM providers WHERE parent_id = $1) AS children,
                (SELECT count(*)::int FROM terminals WHERE provider_id = $1) AS terminals,
                (SELECT count(*)::int FROM api_keys WHERE provider_id = $1 AND revoked_at IS NULL) AS keys`,
        [id],
      );
      const deps = rows[0];
      if (deps.children || deps.terminals || deps.keys) return deps;
      // Revoked keys keep their history rows; detach them so the provider can go.
      await em.getRepository(ApiKeyEntity).delete({ providerId: id, revokedAt: Not(IsNull()) });
      await em.getRepository(ProviderEntity).delete({ id });
      return 'deleted';
    });
  }
}
