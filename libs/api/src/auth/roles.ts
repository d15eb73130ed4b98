export const Role = {
  OpsAdmin: 'ops-admin',
  OpsViewer: 'ops-viewer',
  ProviderAdmin: 'provider-admin',
  ProviderViewer: 'provider-viewer',
} as const;
export type Role = (typeof Role)[keyof typeof Role];
export const ROLES = Object.values(Role);

export const Permission = {
  ProvidersRead: 'providers:read',
  ProvidersWrite: 'providers:write',
  TerminalsRead: 'terminals:read',
  TerminalsWrite: 'terminals:write',
  /** Move terminals between providers of the caller's scope. */
  TerminalsMove: 'terminals:move',
  KeysManage: 'keys:manage',
  AuditRead: 'audit:read',
  /** Fleet-wide data with no provider scope: ops roles only. */
  DeadLettersRead: 'dead-letters:read',
} as const;
export type Permission = (typeof Permission)[keyof typeof Permission];

/**
 * The permission matrix (documented in docs/api.md). Ops roles act on the whole fleet, provider
 * roles on their own provider's subtree; the scope is applied by every repository query.
 */
export const PERMISSIONS: Record<Role, ReadonlySet<Permission>> = {
  'ops-admin': new Set(Object.values(Permission)),
  'ops-viewer': new Set([Permission.ProvidersRead, Permission.TerminalsRead, Permission.DeadLettersRead]),
  'provider-admin': new Set(Object.values(Permission).filter((p) => p !== Permission.DeadLettersRead)),
  'provider-viewer': new Set([Permission.ProvidersRead, Permission.TerminalsRead]),
};

export function isProviderRole(role: Role): boolean {
  return role === Role.ProviderAdmin || role === Role.ProviderViewer;
}

export function can(role: Role, permission: Permission): boolean {
  return PERMISSIONS[role].has(permission);
}
