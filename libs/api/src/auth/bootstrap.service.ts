import { Inject, Injectable } from '@nestjs/common';
import { DomainException } from '#contracts';
import { ApiErrorCode } from '../common/api-error.js';
import { ApiKeyRepository } from './api-key.repository.js';
import { ApiKeyService, type IssuedKey } from './api-key.service.js';
import { Role } from './roles.js';

/** Creates the first ops-admin key of a fresh install; refuses once one exists. */
@Injectable()
export class BootstrapService {
  constructor(
    @Inject(ApiKeyRepository) private readonly keys: ApiKeyRepository,
    @Inject(ApiKeyService) private readonly issuer: ApiKeyService,
  ) {}

  async bootstrap(name: string): Promise<IssuedKey> {
    const existing = await this.keys.countActiveOpsAdmins();
    if (existing > 0) {
      throw new DomainException(ApiErrorCode.Conflict, `${existing} active ops-admin key(s) exist already; issue more through POST /v1/api-keys`);
    }
    return this.issuer.issue({ name, role: Role.OpsAdmin, providerId: null, createdBy: null });
  }
}
