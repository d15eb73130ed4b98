import { Injectable, UseGuards, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { DomainException } from '#contracts';
import type { ApiRequest } from '../auth/api-auth.guard.js';
import { Role } from '../auth/roles.js';
import { ApiErrorCode } from '../common/api-error.js';

/**
 * Fleet-wide settings (version policies) change only with an ops-admin key. Runs after the class's
 * ApiAuthGuard (method guards follow class guards) and before any pipe, so the body of a refused
 * request is never validated: 403 before 400, as for every other permission.
 */
@Injectable()
export class OpsAdminGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const role = context.switchToHttp().getRequest<ApiRequest>().fleet?.principal.role;
    if (role !== Role.OpsAdmin) throw new DomainException(ApiErrorCode.Forbidden, `role ${role ?? 'none'} may not change fleet-wide settings`);
    return true;
  }
}

export const RequireOpsAdmin = (): MethodDecorator & ClassDecorator => UseGuards(OpsAdminGuard);
