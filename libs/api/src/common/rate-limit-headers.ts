import type { FastifyReply } from 'fastify';
import type { RateLimiterRes } from 'rate-limiter-flexible';

/**
 * RateLimit-* headers (IETF RateLimit header draft) for one limiter decision, plus Retry-After when
 * the request was refused. Shared by the per-key guard and the per-address limit at the HTTP edge.
 */
export function setRateLimitHeaders(reply: FastifyReply, limit: number, res: RateLimiterRes, refused: boolean): void {
  const resetS = Math.ceil(res.msBeforeNext / 1000);
  void reply.header('ratelimit-limit', limit);
  void reply.header('ratelimit-remaining', Math.max(0, res.remainingPoints));
  void reply.header('ratelimit-reset', Math.max(0, resetS));
  if (refused) void reply.header('retry-after', Math.max(1, resetS));
}
