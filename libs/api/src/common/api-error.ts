/** Every error the API returns carries one of these codes. */
export const ApiErrorCode = {
  ValidationFailed: 'VALIDATION_FAILED',
  Unauthenticated: 'UNAUTHENTICATED',
  Forbidden: 'FORBIDDEN',
  NotFound: 'NOT_FOUND',
  Conflict: 'CONFLICT',
  RateLimited: 'RATE_LIMITED',
  Internal: 'INTERNAL',
} as const;
export type ApiErrorCode = (typeof ApiErrorCode)[keyof typeof ApiErrorCode];

const STATUS: Record<ApiErrorCode, number> = {
  VALIDATION_FAILED: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  RATE_LIMITED: 429,
  INTERNAL: 500,
};

export interface FieldError {
  field: string;
  message: string;
}

/** The one error body: `{ "error": { code, message, details?, requestId } }`. */
export interface ApiErrorBody {
  error: { code: ApiErrorCode; message: string; details?: FieldError[] | Record<string, unknown>[]; requestId: string };
}

export class ApiException extends Error {
  override readonly name = 'ApiException';
  readonly status: number;
  constructor(
    readonly code: ApiErrorCode,
    message: string,
    readonly details?: FieldError[] | Record<string, unknown>[],
  ) {
    super(message);
    this.status = STATUS[code];
  }

  static notFound(what: string): ApiException {
    return new ApiException(ApiErrorCode.NotFound, `${what} not found`);
  }
}
