import { Catch, HttpException, Logger, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { DomainException } from '#contracts';
import { ApiErrorCode, toApiError } from './api-error.js';

function fromHttp(err: HttpException): DomainException<ApiErrorCode> {
  const status = err.getStatus();
  if (status === 429) return new DomainException(ApiErrorCode.RateLimited, 'rate limit exceeded for this API key');
  if (status === 404) return new DomainException(ApiErrorCode.NotFound, 'route not found');
  if (status === 401) return new DomainException(ApiErrorCode.Unauthenticated, 'missing or invalid API key');
  if (status === 403) return new DomainException(ApiErrorCode.Forbidden, 'not allowed');
  if (status === 413) return new DomainException(ApiErrorCode.ValidationFailed, 'request body too large');
  if (status >= 400 && status < 500) return new DomainException(ApiErrorCode.ValidationFailed, err.message);
  return new DomainException(ApiErrorCode.Internal, 'internal error');
}

/** Domain errors as they are; framework and Fastify errors as the API code they stand for. */
function toDomainException(exception: unknown): DomainException {
  if (exception instanceof DomainException) return exception as DomainException<string>;
  if (exception instanceof HttpException) return fromHttp(exception);
  if ((exception as { code?: string } | null)?.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    return new DomainException(ApiErrorCode.ValidationFailed, 'unsupported content type');
  }
  if ((exception as { statusCode?: number } | null)?.statusCode === 400) {
    return new DomainException(ApiErrorCode.ValidationFailed, exception instanceof Error ? exception.message : 'bad request');
  }
  return new DomainException(ApiErrorCode.Internal, 'internal error');
}

/** Maps every error thrown under /v1 to the one error body. */
@Catch()
export class ApiExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('Api');

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();
    const { status, body } = toApiError(toDomainException(exception), String(request.id));
    if (status >= 500) {
      this.logger.error(`request ${request.id} failed: ${exception instanceof Error ? (exception.stack ?? exception.message) : String(exception)}`);
    }
    if (reply.sent) return;
    void reply.status(status).header('content-type', 'application/json; charset=utf-8').send(body);
  }
}
