import { Inject, Injectable } from '@nestjs/common';
import { DataSource, In, IsNull, type Repository, type SelectQueryBuilder } from 'typeorm';
import { scopePath } from '../common/scope-sql.js';
import { ApiKeyEntity } from './api-key.entity.js';
import type { Scope } from './principal.js';
import { Role } from './roles.js';

/** API keys. Scoped reads go through the key's provider: its path is the scope. */
@Injectable()
export class ApiKeyRepository {
  private readonly keys: Repository<ApiKeyEntity>;

  constructor(@Inject(DataSource) private readonly dataSource: DataSource) {
    this.keys = dataSource.getRepository(ApiKeyEntity);
  }

  /** The key behind a token prefix, with its hash and its provider (whose path is the key's scope). */
  findForAuth(prefix: string): Promise<ApiKeyEntity | null> {
    return this.keys.createQueryBuilder('k').addSelect('k.keyHash').leftJoinAndSelect('k.provider', 'p').where('k.prefix = :prefix', { prefix }).getOne();
  }

  async insert(input: { name: string; prefix: string; hash: Buffer; role: Role; providerId: string | null; createdBy: string | null }): Promise<ApiKeyEntity> {
    const key = this.keys.create({
      name: input.name,
      prefix: input.prefix,
      keyHash: input.hash,
      role: input.role,
      providerId: input.providerId,
      createdBy: input.createdBy,
      lastUsedAt: null,
      revokedAt: null,
    });
    // RETURNING fills in the generated id and created_at.
    await this.keys.insert(key);
    return key;
  }

  /**
   * Inserts an ops-admin key only when no active one exists, under a transaction-scoped advisory
   * lock so concurrent bootstraps serialize: of N racing calls one inserts, the others get the count.
   */
  async insertIfNoActiveOpsAdmin(input: { name: string; prefix: string; hash: Buffer }): Promise<ApiKeyEntity | number> {
    return this.dataSource.transaction(async (em) => {
      await em.query(`SELECT pg_advisory_xact_lock(hashtext('fleet:api-keys:bootstrap'))`);
      const keys = em.getRepository(ApiKeyEntity);
      const existing = await keys.countBy({ role: Role.OpsAdmin, revokedAt: IsNull() });
      if (existing > 0) return existing;
      const key = keys.create({
        name: input.name,
        prefix: input.prefix,
        keyHash: input.hash,
        role: Role.OpsAdmin,
        providerId: null,
        createdBy: null,
        lastUsedAt: null,
        revokedAt: null,
      });
      await keys.insert(key);
      return key;
    });
  }

  /** Keys whose provider is inside the scope (the fleet scope sees every key). */
  list(scope: Scope): Promise<ApiKeyEntity[]> {
    return this.scoped(scope).orderBy('k.createdAt', 'ASC').addOrderBy('k.id', 'ASC').getMany();
  }

  findById(id: string, scope: Scope): Promise<ApiKeyEntity | null> {
    return this.scoped(scope).andWhere('k.id = :id', { id }).getOne();
  }

  /**
   * Idempotent: a key revoked earlier keeps its first revocation time. One conditional UPDATE, so of
   * concurrent revokes exactly one sees `true` (the row lock serializes them, the loser's re-check
   * finds revoked_at set).
   */
  async revoke(id: string): Promise<boolean> {
    // TypeORM returns [rows, affected] for UPDATE.
    const [rows]: [{ id: string }[], number] = await this.dataSource.query(
      `UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL RETURNING id`,
      [id],
    );
    return rows.length > 0;
  }

  async touch(ids: readonly string[], at: Date): Promise<void> {
    await this.keys.update({ id: In([...ids]) }, { lastUsedAt: at });
  }

  private scoped(scope: Scope): SelectQueryBuilder<ApiKeyEntity> {
    const qb = this.keys.createQueryBuilder('k');
    const prefix = scopePath(scope);
    // Ops keys (no provider) fall out of every subtree.
    return prefix === null ? qb : qb.innerJoin('k.provider', 'p').where(`p.path LIKE :prefix || '%'`, { prefix });
  }
}
