import { describe, expect, it } from '@jest/globals';
import { DomainException } from '#contracts';
import { TerminalErrorCode } from '#terminals';
import { ApiErrorCode, notFound, toApiError } from './api-error.js';

const RID = 'req-0001';

describe('toApiError', () => {
  it.each<[ApiErrorCode, number]>([
    [ApiErrorCode.ValidationFailed, 400],
    [ApiErrorCode.Unauthenticated, 401],
    [ApiErrorCode.Forbidden, 403],
    [ApiErrorCode.NotFound, 404],
    [ApiErrorCode.Conflict, 409],
    [ApiErrorCode.RateLimited, 429],
  ])('answers %s with HTTP %i, its own code, message and the request id', (code, status) => {
    expect(toApiError(new DomainException(code, 'what happened'), RID)).toStrictEqual({
      status,
      body: { error: { code, message: 'what happened', requestId: RID } },
    });
  });

  it('has exactly the documented public codes', () => {
    expect(Object.values(ApiErrorCode).sort()).toStrictEqual([
      'CONFLICT',
      'FORBIDDEN',
      'INTERNAL',
      'METHOD_NOT_ALLOWED',
      'NOT_FOUND',
      'PAYLOAD_TOO_LARGE',
      'RATE_LIMITED',
      'UNAUTHENTICATED',
      'UNSUPPORTED_MEDIA_TYPE',
      'URI_TOO_LONG',
      'VALIDATION_FAILED',
    ]);
  });

  /** Every terminal code must be listed here: a new one fails this table until it is mapped. */
  const TERMINAL: Record<TerminalErrorCode, [number, ApiErrorCode]> = {
    [TerminalErrorCode.InvalidSn]: [400, 'VALIDATION_FAILED'],
    [TerminalErrorCode.InvalidTid]: [400, 'VALIDATION_FAILED'],
    [TerminalErrorCode.InvalidField]: [400, 'VALIDATION_FAILED'],
    [TerminalErrorCode.DuplicateInRequest]: [400, 'VALIDATION_FAILED'],
    [TerminalErrorCode.InvalidCsv]: [400, 'VALIDATION_FAILED'],
    [TerminalErrorCode.NotFound]: [404, 'NOT_FOUND'],
    [TerminalErrorCode.UnknownProvider]: [404, 'NOT_FOUND'],
    [TerminalErrorCode.AlreadyExists]: [409, 'CONFLICT'],
    [TerminalErrorCode.TidInUse]: [409, 'CONFLICT'],
  };

  it.each(Object.entries(TERMINAL).map(([code, [status, apiCode]]) => [code, status, apiCode] as const))(
    'answers the terminal code %s with HTTP %i %s',
    (code, status, apiCode) => {
      const { status: actual, body } = toApiError(new DomainException(code, `terminal says ${code}`), RID);
      expect(actual).toBe(status);
      expect(body).toStrictEqual({ error: { code: apiCode, message: `terminal says ${code}`, requestId: RID } });
    },
  );

  it('passes field details through', () => {
    const details = [
      { field: 'body.sn', message: 'must be 6-32 characters' },
      { field: 'body.tid', message: 'must be 8 digits' },
    ];
    expect(toApiError(new DomainException(ApiErrorCode.ValidationFailed, 'invalid request body', details), RID).body.error.details).toStrictEqual(details);
    const rowErrors = [{ row: 3, code: 'TERMINAL_TID_IN_USE' }];
    expect(toApiError(new DomainException(TerminalErrorCode.TidInUse, 'tid in use', rowErrors), RID).body.error.details).toStrictEqual(rowErrors);
  });

  it.each([
    ['an unmapped domain code', 'DB_UNAVAILABLE'],
    ['a made-up code', 'SOMETHING_ELSE'],
    ['the internal code itself', ApiErrorCode.Internal],
    ['a lowercase variant of a public code', 'not_found'],
  ])('hides %s behind 500 INTERNAL "internal error", message and details dropped', (_label, code) => {
    const error = new DomainException(code, 'connection to 10.0.0.5:5432 refused (password=hunter2)', [{ field: 'secret', message: 'x' }]);
    expect(toApiError(error, RID)).toStrictEqual({ status: 500, body: { error: { code: 'INTERNAL', message: 'internal error', requestId: RID } } });
  });

  it('notFound() builds a NOT_FOUND DomainException that answers 404', () => {
    const error = notFound('provider abc');
    expect(error).toBeInstanceOf(DomainException);
    expect(error.code).toBe('NOT_FOUND');
    expect(error.message).toBe('provider abc not found');
    expect(toApiError(error, RID).status).toBe(404);
  });
});
