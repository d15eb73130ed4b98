import type { Scope } from '../auth/principal.js';

/** The path prefix a scoped query binds (`path LIKE $n || '%'`), or null for the whole fleet. */
export function scopePath(scope: Scope): string | null {
  return scope.kind === 'subtree' ? scope.path : null;
}

export function pathInScope(scope: Scope, path: string): boolean {
  return scope.kind === 'fleet' || path.startsWith(scope.path);
}
