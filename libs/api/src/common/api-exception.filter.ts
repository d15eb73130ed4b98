import { Catch, HttpException, Logger, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { TerminalErrorCode, TerminalException } from '#terminals';
import { ApiErrorCode, ApiException, type ApiErrorBody } from './api-error.js';

const TERMINAL_CODES: Partial<Record<TerminalErrorCode, ApiErrorCode>> = {
  TERMINAL_NOT_FOUND: ApiErrorCode.NotFound,
  TERMINAL_UNKNOWN_PROVIDER: ApiErrorCode.NotFound,
  TERMINAL_ALREADY_EXISTS: ApiErrorCode.Conflict,
  TERMINAL_TID_IN_USE: ApiErrorCode.Conflict,
  TERMINAL_DUPLICATE_IN_REQUEST: ApiErrorCode.ValidationFailed,
};

function fromHttp(err: HttpException): ApiException {
  const status = err.getStatus();
  if (status === 429) return new ApiException(ApiErrorCode.RateLimited, 'rate limit exceeded for this API key');
  if (status === 404) return new ApiException(ApiErrorCode.NotFound, 'route not found');
  if (status === 401) return new ApiException(ApiErrorCode.Unauthenticated, 'missing or invalid API key');
  if (status === 403) return new ApiException(ApiErrorCode.Forbidden, 'not allowed');
  if (status === 413) return new ApiException(ApiErrorCode.ValidationFailed, 'request body too large');
  if (status >= 400 && status < 500) return new ApiException(ApiErrorCode.ValidationFailed, err.message);
  return new ApiException(ApiErrorCode.Internal, 'internal error');
}

/** Maps every error thrown under /v1 to the one error body. */
@Catch()
export class ApiExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('Api');

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();
    let error: ApiException;
    if (exception instanceof ApiException) error = exception;
    else if (exception instanceof TerminalException) {
      error = new ApiException(TERMINAL_CODES[exception.code] ?? ApiErrorCode.ValidationFailed, exception.message);
    } else if (exception instanceof HttpException) error = fromHttp(exception);
    else if ((exception as { code?: string } | null)?.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      error = new ApiException(ApiErrorCode.ValidationFailed, 'unsupported content type');
    } else if ((exception as { statusCode?: number } | null)?.statusCode === 400) {
      error = new ApiException(ApiErrorCode.ValidationFailed, exception instanceof Error ? exception.message : 'bad request');
    } else {
      error = new ApiException(ApiErrorCode.Internal, 'internal error');
      this.logger.error(`request ${request.id} failed: ${exception instanceof Error ? (exception.stack ?? exception.message) : String(exception)}`);
    }
    const body: ApiErrorBody = { error: { code: error.code, message: error.message, requestId: String(request.id) } };
    if (error.details) body.error.details = error.details;
    if (reply.sent) return;
    void reply.status(error.status).header('content-type', 'application/json; charset=utf-8').send(body);
  }
}
