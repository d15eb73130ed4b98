import { Catch, HttpException, Logger, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { DomainException, type FieldError } from '#contracts';
import { ApiErrorCode, toApiError } from './api-error.js';

/** The API code and a fixed message for each client-error status the framework or Fastify raises. */
const BY_STATUS: Record<number, [ApiErrorCode, string]> = {
  401: [ApiErrorCode.Unauthenticated, 'missing or invalid API key'],
  403: [ApiErrorCode.Forbidden, 'not allowed'],
  404: [ApiErrorCode.NotFound, 'route not found'],
  405: [ApiErrorCode.MethodNotAllowed, 'method not allowed on this route'],
  413: [ApiErrorCode.PayloadTooLarge, 'request body too large'],
  414: [ApiErrorCode.UriTooLong, 'request URI too long'],
  415: [ApiErrorCode.UnsupportedMediaType, 'unsupported content type'],
  429: [ApiErrorCode.RateLimited, 'rate limit exceeded for this API key'],
};

/** A 400's own message and field details (e.g. an operator endpoint's validation pipe), when it has them. */
function badRequest(message: string, response: unknown): DomainException<ApiErrorCode> {
  const details = (response as { details?: unknown } | null)?.details;
  return new DomainException(ApiErrorCode.ValidationFailed, message, Array.isArray(details) ? (details as FieldError[]) : undefined);
}

function fromStatus(status: number, message: string, response?: unknown): DomainException<ApiErrorCode> {
  const known = BY_STATUS[status];
  if (known) return new DomainException(known[0], known[1]);
  if (status >= 400 && status < 500) return badRequest(message, response);
  return new DomainException(ApiErrorCode.Internal, 'internal error');
}

/**
 * Domain errors as they are; framework errors (Nest's HttpExceptions, Fastify's FST_ERR_* with a
 * statusCode: bad JSON, empty JSON body, too large, unsupported media type) as the API code of their status.
 */
function toDomainException(exception: unknown): DomainException {
  if (exception instanceof DomainException) return exception as DomainException<string>;
  if (exception instanceof HttpException) return fromStatus(exception.getStatus(), exception.message, exception.getResponse());
  const statusCode = (exception as { statusCode?: unknown } | null)?.statusCode;
  if (typeof statusCode === 'number') return fromStatus(statusCode, exception instanceof Error ? exception.message : 'bad request');
  return new DomainException(ApiErrorCode.Internal, 'internal error');
}

/**
 * Maps every error under the HTTP server to the one error body: registered globally by the app
 * factory, so route misses, body parsing and guards outside /v1 answer in the same shape.
 */
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
