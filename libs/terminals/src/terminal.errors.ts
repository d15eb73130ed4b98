/** Codes of the terminal registry's errors: thrown as DomainException, reported per row as RowError.code. */
export const TerminalErrorCode = {
  InvalidSn: 'TERMINAL_INVALID_SN',
  InvalidTid: 'TERMINAL_INVALID_TID',
  InvalidField: 'TERMINAL_INVALID_FIELD',
  DuplicateInRequest: 'TERMINAL_DUPLICATE_IN_REQUEST',
  AlreadyExists: 'TERMINAL_ALREADY_EXISTS',
  TidInUse: 'TERMINAL_TID_IN_USE',
  UnknownProvider: 'TERMINAL_UNKNOWN_PROVIDER',
  NotFound: 'TERMINAL_NOT_FOUND',
  InvalidCsv: 'TERMINAL_INVALID_CSV',
} as const;
export type TerminalErrorCode = (typeof TerminalErrorCode)[keyof typeof TerminalErrorCode];
