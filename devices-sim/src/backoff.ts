/**
 * Reconnect delays: exponential backoff with full jitter (AWS architecture blog, "Exponential Backoff And
 * Jitter"). The ceiling doubles per failed attempt up to a cap and the delay is uniform in [0, ceiling], so a
 * fleet that lost its broker at the same instant comes back spread over the whole window instead of in waves.
 */
export interface BackoffOptions {
  readonly baseMs: number;
  readonly capMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 1_000, capMs: 60_000 };

/** Upper bound of the delay before retry number `attempt` (0 = first retry). */
export function backoffCeilingMs(attempt: number, options: BackoffOptions = DEFAULT_BACKOFF): number {
  const exponent = Math.min(Math.max(0, Math.floor(attempt)), 30);
  return Math.min(options.capMs, options.baseMs * 2 ** exponent);
}

/**
 * Delay before retry number `attempt`, given a uniform random number in [0, 1).
 * Always within [0, backoffCeilingMs(attempt)].
 */
export function backoffDelayMs(attempt: number, random: number, options: BackoffOptions = DEFAULT_BACKOFF): number {
  const u = Math.min(Math.max(random, 0), 1);
  return Math.floor(u * backoffCeilingMs(attempt, options));
}
