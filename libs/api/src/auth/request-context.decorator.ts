import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { DomainException } from '#contracts';
import { ApiErrorCode } from '../common/api-error.js';
import type { ApiRequest } from './api-auth.guard.js';
import type { RequestContext } from './principal.js';

/** The authenticated caller, their scope and the request id. */
export const Ctx = createParamDecorator((_data: unknown, context: ExecutionContext): RequestContext => {
  const request = context.switchToHttp().getRequest<ApiRequest>();
  if (!request.fleet) throw new DomainException(ApiErrorCode.Unauthenticated, 'missing or invalid API key');
  return request.fleet;
});
