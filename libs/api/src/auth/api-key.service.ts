import { randomBytes } from 'node:crypto';
import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { DomainException } from '#contracts';
import { CredentialHasher } from '#terminals';
import { ApiErrorCode } from '../common/api-error.js';
import type { ApiKeyEntity } from './api-key.entity.js';
import { ApiKeyRepository } from './api-key.repository.js';
import type { Principal, Scope } from './principal.js';
import { isProviderRole, type Role } from './roles.js';

const KEY_PREFIX = 'fk';
const CACHE_TTL_MS = 10_000;
const TOUCH_EVERY_MS = 60_000;

export interface IssuedKey {
  key: ApiKeyEntity;
  /** The full secret, shown once. */
  token: string;
}

interface Authenticated {
  principal: Principal;
  scope: Scope;
  expiresAt: number;
}

/**
 * API keys: `fk_<prefix>_<secret>`; the prefix finds the row, the secret is checked against an
 * HMAC (same keyed hash as terminal secrets). Verified keys are cached briefly; revocation in this
 * process takes effect at once, elsewhere within the cache TTL. last_used_at is written at most
 * once a minute per key, in the background.
 */
@Injectable()
export class ApiKeyService implements OnModuleDestroy {
  private readonly cache = new Map<string, Authenticated>();
  private readonly lastTouched = new Map<string, number>();
  private pendingTouch = new Set<string>();
  private readonly touchTimer: NodeJS.Timeout;

  constructor(
    @Inject(ApiKeyRepository) private readonly keys: ApiKeyRepository,
    @Inject(CredentialHasher) private readonly hasher: CredentialHasher,
  ) {
    this.touchTimer = setInterval(() => void this.flushTouches(), 5_000);
    this.touchTimer.unref();
  }

  async issue(input: { name: string; role: Role; providerId: string | null; createdBy: string | null }): Promise<IssuedKey> {
    if (isProviderRole(input.role) !== (input.providerId !== null)) {
      throw new DomainException(ApiErrorCode.ValidationFailed, 'provider roles need a providerId; ops roles must not have one', [
        { field: 'body.providerId', message: isProviderRole(input.role) ? 'required for provider roles' : 'not allowed for ops roles' },
      ]);
    }
    const prefix = randomBytes(6).toString('hex');
    const secret = randomBytes(32).toString('base64url');
    const key = await this.keys.insert({ ...input, prefix, hash: this.hasher.hash(secret) });
    return { key, token: `${KEY_PREFIX}_${prefix}_${secret}` };
  }

  /** The first ops-admin key of an install, or the number of active ones that exist already. */
  async issueFirstOpsAdmin(name: string): Promise<IssuedKey | number> {
    const prefix = randomBytes(6).toString('hex');
    const secret = randomBytes(32).toString('base64url');
    const key = await this.keys.insertIfNoActiveOpsAdmin({ name, prefix, hash: this.hasher.hash(secret) });
    return typeof key === 'number' ? key : { key, token: `${KEY_PREFIX}_${prefix}_${secret}` };
  }

  /** Returns null for anything that is not a live, matching key. */
  async authenticate(token: string, now = Date.now()): Promise<{ principal: Principal; scope: Scope } | null> {
    const cached = this.cache.get(token);
    if (cached && cached.expiresAt > now) {
      this.markUsed(cached.principal.keyId, now);
      return cached;
    }
    const match = /^fk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/.exec(token);
    if (!match) return null;
    const row = await this.keys.findForAuth(match[1]);
    if (!row || row.revokedAt || !this.hasher.verify(match[2], row.keyHash)) return null;
    const principal: Principal = { keyId: row.id, name: row.name, role: row.role, providerId: row.providerId };
    const scope: Scope = row.provider ? { kind: 'subtree', providerId: row.provider.id, path: row.provider.path } : { kind: 'fleet' };
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(token, { principal, scope, expiresAt: now + CACHE_TTL_MS });
    this.markUsed(row.id, now);
    return { principal, scope };
  }

  /** True when this call revoked the key, false when it was revoked already. */
  async revoke(id: string): Promise<boolean> {
    const revoked = await this.keys.revoke(id);
    for (const [token, entry] of this.cache) if (entry.principal.keyId === id) this.cache.delete(token);
    return revoked;
  }

  private markUsed(keyId: string, now: number): void {
    if ((this.lastTouched.get(keyId) ?? 0) + TOUCH_EVERY_MS > now) return;
    this.lastTouched.set(keyId, now);
    this.pendingTouch.add(keyId);
  }

  async flushTouches(): Promise<void> {
    if (this.pendingTouch.size === 0) return;
    const ids = [...this.pendingTouch];
    this.pendingTouch = new Set();
    await this.keys.touch(ids, new Date()).catch(() => undefined);
  }

  async onModuleDestroy(): Promise<void> {
    clearInterval(this.touchTimer);
    await this.flushTouches();
  }
}
