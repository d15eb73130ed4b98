import type { Role } from './roles.js';

export interface Principal {
  keyId: string;
  name: string;
  role: Role;
  /** The provider a provider-role key is bound to; null for ops roles. */
  providerId: string | null;
}

/**
 * What the caller may see. Repositories take a Scope on every query: `fleet` means no restriction,
 * `subtree` restricts to providers whose path starts with `path`.
 */
export type Scope = { kind: 'fleet' } | { kind: 'subtree'; providerId: string; path: string };

export interface RequestContext {
  principal: Principal;
  scope: Scope;
  /** The request id the response carries: the client's own when it sent a sane one. */
  requestId: string;
  /** Minted by this server for every request, whatever the client sent (kept in the audit log). */
  serverRequestId?: string;
}
