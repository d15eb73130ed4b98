import { Inject, Injectable } from '@nestjs/common';
import { DomainException } from '#contracts';
import { ApiErrorCode } from '../common/api-error.js';
import { ApiKeyService, type IssuedKey } from './api-key.service.js';

/** Creates the first ops-admin key of a fresh install; refuses once one exists. */
@Injectable()
export class BootstrapService {
  constructor(@Inject(ApiKeyService) private readonly issuer: ApiKeyService) {}

  async bootstrap(name: string): Promise<IssuedKey> {
    // Check and insert in one locked transaction: concurrent bootstraps cannot both succeed.
    const issued = await this.issuer.issueFirstOpsAdmin(name);
    if (typeof issued === 'number') {
      throw new DomainException(ApiErrorCode.Conflict, `${issued} active ops-admin key(s) exist already; issue more through POST /v1/api-keys`);
    }
    return issued;
  }
}
