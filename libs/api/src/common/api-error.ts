import { DomainException, type FieldError } from '#contracts';
import { TerminalErrorCode } from '#terminals';

/** The codes clients see: the API's own errors, and every other domain error answered as one of them. */
export const ApiErrorCode = {
  ValidationFailed: 'VALIDATION_FAILED',
  Unauthenticated: 'UNAUTHENTICATED',
  Forbidden: 'FORBIDDEN',
  NotFound: 'NOT_FOUND',
  MethodNotAllowed: 'METHOD_NOT_ALLOWED',
  Conflict: 'CONFLICT',
  PayloadTooLarge: 'PAYLOAD_TOO_LARGE',
  UriTooLong: 'URI_TOO_LONG',
  UnsupportedMediaType: 'UNSUPPORTED_MEDIA_TYPE',
  RateLimited: 'RATE_LIMITED',
  Internal: 'INTERNAL',
} as const;
export type ApiErrorCode = (typeof ApiErrorCode)[keyof typeof ApiErrorCode];

/**
 * The one map from domain error codes to HTTP statuses. Codes not listed (e.g. DatabaseErrorCode)
 * are internal errors: 500, logged, never shown.
 */
const HTTP_STATUS: Record<ApiErrorCode | TerminalErrorCode, number> = {
  [ApiErrorCode.ValidationFailed]: 400,
  [ApiErrorCode.Unauthenticated]: 401,
  [ApiErrorCode.Forbidden]: 403,
  [ApiErrorCode.NotFound]: 404,
  [ApiErrorCode.MethodNotAllowed]: 405,
  [ApiErrorCode.Conflict]: 409,
  [ApiErrorCode.PayloadTooLarge]: 413,
  [ApiErrorCode.UriTooLong]: 414,
  [ApiErrorCode.UnsupportedMediaType]: 415,
  [ApiErrorCode.RateLimited]: 429,
  [ApiErrorCode.Internal]: 500,
  [TerminalErrorCode.InvalidSn]: 400,
  [TerminalErrorCode.InvalidTid]: 400,
  [TerminalErrorCode.InvalidField]: 400,
  [TerminalErrorCode.DuplicateInRequest]: 400,
  [TerminalErrorCode.InvalidCsv]: 400,
  [TerminalErrorCode.NotFound]: 404,
  [TerminalErrorCode.UnknownProvider]: 404,
  [TerminalErrorCode.AlreadyExists]: 409,
  [TerminalErrorCode.TidInUse]: 409,
};

/** A feature's code goes on the wire as the API code of its status. */
const CODE_BY_STATUS = new Map(Object.values(ApiErrorCode).map((code) => [HTTP_STATUS[code], code]));

/** The one error body: `{ "error": { code, message, details?, requestId } }`. */
export interface ApiErrorBody {
  error: { code: ApiErrorCode; message: string; details?: FieldError[] | Record<string, unknown>[]; requestId: string };
}

/** The status and body of a domain error; internal errors keep their message out of the response. */
export function toApiError(error: DomainException, requestId: string): { status: number; body: ApiErrorBody } {
  const status = (HTTP_STATUS as Partial<Record<string, number>>)[error.code] ?? 500;
  const code = CODE_BY_STATUS.get(status) ?? ApiErrorCode.Internal;
  if (code === ApiErrorCode.Internal) return { status: 500, body: { error: { code, message: 'internal error', requestId } } };
  const body: ApiErrorBody = { error: { code, message: error.message, requestId } };
  if (error.details) body.error.details = error.details;
  return { status, body };
}

export function notFound(what: string): DomainException<ApiErrorCode> {
  return new DomainException(ApiErrorCode.NotFound, `${what} not found`);
}
