/** One field-level problem of a rejected request (`field` names the request part, e.g. `body.sn`). */
export interface FieldError {
  field: string;
  message: string;
}

/**
 * The one error base. Each feature declares its codes (ApiErrorCode, TerminalErrorCode,
 * DatabaseErrorCode) and throws `new DomainException(code, message)`; transports map codes to
 * their own statuses (the fleet API in one table), so the features stay framework-free.
 */
export class DomainException<Code extends string = string> extends Error {
  override readonly name = 'DomainException';
  constructor(
    readonly code: Code,
    message: string,
    readonly details?: FieldError[] | Record<string, unknown>[],
  ) {
    super(message);
  }
}
