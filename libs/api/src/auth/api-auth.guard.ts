import { Inject, Injectable, SetMetadata, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { DomainException } from '#contracts';
import { bearerToken, requestIds } from '#terminals';
import { ApiErrorCode } from '../common/api-error.js';
import { ApiKeyService } from './api-key.service.js';
import type { RequestContext } from './principal.js';
import { can, type Permission } from './roles.js';

export const PERMISSION_KEY = 'fleet:permission';
/** The permission an endpoint needs; checked against the caller's role. */
export const RequirePermission = (permission: Permission) => SetMetadata(PERMISSION_KEY, permission);

export type ApiRequest = FastifyRequest & { fleet?: RequestContext };

/**
 * The API key a request presents: `Authorization: Bearer <key>` (the scheme in any case, as RFC 9110
 * says) or `X-API-Key: <key>`.
 */
export function apiKeyFrom(headers: FastifyRequest['headers']): string | undefined {
  const bearer = bearerToken(headers.authorization);
  if (bearer) return bearer;
  const header = headers['x-api-key'];
  return typeof header === 'string' && header.trim() ? header.trim() : undefined;
}

/** Authenticates the API key (Authorization: Bearer or X-API-Key) and checks the endpoint's permission. */
@Injectable()
export class ApiAuthGuard implements CanActivate {
  constructor(
    @Inject(ApiKeyService) private readonly keys: ApiKeyService,
    @Inject(Reflector) private readonly reflector: Reflector,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<ApiRequest>();
    const token = apiKeyFrom(request.headers);
    const auth = token ? await this.keys.authenticate(token) : null;
    if (!auth) throw new DomainException(ApiErrorCode.Unauthenticated, 'missing or invalid API key');
    // request.id is the client's x-request-id when it sent a sane one; the server's own id stands beside it.
    request.fleet = { ...auth, ...requestIds(request) };
    const permission = this.reflector.get<Permission | undefined>(PERMISSION_KEY, context.getHandler());
    if (permission && !can(auth.principal.role, permission)) {
      throw new DomainException(ApiErrorCode.Forbidden, `role ${auth.principal.role} may not ${permission}`);
    }
    return true;
  }
}
