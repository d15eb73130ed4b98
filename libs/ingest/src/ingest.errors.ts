import type { RejectReason } from '#contracts';

/** Rejections that happen after parsing: the storage layer refused the row. */
export const StorageRejectReason = 'storage_rejected' as const;
export type IngestRejectReason = RejectReason | typeof StorageRejectReason;

/** Postgres SQLSTATE classes caused by the data itself: retrying the same rows never helps. */
export function isDataError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('22') || code.startsWith('23'));
}
