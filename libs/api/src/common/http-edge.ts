import type { Socket } from 'node:net';
import { randomUUID } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import type { AppConfig } from '#config';
import { DomainException } from '#contracts';
import { AdminTokenGuard } from '#terminals';
import { apiKeyFrom } from '../auth/api-auth.guard.js';
import { ApiKeyService } from '../auth/api-key.service.js';
import { CSV_BODY_LIMIT } from '../terminals/csv-body-parser.js';
import { ApiErrorCode, toApiError } from './api-error.js';
import { ApiExceptionFilter } from './api-exception.filter.js';
import { setRateLimitHeaders } from './rate-limit-headers.js';

/** Default request body limit: a JSON API body is rarely over a few KiB. */
export const DEFAULT_BODY_LIMIT = 64 * 1024;
/** Operator enrolment (/internal, up to 10,000 terminals per call) and CSV import carry bulk bodies. */
const BULK_BODY_LIMIT = CSV_BODY_LIMIT;
const BULK_ROUTES = new Set(['POST /v1/terminals/import']);
export const MAX_URL_LENGTH = 8 * 1024;
export const MAX_JSON_DEPTH = 32;
const WINDOW_S = 60;

/** Paths that stay open without credentials and are never rate-limited (scrapes, probes, the API docs). */
const OPEN_PATH = /^\/(metrics|health\/|docs(\/|$))/;

/** FastifyAdapter options for the edge: small bodies, prototype poisoning refused, client errors in the one body. */
export const HTTP_EDGE_SERVER_OPTIONS = {
  bodyLimit: DEFAULT_BODY_LIMIT,
  onProtoPoisoning: 'error',
  onConstructorPoisoning: 'error',
  // Requests Node refuses before Fastify sees them (headers over 16 KiB, unparsable request line).
  clientErrorHandler: (err: Error & { code?: string }, socket: Socket) => {
    if (!socket.writable) return;
    const [status, code, message]: [number, ApiErrorCode, string] =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, ApiErrorCode.ValidationFailed, 'request headers too large']
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? [408, ApiErrorCode.ValidationFailed, 'request timeout']
          : [400, ApiErrorCode.ValidationFailed, 'malformed request'];
    const body = JSON.stringify({ error: { code, message, requestId: randomUUID() } });
    socket.end(
      `HTTP/1.1 ${status} ${status === 431 ? 'Request Header Fields Too Large' : status === 408 ? 'Request Timeout' : 'Bad Request'}\r\n` +
        `content-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  },
} as const;

/** Whether a JSON text nests objects/arrays deeper than `max` (scanned before parsing, strings skipped). */
export function jsonDepthExceeds(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}

function clientError(statusCode: number, message: string): Error & { statusCode: number } {
  return Object.assign(new Error(message), { statusCode });
}

/** Route patterns by method, to tell a wrong method (405) from an unknown path (404). */
class RouteTable {
  private readonly routes: { pattern: RegExp; method: string }[] = [];

  add(url: string, methods: string[]): void {
    const source = url
      .split('/')
      .map((seg) => (seg.startsWith(':') ? '[^/]+' : seg === '*' ? '.*' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
      .join('/');
    for (const method of methods) this.routes.push({ pattern: new RegExp(`^${source}$`), method });
  }

  methodsFor(path: string): string[] {
    return [...new Set(this.routes.filter((r) => r.pattern.test(path)).map((r) => r.method))].sort();
  }
}

const isUnder = (prefix: string, path: string): boolean => path === prefix || path.startsWith(`${prefix}/`);

function send(request: FastifyRequest, reply: FastifyReply, code: ApiErrorCode, message: string): FastifyReply {
  const { status, body } = toApiError(new DomainException(code, message), String(request.id));
  // Refused before its body was read: close rather than let Node drain (receive and discard) the body.
  const declaresBody = Number(request.headers['content-length'] ?? 0) > 0 || request.headers['transfer-encoding'] !== undefined;
  if (declaresBody) void reply.header('connection', 'close');
  return reply.status(status).header('content-type', 'application/json; charset=utf-8').send(body);
}

/** The provider, or undefined when the composition does not include its module. */
function optional<T>(app: INestApplication, token: new (...args: never[]) => T): T | undefined {
  // Through ModuleRef, not app.get: the app is a proxy that logs every exception it sees as an
  // error before rethrowing, and a composition without the API (the gateway) has no ApiKeyService.
  try {
    return app.get(ModuleRef).get(token, { strict: false });
  } catch {
    return undefined;
  }
}

/**
 * The HTTP edge, in front of every route of every composition:
 * - one error body everywhere (the API's filter, registered globally);
 * - /v1 and /internal authenticate in onRequest, before a body is read, so a client without a valid
 *   key or token costs a header check and never a parse;
 * - requests without valid credentials (and route misses) are rate-limited per client address;
 * - small bodies by default, a JSON nesting limit, prototype-polluting keys refused, long URIs refused;
 * - a known path with another method is a 405 with `Allow`.
 * Guards still check keys and permissions per route (API keys are cached, so this costs no query).
 */
export function installHttpEdge(app: INestApplication, config: AppConfig): void {
  app.useGlobalFilters(new ApiExceptionFilter());
  const fastify = app.getHttpAdapter().getInstance() as FastifyInstance;
  const apiKeys = optional(app, ApiKeyService);
  const adminToken = optional(app, AdminTokenGuard);
  const routes = new RouteTable();
  const limit = config.api.unauthenticatedRateLimitPerMinute;
  const limiter = new RateLimiterMemory({ points: limit, duration: WINDOW_S });

  fastify.addHook('onRoute', (route) => {
    const methods = [route.method].flat().map(String);
    routes.add(route.url, methods);
    const bulk = route.url.startsWith('/internal/') || methods.some((m) => BULK_ROUTES.has(`${m} ${route.url}`));
    route.bodyLimit ??= bulk ? BULK_BODY_LIMIT : DEFAULT_BODY_LIMIT;
  });

  const json = fastify.getDefaultJsonParser('error', 'error');
  // JSON (and CSV, where the API module adds it) only: other types are 415.
  fastify.removeContentTypeParser(['application/json', 'text/plain']);
  fastify.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (jsonDepthExceeds(text, MAX_JSON_DEPTH)) {
      done(clientError(400, `JSON nested deeper than ${MAX_JSON_DEPTH} levels`), undefined);
      return;
    }
    // The default parser calls done itself (its declared type also allows a promise).
    void json(request, text, done);
  });

  /** Counts one request without valid credentials against its address; answers 429 once over the limit. */
  const refuse = async (request: FastifyRequest, reply: FastifyReply, code: ApiErrorCode, message: string): Promise<FastifyReply> => {
    let res: RateLimiterRes;
    let limited = false;
    try {
      res = await limiter.consume(request.ip);
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) throw err;
      res = err;
      limited = true;
    }
    setRateLimitHeaders(reply, limit, res, limited);
    if (!limited) return send(request, reply, code, message);
    return send(request, reply, ApiErrorCode.RateLimited, 'too many requests without valid credentials from this address');
  };

  fastify.addHook('onRequest', async (request, reply) => {
    if (request.url.length > MAX_URL_LENGTH) return send(request, reply, ApiErrorCode.UriTooLong, `request URI longer than ${MAX_URL_LENGTH} bytes`);
    const path = request.url.split('?', 1)[0];
    // The matched route's pattern too, in case the router reached a route by a spelling of the path
    // (percent-encoding) that the prefix checks below do not see.
    const route = request.routeOptions.url ?? path;
    if (OPEN_PATH.test(path) && OPEN_PATH.test(route)) return;
    if (isUnder('/v1', path) || isUnder('/v1', route)) {
      const token = apiKeyFrom(request.headers);
      if (!token || !apiKeys || !(await apiKeys.authenticate(token))) {
        return refuse(request, reply, ApiErrorCode.Unauthenticated, 'missing or invalid API key');
      }
    } else if (isUnder('/internal', path) || isUnder('/internal', route)) {
      if (!adminToken?.accepts(request.headers.authorization)) {
        return refuse(request, reply, ApiErrorCode.Unauthenticated, 'missing or invalid admin bearer token');
      }
    }
    if (request.is404) {
      const allowed = routes.methodsFor(path);
      if (allowed.length) {
        void reply.header('allow', allowed.join(', '));
        return send(request, reply, ApiErrorCode.MethodNotAllowed, `${request.method} is not allowed here; allowed: ${allowed.join(', ')}`);
      }
      // Probing unknown paths without credentials counts like failed authentication.
      if (!path.startsWith('/v1/') && !path.startsWith('/internal/')) return refuse(request, reply, ApiErrorCode.NotFound, 'route not found');
    }
  });
}
