/** Codes of the database layer's errors (thrown as DomainException). */
export const DatabaseErrorCode = {
  TimescaleRequired: 'DB_TIMESCALE_REQUIRED',
  MigrationFailed: 'DB_MIGRATION_FAILED',
  MigrationChecksumMismatch: 'DB_MIGRATION_CHECKSUM_MISMATCH',
} as const;
export type DatabaseErrorCode = (typeof DatabaseErrorCode)[keyof typeof DatabaseErrorCode];
