import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import {
  BadRequestException,
  ForbiddenException,
  HttpException,
  InternalServerErrorException,
  Logger,
  MethodNotAllowedException,
  NotFoundException,
  PayloadTooLargeException,
  ServiceUnavailableException,
  UnauthorizedException,
} from '@nestjs/common';
import { DomainException } from '#contracts';
import { FakeReply, httpContext as httpHost } from '#testing/fake-http.js';
import { TerminalErrorCode } from '#terminals';
import type { ApiErrorBody } from './api-error.js';
import { ApiExceptionFilter } from './api-exception.filter.js';

const REQUEST_ID = 'req-7f3a';

describe('ApiExceptionFilter', () => {
  let filter: ApiExceptionFilter;
  let logError: jest.Spied<Logger['error']>;

  beforeEach(() => {
    filter = new ApiExceptionFilter();
    logError = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
  });

  afterEach(() => {
    logError.mockRestore();
  });

  function handle(exception: unknown): { status: number | null; body: ApiErrorBody; reply: FakeReply } {
    const reply = new FakeReply();
    filter.catch(exception, httpHost({ id: REQUEST_ID }, reply));
    expect(reply.sends).toBe(1);
    expect(reply.headers['content-type']).toBe('application/json; charset=utf-8');
    return { status: reply.statusCode, body: reply.body as ApiErrorBody, reply };
  }

  describe('framework HttpExceptions', () => {
    it.each<[string, number, string, string, HttpException]>([
      ['429', 429, 'RATE_LIMITED', 'rate limit exceeded for this API key', new HttpException('Too Many Requests', 429)],
      ['404 (no route)', 404, 'NOT_FOUND', 'route not found', new NotFoundException('Cannot GET /v1/nope')],
      ['401', 401, 'UNAUTHENTICATED', 'missing or invalid API key', new UnauthorizedException('jwt expired')],
      ['403', 403, 'FORBIDDEN', 'not allowed', new ForbiddenException('Forbidden resource')],
      ['413', 413, 'PAYLOAD_TOO_LARGE', 'request body too large', new PayloadTooLargeException()],
      ['400', 400, 'VALIDATION_FAILED', 'Body is not valid JSON', new BadRequestException('Body is not valid JSON')],
      ['405', 405, 'METHOD_NOT_ALLOWED', 'method not allowed on this route', new MethodNotAllowedException('nope')],
      ['414', 414, 'URI_TOO_LONG', 'request URI too long', new HttpException('URI Too Long', 414)],
      ['415', 415, 'UNSUPPORTED_MEDIA_TYPE', 'unsupported content type', new HttpException('Unsupported Media Type: text/xml', 415)],
      ['another 4xx', 400, 'VALIDATION_FAILED', 'I am a teapot', new HttpException('I am a teapot', 418)],
    ])('maps %s to %i %s "%s"', (_label, status, code, message, exception) => {
      const answer = handle(exception);
      expect(answer.status).toBe(status);
      expect(answer.body).toStrictEqual({ error: { code, message, requestId: REQUEST_ID } });
      expect(logError).not.toHaveBeenCalled();
    });

    it.each<[string, HttpException]>([
      ['500', new InternalServerErrorException('pool exhausted at db-1')],
      ['503', new ServiceUnavailableException('draining')],
    ])('maps a %s HttpException to 500 INTERNAL, hides its message and logs it', (_label, exception) => {
      const { status, body } = handle(exception);
      expect(status).toBe(500);
      expect(body).toStrictEqual({ error: { code: 'INTERNAL', message: 'internal error', requestId: REQUEST_ID } });
      expect(logError).toHaveBeenCalledTimes(1);
      expect(String(logError.mock.calls[0][0])).toContain(`request ${REQUEST_ID} failed`);
    });
  });

  describe('domain exceptions', () => {
    it('answers a public API code as it is, with its details', () => {
      const details = [{ field: 'body.code', message: 'lowercase letters' }];
      expect(handle(new DomainException('VALIDATION_FAILED', 'invalid request body', details))).toMatchObject({
        status: 400,
        body: { error: { code: 'VALIDATION_FAILED', message: 'invalid request body', details, requestId: REQUEST_ID } },
      });
    });

    it.each<[TerminalErrorCode, number, string]>([
      [TerminalErrorCode.NotFound, 404, 'NOT_FOUND'],
      [TerminalErrorCode.UnknownProvider, 404, 'NOT_FOUND'],
      [TerminalErrorCode.TidInUse, 409, 'CONFLICT'],
      [TerminalErrorCode.AlreadyExists, 409, 'CONFLICT'],
      [TerminalErrorCode.InvalidCsv, 400, 'VALIDATION_FAILED'],
      [TerminalErrorCode.InvalidSn, 400, 'VALIDATION_FAILED'],
    ])('answers the terminal code %s as %i %s, keeping the message', (code, status, apiCode) => {
      const { status: actual, body } = handle(new DomainException(code, `terminal problem ${code}`));
      expect(actual).toBe(status);
      expect(body).toStrictEqual({ error: { code: apiCode, message: `terminal problem ${code}`, requestId: REQUEST_ID } });
      expect(logError).not.toHaveBeenCalled();
    });

    it('hides a domain code with no public mapping behind 500 INTERNAL and logs it', () => {
      const { status, body } = handle(new DomainException('DB_QUERY_FAILED', 'relation "terminals" does not exist'));
      expect(status).toBe(500);
      expect(body).toStrictEqual({ error: { code: 'INTERNAL', message: 'internal error', requestId: REQUEST_ID } });
      expect(logError).toHaveBeenCalledTimes(1);
    });
  });

  describe('Fastify errors', () => {
    it('answers FST_ERR_CTP_INVALID_MEDIA_TYPE with 415 UNSUPPORTED_MEDIA_TYPE "unsupported content type"', () => {
      const err = Object.assign(new Error('Unsupported Media Type: application/xml'), { code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE', statusCode: 415 });
      expect(handle(err)).toMatchObject({
        status: 415,
        body: { error: { code: 'UNSUPPORTED_MEDIA_TYPE', message: 'unsupported content type', requestId: REQUEST_ID } },
      });
    });

    it('answers FST_ERR_CTP_BODY_TOO_LARGE with 413 PAYLOAD_TOO_LARGE', () => {
      const err = Object.assign(new Error('Request body is too large'), { code: 'FST_ERR_CTP_BODY_TOO_LARGE', statusCode: 413 });
      expect(handle(err)).toMatchObject({ status: 413, body: { error: { code: 'PAYLOAD_TOO_LARGE', requestId: REQUEST_ID } } });
    });

    it('keeps the field details of a framework 400 (operator validation pipe)', () => {
      const details = [{ field: 'terminals', message: 'Required' }];
      const err = new BadRequestException({ code: 'VALIDATION_FAILED', message: 'request body is invalid', details });
      expect(handle(err)).toMatchObject({ status: 400, body: { error: { code: 'VALIDATION_FAILED', message: 'request body is invalid', details } } });
    });

    it('answers another Fastify 400 error (e.g. bad JSON) with its message', () => {
      const err = Object.assign(new SyntaxError('Unexpected token } in JSON at position 9'), { code: 'FST_ERR_CTP_INVALID_JSON_BODY', statusCode: 400 });
      expect(handle(err)).toMatchObject({ status: 400, body: { error: { code: 'VALIDATION_FAILED', message: 'Unexpected token } in JSON at position 9' } } });
    });

    it('answers a non-Error object with statusCode 400 with "bad request"', () => {
      expect(handle({ statusCode: 400 })).toMatchObject({ status: 400, body: { error: { code: 'VALIDATION_FAILED', message: 'bad request' } } });
    });
  });

  describe('unknown errors', () => {
    it.each<[string, unknown]>([
      ['an Error', new TypeError("Cannot read properties of undefined (reading 'path')")],
      ['a thrown string', 'boom'],
      ['null', null],
      ['undefined', undefined],
      ['an object with a 5xx statusCode', { statusCode: 502, message: 'upstream' }],
    ])('answers %s with 500 INTERNAL "internal error", the request id in the body, and logs it', (_label, exception) => {
      const { status, body } = handle(exception);
      expect(status).toBe(500);
      expect(body).toStrictEqual({ error: { code: 'INTERNAL', message: 'internal error', requestId: REQUEST_ID } });
      expect(logError).toHaveBeenCalledTimes(1);
    });

    it('logs the stack of an unknown Error (never sent to the client)', () => {
      const err = new Error('secret internals');
      const { body } = handle(err);
      expect(JSON.stringify(body)).not.toContain('secret internals');
      expect(String(logError.mock.calls[0][0])).toContain(err.stack ?? 'missing stack');
    });
  });

  it('sends nothing when the reply was already sent, but still logs a server error', () => {
    const reply = new FakeReply();
    reply.sent = true;
    filter.catch(new Error('late failure'), httpHost({ id: REQUEST_ID }, reply));
    expect(reply.sends).toBe(0);
    expect(reply.statusCode).toBeNull();
    expect(reply.headers).toStrictEqual({});
    expect(logError).toHaveBeenCalledTimes(1);
  });
});
