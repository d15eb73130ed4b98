/** SQLSTATE of an error thrown by a query (TypeORM's QueryFailedError keeps the driver's error). */
function sqlState(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { code?: unknown; driverError?: { code?: unknown } };
  const code = e.driverError?.code ?? e.code;
  return typeof code === 'string' ? code : undefined;
}

/** A row referenced something that was deleted meanwhile (e.g. a provider deleted during a move into it). */
export function isForeignKeyViolation(err: unknown): boolean {
  return sqlState(err) === '23503';
}

/** The database aborted the transaction to break a deadlock or a serialization conflict: retrying is safe. */
export function isRetryableConflict(err: unknown): boolean {
  const state = sqlState(err);
  return state === '40P01' || state === '40001';
}
